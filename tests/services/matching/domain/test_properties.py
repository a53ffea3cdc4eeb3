"""Property tests on random pools: no output ever breaks a hard rule; the cohort is maximum and, on
the complete graph, the exact lexicographic optimum of goal fit and diversity."""

from collections import Counter
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain import MatchIndex, MatchSettings, PairProposal, solve_cohort

from .oracle import broken_rules, goal_units, lexicographic_optimum, maximum_pairs, person, wish_kept

ZONES = ["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kathmandu", "Australia/Sydney", "America/Sao_Paulo",
         "Pacific/Chatham"]
WINDOWS = [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
    {"days": ["mon", "wed"], "start": "18:30", "end": "22:00"},
    {"days": ["sat"], "start": "10:00", "end": "14:15"},
    {"days": ["tue", "thu"], "start": "22:00", "end": "02:00"},
    {"days": ["fri"], "start": "12:00", "end": "13:00"},
    {"days": ["sun", "mon"], "start": "01:10", "end": "03:40"},
]


@st.composite
def pools(draw):
    n = draw(st.integers(2, 12))
    ids = [f"p{i}" for i in range(n)]
    people = []
    for pid in ids:
        people.append(person(
            pid,
            roles=draw(st.sampled_from([("mentee",), ("mentor",), ("mentee", "mentor")])),
            languages=tuple(draw(st.lists(st.sampled_from(["en", "es", "ja"]), min_size=1, max_size=2, unique=True))),
            timezone=draw(st.sampled_from(ZONES)),
            windows=draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=2, unique_by=str)),
            seniority=draw(st.integers(1, 10)),
            capacity=draw(st.integers(0, 3)),
            manager=draw(st.none() | st.sampled_from(ids)),  # loops and self-management happen
            goals=tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))),
            skills=tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))),
            region=draw(st.sampled_from(["EMEA", "APAC"])),
            sector=draw(st.sampled_from(["legal", "sales"])),
            diverse=draw(st.booleans()),
        ))
    mentors = [p for p in people if p.is_mentor]
    mentees = [p for p in people if p.is_mentee]
    load = {m.participant_id: draw(st.integers(0, 2)) for m in mentors}
    excluded = set(draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=4)))
    at = datetime.fromtimestamp(draw(st.integers(1_767_225_600, 1_830_297_600)), UTC)  # 2026-2027, any second
    hours = draw(st.sampled_from([0.0, 1.0, 2.0, 3.5]))
    return people, mentees, mentors, load, excluded, at, hours


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools())
def test_cohort_never_breaks_a_rule_and_is_maximum(pool):
    people, mentees, mentors, load, excluded, at, hours = pool
    managers = {p.participant_id: p.manager_id for p in people}
    free = {m.participant_id: m.mentor_capacity - load[m.participant_id] for m in mentors}
    by_id = {p.participant_id: p for p in people}
    result = solve_cohort(mentees, mentors, at=at, load=load, excluded_pairs=excluded,
                          settings=MatchSettings(min_overlap_hours=hours, candidates_per_mentee=1))
    for pair in result.pairs:
        assert broken_rules(by_id[pair.mentee_id], by_id[pair.mentor_id], at=at, min_hours=hours,
                            managers=managers, free=free[pair.mentor_id], excluded=excluded) == []
    taken = Counter(p.mentor_id for p in result.pairs)
    assert all(n <= free[m] for m, n in taken.items())
    assert sorted([p.mentee_id for p in result.pairs] + [u.mentee_id for u in result.unmatched]) == \
        sorted(m.participant_id for m in mentees)
    allowed = lambda e, m: not broken_rules(by_id[e], by_id[m], at=at, min_hours=hours,  # noqa: E731
                                            managers=managers, free=free[m], excluded=excluded)
    assert len(result.pairs) == maximum_pairs([m.participant_id for m in mentees],
                                              [m.participant_id for m in mentors], free, allowed)


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools())
def test_on_demand_never_breaks_a_rule_and_misses_nobody(pool):
    people, mentees, mentors, load, excluded, at, hours = pool
    managers = {p.participant_id: p.manager_id for p in people}
    free = {m.participant_id: m.mentor_capacity - load[m.participant_id] for m in mentors}
    index = MatchIndex(MatchSettings(min_overlap_hours=hours))
    for p in people:
        index.upsert(p)
    for mentor_id, active in load.items():
        index.set_load(mentor_id, active)
    for mentee in mentees:
        exclude = {m for e, m in excluded if e == mentee.participant_id}
        ok = {m.participant_id for m in mentors if not broken_rules(
            mentee, m, at=at, min_hours=hours, managers=managers, free=free[m.participant_id], excluded=excluded)}
        best = index.best_mentor(mentee.participant_id, at=at, exclude=exclude)
        ranked = index.ranked_mentors(mentee.participant_id, at=at, exclude=exclude, limit=20)
        assert {p.mentor_id for p in ranked} == ok
        if ok:
            assert isinstance(best, PairProposal) and best.mentor_id in ok and best.score == ranked[0].score
        else:
            assert best.reason_code != "places_taken_in_round"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools())
def test_cohort_is_the_lexicographic_optimum_of_goal_fit_then_diversity(pool):
    people, mentees, mentors, load, excluded, at, hours = pool
    managers = {p.participant_id: p.manager_id for p in people}
    free = {m.participant_id: m.mentor_capacity - load[m.participant_id] for m in mentors}
    by_id = {p.participant_id: p for p in people}
    arcs = [(e.participant_id, m.participant_id) for e in mentees for m in mentors
            if not broken_rules(e, m, at=at, min_hours=hours, managers=managers, free=free[m.participant_id],
                                excluded=excluded)]
    q = 6  # goal counts here are 1 to 3
    levels = [[goal_units(by_id[e], by_id[m], q) for e, m in arcs],
              [int(wish_kept(by_id[e], by_id[m])) for e, m in arcs]]
    want = lexicographic_optimum(arcs, free, levels)[:2] if arcs else (0, [0, 0])
    for k in (10**6, 1):  # the complete graph, and the sparsest candidate lists (mentors' own lists fill in)
        result = solve_cohort(mentees, mentors, at=at, load=load, excluded_pairs=excluded,
                              settings=MatchSettings(min_overlap_hours=hours, candidates_per_mentee=k))
        got = [(p.mentee_id, p.mentor_id) for p in result.pairs]
        assert (len(got), [sum(goal_units(by_id[e], by_id[m], q) for e, m in got),
                           sum(wish_kept(by_id[e], by_id[m]) for e, m in got)]) == (want[0], list(want[1]))
