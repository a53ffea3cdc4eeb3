"""The cohort round: maximum cardinality, best score among maximum matchings, fair load."""

from datetime import UTC, datetime

import numpy as np
import pytest
from ortools.graph.python import max_flow, min_cost_flow

from services.matching.domain import MatchSettings, solve_cohort
from services.matching.domain.cohort import SCALE, TIE_BREAK
from services.matching.domain.scoring import explain_pairs
from shared.availability import weekly_overlap_hours
from tandem.population import profiles

from .oracle import broken_rules, maximum_pairs, mentor, person

AT = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)
FULL = 10**6  # candidates_per_mentee above the mentor count: complete graph, exact optimum


@pytest.fixture(scope="module")
def pool():
    """300 mentees x 80 mentors from the synthetic population, every feasible pair and its score."""
    people = profiles(300, 80, seed=5)
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    managers = {p.participant_id: p.manager_id for p in people}
    load = {m.participant_id: i % 2 for i, m in enumerate(mentors)}  # some mentors already mentor someone
    free = {m.participant_id: m.mentor_capacity - load[m.participant_id] for m in mentors}
    arcs = [(e, m) for e in mentees for m in mentors
            if not broken_rules(e, m, at=AT, min_hours=2, managers=managers, free=free[m.participant_id])]
    settings = MatchSettings()
    seconds = [round(weekly_overlap_hours(e.timezone, e.availability, m.timezone, m.availability, AT) * 3600)
               for e, m in arcs]
    scores = [s for s, _ in explain_pairs([e for e, _ in arcs], [m for _, m in arcs], seconds, at=AT,
                                          settings=settings)]
    return mentees, mentors, load, free, arcs, scores


def objective(pairs, score_of, load, spread):
    """Total score minus the load cost: a mentor's n-th mentee in all costs spread * (n - 1)."""
    per_mentor: dict[str, int] = {}
    total = 0.0
    for e, m in pairs:
        total += score_of[(e, m)] - spread * (load.get(m, 0) + per_mentor.get(m, 0))
        per_mentor[m] = per_mentor.get(m, 0) + 1
    return total


def independent_optimum(mentees, mentors, arcs, scores, load, free, spread):
    """Max flow for the size, then a balanced min-cost flow of exactly that size (not the engine's call)."""
    ei = {p.participant_id: i for i, p in enumerate(mentees)}
    mi = {p.participant_id: i for i, p in enumerate(mentors)}
    n_e, n_m = len(mentees), len(mentors)
    sink = 1 + n_e + n_m
    tails, heads, caps, costs = [], [], [], []
    for i in range(n_e):
        tails.append(0), heads.append(1 + i), caps.append(1), costs.append(0)
    for (e, m), s in zip(arcs, scores):
        tails.append(1 + ei[e.participant_id]), heads.append(1 + n_e + mi[m.participant_id])
        caps.append(1), costs.append(-round(s * 10**6))
    for m in mentors:
        for u in range(free[m.participant_id]):
            tails.append(1 + n_e + mi[m.participant_id]), heads.append(sink), caps.append(1)
            costs.append(round(spread * 10**6 * (load[m.participant_id] + u)))
    size = max_flow.SimpleMaxFlow()
    size.add_arcs_with_capacity(np.array(tails), np.array(heads), np.array(caps))
    size.solve(0, sink)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(np.array(tails), np.array(heads), np.array(caps), np.array(costs))
    flow.set_nodes_supplies(np.array([0, sink]), np.array([size.optimal_flow(), -size.optimal_flow()]))
    assert flow.solve() == flow.OPTIMAL
    return size.optimal_flow(), -flow.optimal_cost() / 10**6


def test_matched_count_is_the_maximum_the_rules_allow(pool):
    mentees, mentors, load, free, arcs, _ = pool
    allowed = {(e.participant_id, m.participant_id) for e, m in arcs}
    best = maximum_pairs([e.participant_id for e in mentees], [m.participant_id for m in mentors], free,
                         lambda e, m: (e, m) in allowed)
    for k in (1, 4, FULL):
        result = solve_cohort(mentees, mentors, at=AT, load=load, settings=MatchSettings(candidates_per_mentee=k))
        assert len(result.pairs) == best
        assert {(p.mentee_id, p.mentor_id) for p in result.pairs} <= allowed


