"""The objective's two encodings of the lexicographic order: row keys and integer flow costs."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain.objective import RowSteps, goal_units, lexicographic_costs


def test_goal_units_are_exact_fractions_and_coarsen_only_past_the_cap():
    units, q = goal_units(np.array([0, 1, 2, 1, 3]), np.array([1, 2, 3, 0, 3]))
    assert q == 6 and units.tolist() == [0, 3, 4, 0, 6]
    units, q = goal_units(np.array([1, 1]), np.array([7, 9]), most=60)  # lcm 63 > 60: rounded sixtieths
    assert q == 60 and units.tolist() == [9, 7]


def test_row_steps_put_each_level_above_everything_below():
    steps = RowSteps.stacked(("goal_fit", "diverse_perspective"), max_goals=3)
    # One more goal (1/3 of fit) outweighs diversity and the whole score; diversity outweighs the score.
    assert steps.goal / 3 > steps.diverse + 1 and steps.diverse > 1 and steps.span == steps.goal + steps.diverse + 1
    flipped = RowSteps.stacked(("diverse_perspective", "goal_fit"), max_goals=3)
    assert flipped.diverse > flipped.goal + 1
    assert RowSteps.stacked((), max_goals=3) == RowSteps(0.0, 0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_cheapest_choice_is_the_lexicographic_best(data):
    # Choose `pairs` of n arcs (no graph constraints): the cheapest choice by the integer costs has
    # the best level totals, in order, and then (up to the tie-breaker's rounding) the best score.
    n = data.draw(st.integers(2, 7))
    pairs = data.draw(st.integers(1, n))
    goal = np.array(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)))
    met = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    score = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    levels = [(6 - goal, 6, n), ((~met).astype(np.int64), 1, n)]
    costs = lexicographic_costs(levels, score, np.zeros(n), np.zeros(0, np.int64), spread=0.0, pairs=pairs,
                                nodes=2 * n + 2)
    choices = list(itertools.combinations(range(n), pairs))
    cheapest = min(choices, key=lambda c: int(costs.pair[list(c)].sum()))
    best = max((int(goal[list(c)].sum()), int(met[list(c)].sum())) for c in choices)
    assert (int(goal[list(cheapest)].sum()), int(met[list(cheapest)].sum())) == best
    top = max(score[list(c)].sum() for c in choices
              if (int(goal[list(c)].sum()), int(met[list(c)].sum())) == best)
    assert score[list(cheapest)].sum() >= top - pairs / costs.tie_break_units
