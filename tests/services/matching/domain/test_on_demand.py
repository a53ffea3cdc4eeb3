"""The on-demand index: best mentor now, kept current by upserts, removals and loads."""

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.domain import MatchIndex, MatchSettings, PairProposal, Unmatched, on_demand, solve_cohort
from services.matching.domain.scoring import explain_pairs
from shared.availability import weekly_overlap_hours
from tandem.population import population as generate

from .oracle import broken_rules, mentor, person

AT = datetime(2027, 3, 24, 9, 41, tzinfo=UTC)


@pytest.fixture(scope="module", params=["default", "thin"])
def population(request):
    people = generate(request.param, 60, 40, seed=23)
    return people, [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]


def loaded_index(people, load=None, settings=MatchSettings()):
    index = MatchIndex(settings)
    for p in people:
        index.upsert(p)
    for mentor_id, active in (load or {}).items():
        index.set_load(mentor_id, active)
    return index


def test_best_and_ranked_follow_goal_fit_then_diversity_then_score(population):
    people, mentees, mentors = population
    load = {m.participant_id: i % 3 for i, m in enumerate(mentors)}
    managers = {p.participant_id: p.manager_id for p in people}
    index = loaded_index(people, load)
    settings = MatchSettings()
    for k, mentee in enumerate(mentees):
        exclude = {mentors[k % len(mentors)].participant_id}
        feasible = [m for m in mentors if not broken_rules(
            mentee, m, at=AT, min_hours=2, managers=managers, free=m.mentor_capacity - load[m.participant_id],
            excluded={(mentee.participant_id, x) for x in exclude})]
        seconds = [round(weekly_overlap_hours(mentee.timezone, mentee.availability, m.timezone, m.availability, AT)
                         * 3600) for m in feasible]
        scores = [s for s, _ in explain_pairs([mentee] * len(feasible), feasible, seconds, at=AT, settings=settings)]
        # The order, computed here from the profiles: goal fit, then a mentor from another region or
        # sector if the mentee asked for one, then the weighted score.
        want = sorted(((_fit(mentee, m), _met(mentee, m), round(s, 4)) for m, s in zip(feasible, scores)),
                      reverse=True)
        ranked = index.ranked_mentors(mentee.participant_id, at=AT, exclude=exclude, limit=len(mentors))
        assert {p.mentor_id for p in ranked} == {m.participant_id for m in feasible}
        by_id = {m.participant_id: m for m in feasible}
        assert [(_fit(mentee, by_id[p.mentor_id]), _met(mentee, by_id[p.mentor_id]), p.score) for p in ranked] == want
        best = index.best_mentor(mentee.participant_id, at=AT, exclude=exclude)
        if feasible:
            assert isinstance(best, PairProposal) and (_fit(mentee, by_id[best.mentor_id]), best.score) == \
                (want[0][0], want[0][2])
        else:
            assert isinstance(best, Unmatched)
        assert index.ranked_mentors(mentee.participant_id, at=AT, exclude=exclude, limit=3) == ranked[:3]


def _fit(mentee, coach) -> float:
    return len(set(mentee.goals) & set(coach.skills)) / len(mentee.goals) if mentee.goals else 0.0


def _met(mentee, coach) -> bool:
    return mentee.diverse_perspective and (coach.region != mentee.region or coach.sector != mentee.sector)


def test_on_demand_and_cohort_agree_on_a_lone_mentee(population):
    # With one mentee (and no fairness cost, which only the cohort's global solve has), the cohort's
    # optimum is that mentee's best feasible mentor: same feasible set, best score and reason.
    people, mentees, mentors = population
    settings = MatchSettings(load_spread=0)
    load = {m.participant_id: i % 2 for i, m in enumerate(mentors)}
    index = loaded_index(people, load, settings)
    managers = {p.participant_id: p.manager_id for p in people}
    agreed = 0
    for mentee in mentees:
        alone = solve_cohort([mentee], mentors, at=AT, load=load, directory=managers, settings=settings)
        best = index.best_mentor(mentee.participant_id, at=AT)
        if alone.pairs:
            assert isinstance(best, PairProposal) and best.score == alone.pairs[0].score
            agreed += 1
        else:
            assert isinstance(best, Unmatched) and best.reason_code == alone.unmatched[0].reason_code
    assert agreed > 30