def test_full_graph_reaches_the_exact_optimum(pool):
    mentees, mentors, load, free, arcs, scores = pool
    settings = MatchSettings(candidates_per_mentee=FULL)
    size, best = independent_optimum(mentees, mentors, arcs, scores, load, free, settings.load_spread)
    result = solve_cohort(mentees, mentors, at=AT, load=load, settings=settings)
    score_of = {(e.participant_id, m.participant_id): s for (e, m), s in zip(arcs, scores)}
    got = objective([(p.mentee_id, p.mentor_id) for p in result.pairs], score_of, load, settings.load_spread)
    assert len(result.pairs) == size
    # Exact up to the documented tie-break (< TIE_BREAK / SCALE of score per pair).
    assert best - size * TIE_BREAK / SCALE <= got <= best + size * 1e-6


def test_sparse_candidate_graph_stays_close_to_the_optimum(pool):
    mentees, mentors, load, free, arcs, scores = pool
    settings = MatchSettings()
    size, best = independent_optimum(mentees, mentors, arcs, scores, load, free, settings.load_spread)
    result = solve_cohort(mentees, mentors, at=AT, load=load, settings=settings)
    score_of = {(e.participant_id, m.participant_id): s for (e, m), s in zip(arcs, scores)}
    got = objective([(p.mentee_id, p.mentor_id) for p in result.pairs], score_of, load, settings.load_spread)
    assert len(result.pairs) == size
    assert got >= 0.98 * best


def test_an_augmenting_path_outside_the_candidates_is_found():
    # Each mentee keeps only its single best candidate, and both name "x". The proof step must find
    # that "a" can move to "y" so that "b" gets "x".
    a = person("a", goals=("hiring",))
    b = person("b", goals=("hiring",), languages=("es",))
    x = mentor("x", capacity=1, skills=("hiring",), languages=("en", "es"))
    y = mentor("y", capacity=1)
    result = solve_cohort([a, b], [x, y], at=AT, settings=MatchSettings(candidates_per_mentee=1))
    assert {(p.mentee_id, p.mentor_id) for p in result.pairs} == {("a", "y"), ("b", "x")}
    assert result.stats["maximum_cardinality_proven"] and result.stats["solver_rounds"] == 2


def test_load_spreads_across_equally_good_mentors():
    mentees = [person(f"e{i}") for i in range(4)]
    twins = [mentor("m1", capacity=4), mentor("m2", capacity=4)]
    counts = lambda result: sorted(  # noqa: E731
        sum(p.mentor_id == m for p in result.pairs) for m in ("m1", "m2"))
    assert counts(solve_cohort(mentees, twins, at=AT)) == [2, 2]
    # A mentor who already has three active mentees gets the new ones last.
    assert counts(solve_cohort(mentees[:3], twins, at=AT, load={"m1": 3})) == [0, 3]


def test_current_load_reduces_free_places():
    result = solve_cohort([person("a"), person("b")], [mentor("m", capacity=3)], at=AT, load={"m": 2})
    assert len(result.pairs) == 1 and result.stats["free_places"] == 1


def test_results_keep_input_order_and_account_for_every_mentee(pool):
    mentees, mentors, load, *_ = pool
    result = solve_cohort(mentees, mentors, at=AT, load=load)
    order = [p.participant_id for p in mentees]
    assert [p.mentee_id for p in result.pairs] == [m for m in order if m in {p.mentee_id for p in result.pairs}]
    assert sorted([p.mentee_id for p in result.pairs] + [u.mentee_id for u in result.unmatched]) == sorted(order)
    assert result.stats["matched"] == len(result.pairs) and result.stats["maximum_cardinality_proven"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="duplicate participant_id 'a'"):
        solve_cohort([person("a"), person("a")], [mentor("m")], at=AT)
    with pytest.raises(ValueError, match="naive"):
        solve_cohort([person("a")], [mentor("m")], at=datetime(2027, 3, 1))
    empty = solve_cohort([], [mentor("m")], at=AT)
    assert empty.pairs == [] and empty.unmatched == []


def test_a_whole_mentee_row_reproduces_the_candidate_lists(pool):
    from services.matching.domain.cohort import _Round

    mentees, mentors, load, *_ = pool
    rnd = _Round(mentees, mentors, at=AT, settings=MatchSettings(candidates_per_mentee=5), load=load,
                 excluded_pairs=(), directory=None)
    rnd.candidate_arcs()
    for i in range(0, len(mentees), 7):
        row = rnd.mentee_row(i)
        best = np.argsort(-row, kind="stable")[:5]
        best = best[row[best] > -np.inf]
        assert rnd.best_idx[i][: len(best)].tolist() == best.tolist()
        assert np.array_equal(rnd.best_val[i][: len(best)], row[best])
