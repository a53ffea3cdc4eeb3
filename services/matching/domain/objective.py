"""The matching objective, in order: coverage, then goal fit, then a diverse perspective, then the
weighted score (with load spread in the cohort round) as tie-breaker.

Lexicographic means a higher criterion is never traded for any amount of a lower one. Two places
encode that order and both are built here:

* Row keys (float32, candidate lists and on-demand ranking): each priority level is added as a
  multiple of a step larger than everything below it can span, so for one mentee sorting by the key
  is sorting by (goal fit, diverse perspective met, score).
* Flow costs (int64, the cohort round's min-cost flow): a level's scale exceeds the largest total
  all lower levels can reach over a whole assignment, so the flow's optimum is the lexicographic
  optimum of the levels (exactly: goal fit is counted in whole units of 1/Q, Q the least common
  multiple of the mentees' goal counts). Only the tie-breaker is rounded, to the finest resolution
  that fits int64 with OR-Tools' headroom.

A diverse perspective is "met" when a mentee asked for one and the mentor is from another region or
another sector (the perspective score component, a finer tie-breaker, also counts the country).
The level counts matched mentees who asked and did not get one, and the round makes that number as
small as it can. Counting those who did get one instead would also decide *who* is matched: with
places short, asking for a diverse perspective would buy a place (an incentive to ask). This way a
mentee who asked and is served weighs the same as one who did not ask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

GOAL_FIT = "goal_fit"
DIVERSE = "diverse_perspective"
PRIORITIES = (GOAL_FIT, DIVERSE)  # the default order, highest first
# Goal fit is counted exactly in units of 1/lcm(goal counts) up to this many units (every count up
# to 10 goals); beyond it, in rounded units of 1/MAX_GOAL_UNITS. Very large pools may need coarser
# units to fit int64 (`GOAL_UNIT_FALLBACKS`, tried in order).
MAX_GOAL_UNITS = 2520
GOAL_UNIT_FALLBACKS = (MAX_GOAL_UNITS, 420, 60, 12)
# OR-Tools refuses cost magnitudes near 2**63 / (2.4 x nodes) (measured) and, on some graphs, less;
# the round starts below this and halves the tie-breaker resolution if the solver still refuses.
COST_HEADROOM = 2**60
FINEST_TIE_BREAK = 2**17  # tie-breaker units per 1.0 of score when int64 has room (about 1e-5)


def diverse_met(wants_diverse, other_region, other_sector):
    """Did a mentee who asked for a diverse perspective get a mentor from another region or sector?"""
    return np.asarray(wants_diverse, dtype=bool) & (np.asarray(other_region, dtype=bool)
                                                   | np.asarray(other_sector, dtype=bool))


# --- row keys ---


@dataclass(frozen=True)
class RowSteps:
    """What each priority level adds to a row key: `goal` per 1.0 of goal fit, `diverse` when met.

    `span` bounds every key (used by the top-k searches to know when they have seen everything).
    """

    goal: float
    diverse: float
    span: float

    @classmethod
    def stacked(cls, priorities: Sequence[str], max_goals: int) -> RowSteps:
        """Levels stacked from the lowest: a step exceeds the span below it, so no lower level can
        reorder a higher one. Goal fit moves in steps of 1/n for a mentee with n goals, so its step
        per whole 1.0 of fit is n times larger (n up to `max_goals`)."""
        steps = {GOAL_FIT: 0.0, DIVERSE: 0.0}
        below = 1.0  # the weighted score lies in [0, 1]
        for level in reversed(priorities):
            unit = below + 1.0
            if level == GOAL_FIT:
                steps[level] = unit * max(1, max_goals)
                below += steps[level]
            else:
                steps[level] = unit
                below += unit
        return cls(steps[GOAL_FIT], steps[DIVERSE], below)


# --- flow costs ---


@dataclass(frozen=True)
class FlowCosts:
    pair: np.ndarray  # int64 per pair arc
    unit: np.ndarray  # int64 per mentor place (the load-spread cost)
    tie_break_units: int  # tie-breaker resolution: units per 1.0 of score
    goal_units: int = 0  # goal fit resolution: units per 1.0 of goal fit (0: not a priority)
    tie: np.ndarray | None = None  # the tie-breaker's part of `pair`
    shortfalls: tuple[np.ndarray, ...] = ()  # per priority level, highest first: its shortfall per pair arc


def goal_units(covered: np.ndarray, n_goals: np.ndarray, most: int = MAX_GOAL_UNITS) -> tuple[np.ndarray, int]:
    """Goal fit per arc as an integer count of 1/Q, and Q: exact when lcm(goal counts) <= `most`."""
    counts = sorted(set(np.unique(n_goals[n_goals > 0]).tolist()))
    q = reduce(math.lcm, counts, 1)
    n = np.maximum(n_goals.astype(np.int64), 1)
    if q <= most:
        units = covered.astype(np.int64) * (q // n)
    else:
        q = most
        units = np.rint(covered.astype(np.float64) * q / n).astype(np.int64)
    return np.where(n_goals > 0, units, 0), q


def lexicographic_costs(levels: Sequence[tuple[np.ndarray, int, int]], score: np.ndarray, jitter: np.ndarray,
                        place_rank: np.ndarray, *, spread: float, pairs: int, nodes: int,
                        finest: int = FINEST_TIE_BREAK) -> FlowCosts:
    """Integer arc costs whose total orders assignments by the levels, highest first.

    `levels`: per level, highest first, (shortfall per arc in 0..r, r, at most how many pairs can
    have a shortfall); `score`: the tie-breaker in [0, 1] per arc; `jitter`: a fixed pseudo-random
    value in [0, 1) per arc, worth under max(1/1024 of score, one tie-breaker unit), because exact
    ties slow cost scaling down; `place_rank`: per mentor place, the mentor's load before it (each
    costs `spread` of score);
    `pairs`: the most pairs in which two compared assignments differ (the matching's size orders
    every assignment; a smaller bound orders the exchanges of up to that many pairs, with smaller
    costs); `nodes`: the flow network's; `finest`: the finest tie-breaker resolution to try (units
    per 1.0 of score).
    """
    limit = COST_HEADROOM // (nodes + 1)
    top_rank = int(place_rank.max(initial=0))
    units = finest
    while True:
        jitter_units = max(2, units // 1024)  # at least 0 or 1 unit: exact ties slow cost scaling
        tie_span = units + jitter_units + math.ceil(spread * units * top_rank) + 1  # one pair's, at most
        scales, below = [], pairs * tie_span  # below: the largest total all lower levels can reach
        for _, r, reach in reversed(levels):
            scales.append(below + 1)
            below += (below + 1) * r * min(pairs, reach)
        scales.reverse()
        biggest = sum(scale * r for scale, (_, r, _) in zip(scales, levels)) + tie_span
        if biggest <= limit or units == 1:
            break
        units //= 2
    if biggest > limit:
        raise ValueError("the lexicographic cost scales do not fit in int64 for a pool this size")
    pair = np.rint((1.0 - np.clip(score, 0.0, 1.0)) * units).astype(np.int64)
    pair += np.floor(jitter * jitter_units).astype(np.int64)
    tie = pair.copy()
    for (shortfall, _, _), scale in zip(levels, scales):
        pair += shortfall.astype(np.int64) * scale
    unit = np.rint(spread * units * place_rank).astype(np.int64)
    return FlowCosts(pair, unit, units, tie=tie, shortfalls=tuple(s.astype(np.int64) for s, _, _ in levels))