def test_updates_take_effect_immediately():
    index = loaded_index([person("e"), mentor("m1", capacity=1), mentor("m2", capacity=1, skills=("x",))])
    assert index.mentor_count == 2
    index.set_load("m1", 1)  # full
    assert [p.mentor_id for p in index.ranked_mentors("e", at=AT)] == ["m2"]
    index.upsert(mentor("m2", capacity=1, languages=("ja",)))  # no longer shares a language
    assert index.best_mentor("e", at=AT).reason_code == "mentors_at_capacity"
    index.set_load("m1", 0)
    assert index.best_mentor("e", at=AT).mentor_id == "m1"
    index.upsert(person("m1", roles=("mentee",), seniority=8))  # stops mentoring
    assert index.mentor_count == 1
    assert index.best_mentor("e", at=AT).reason_code == "no_shared_language"
    index.remove("m2")
    assert index.best_mentor("e", at=AT).reason_code == "no_mentors"
    index.set_load("m3", 2)  # a load may arrive before the profile
    index.upsert(mentor("m3", capacity=2))
    assert index.best_mentor("e", at=AT).reason_code == "mentors_at_capacity"
    with pytest.raises(KeyError):
        index.best_mentor("nobody", at=AT)
    with pytest.raises(ValueError):
        index.best_mentor("e", at=datetime(2027, 3, 1))


def test_slots_are_reused_and_the_table_grows():
    index = MatchIndex()
    index.upsert(person("e", goals=("skill-199",)))
    for i in range(200):  # beyond the initial 64 slots and beyond 64 skills (a second bitset word)
        index.upsert(mentor(f"m{i}", skills=(f"skill-{i}",)))
    assert index.best_mentor("e", at=AT).mentor_id == "m199"
    for i in range(0, 200, 2):
        index.remove(f"m{i}")
    index.upsert(mentor("late", skills=("skill-199", "skill-0")))
    assert index.mentor_count == 101
    ranked = index.ranked_mentors("e", at=AT, limit=200)
    assert len(ranked) == 101 and {p.mentor_id for p in ranked[:2]} == {"m199", "late"}


def test_new_availability_after_queries_is_exact(monkeypatch):
    monkeypatch.setattr(on_demand, "SIDE_TABLE_LIMIT", 2)  # exercise both the side table and the rebuild
    mentee = person("e", timezone="Asia/Kathmandu", windows=[{"days": ["tue", "thu"], "start": "15:00",
                                                               "end": "21:45"}])
    index = loaded_index([mentee], settings=MatchSettings(min_overlap_hours=0.25))
    zones = ["Europe/Berlin", "Asia/Kolkata", "America/Sao_Paulo", "Australia/Sydney", "Asia/Tokyo", "UTC"]
    coaches = {}
    for i, zone in enumerate(zones):
        coach = mentor(f"m{i}", timezone=zone, windows=[{"days": ["tue", "wed", "thu"], "start": f"{8 + i:02d}:15",
                                                         "end": "17:00"}])
        coaches[coach.participant_id] = coach
        index.upsert(coach)
        at = AT + timedelta(days=3 * i)  # also moves across weekly horizons
        ranked = index.ranked_mentors("e", at=at, limit=10)
        assert ranked  # Kathmandu afternoons meet some of these mentors every week
        for pair in ranked:
            c = coaches[pair.mentor_id]
            hours = weekly_overlap_hours(mentee.timezone, mentee.availability, c.timezone, c.availability, at)
            assert hours >= 0.25 and pair.explanation["facts"]["overlap_hours"] == round(hours, 4)
