"""The pure parts of benchmarks/cohort_delivery.py: the population it matches, how it counts the
invites and stages, and its verdict on the 10-minute target."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.cohort_delivery import (
    TARGET_SECONDS,
    Stages,
    Timeline,
    cohort_population,
    onboarding_sample,
    projection,
    rate,
    tally_invites,
    verdict,
)
from shared.contracts import events as ev


@pytest.mark.parametrize(("pairs", "capacity"), [(1, 2), (7, 2), (100, 2), (99, 3), (40, 1)])
def test_the_population_has_every_mentee_and_just_enough_places(pairs: int, capacity: int):
    mentors, mentees = cohort_population(pairs, capacity=capacity, program_id="p")
    assert len(mentees) == pairs
    assert len(mentors) == -(-pairs // capacity)
    assert sum(m["mentor_capacity"] for m in mentors) >= pairs
    assert all(m["mentor_capacity"] == capacity for m in mentors)
    people = mentors + mentees
    assert len({p["participant_id"] for p in people}) == len(people)
    assert len({p["email"] for p in people}) == len(people)
    assert {p["program_id"] for p in people} == {"p"}
    for p in people:  # each a valid onboarding, as upstream would publish it
        ev.ParticipantOnboarded.model_validate(p)


def test_each_mentee_fits_the_mentor_built_for_them():
    """The planted assignment: every mentee has a mentor of their zone and languages, more senior, who
    offers both their goals, and no mentor is planted more mentees than it takes."""
    mentors, mentees = cohort_population(50, capacity=2)
    planted = {m["participant_id"].replace("c-m-", "c-e-"): m for m in mentors}  # c-m-000007 -> c-e-000007-j
    load: Counter[str] = Counter()
    for e in mentees:
        mentor = planted[e["participant_id"].rsplit("-", 1)[0]]
        assert set(e["goals"]) <= set(mentor["skills"]) and len(e["goals"]) == 2
        assert (e["timezone"], e["languages"]) == (mentor["timezone"], mentor["languages"])
        assert mentor["seniority"] > e["seniority"]
        assert e["communication"].get("quiet_hours") is None  # mail goes out at once
        load[mentor["participant_id"]] += 1
    assert max(load.values()) <= 2


def test_the_population_spans_zones_and_languages():
    _, mentees = cohort_population(200)
    assert len({e["timezone"] for e in mentees}) == 19
    assert len({e["locale"].split("-")[0] for e in mentees}) >= 6


def test_the_population_is_the_same_every_time():
    assert cohort_population(30) == cohort_population(30)


def test_a_population_needs_pairs_and_places():
    with pytest.raises(ValueError):
        cohort_population(0)
    with pytest.raises(ValueError):
        cohort_population(10, capacity=0)


def test_the_sample_takes_mentors_and_mentees_from_across_the_population():
    mentors, mentees = cohort_population(1000)
    sample = onboarding_sample(mentors, mentees, 30)
    assert len(sample) == 30
    assert sum(p["roles"] == ["mentor"] for p in sample) == 10
    ids = [p["participant_id"] for p in sample]
    assert len(set(ids)) == 30
    assert mentees[-1]["participant_id"] > max(i for i in ids if i.startswith("c-e-")) > mentees[len(mentees) // 2]["participant_id"]


def test_a_tiny_population_still_gives_a_sample_of_both_roles():
    mentors, mentees = cohort_population(2)
    sample = onboarding_sample(mentors, mentees, 30)
    assert {tuple(p["roles"]) for p in sample} == {("mentor",), ("mentee",)}


def test_invites_counted_once_per_mentee_with_duplicates_missing_and_strangers_apart():
    tally = tally_invites([("a", 5.0), ("b", 3.0), ("a", 9.0), (None, 1.0), ("zz", 2.0)], ["a", "b", "c"])
    assert (tally.expected, tally.arrived, tally.duplicates, tally.missing, tally.strangers) == (3, 2, 1, 1, 2)
    assert (tally.first, tally.last) == (3.0, 5.0)  # the last mentee's *first* invite
    assert not tally.each_once


def test_every_invite_once_within_the_target_is_met():
    tally = tally_invites([(m, 100.0 + k) for k, m in enumerate("abc")], ["a", "b", "c"])
    ok, said = verdict(tally, t0=100.0)
    assert ok and tally.each_once
    assert said.startswith("met")


def test_the_last_invite_after_the_target_is_not_met():
    tally = tally_invites([("a", 10.0), ("b", 10.0 + TARGET_SECONDS + 0.1)], ["a", "b"])
    ok, said = verdict(tally, t0=10.0)
    assert not ok and "after T0" in said


def test_the_last_invite_exactly_at_the_target_is_met():
    ok, _ = verdict(tally_invites([("a", TARGET_SECONDS)], ["a"]), t0=0.0)
    assert ok


def test_a_missing_or_repeated_invite_is_not_met_however_fast():
    ok, said = verdict(tally_invites([("a", 1.0)], ["a", "b"]), t0=0.0)
    assert not ok and "1 of 2 kickoff invites missing" in said
    ok, said = verdict(tally_invites([("a", 1.0), ("a", 2.0)], ["a"]), t0=0.0)
    assert not ok and "more than once" in said
    ok, said = verdict(tally_invites([], ["a"]), t0=0.0)
    assert not ok and "no kickoff invite" in said


def test_mentees_whose_kickoff_could_not_be_placed_are_named_apart_and_still_not_met():
    ok, said = verdict(tally_invites([("a", 5.0)], ["a", "b"]), t0=0.0, unplaced=1)
    assert not ok
    assert "1 of 2 mentees got no kickoff at all" in said and "within" in said
    ok, said = verdict(tally_invites([("a", 5.0)], ["a", "b", "c"]), t0=0.0, unplaced=1)
    assert not ok and "2 of 3 kickoff invites missing" in said


def test_the_timeline_says_when_the_nth_was_seen_whatever_the_order_noted():
    tl = Timeline()
    for at in (3.0, 1.0, 2.0):
        tl.note("x", at)
    assert (tl.count("x"), tl.first("x"), tl.reached("x", 2), tl.reached("x", 3)) == (3, 1.0, 2.0, 3.0)
    assert tl.reached("x", 4) is None and tl.reached("y", 1) is None and tl.first("y") is None


def test_rates_need_a_span_and_something_counted():
    assert rate(10, 0.0, 2.0) == 5.0
    assert rate(10, 2.0, 2.0) is None and rate(0, 0.0, 1.0) is None and rate(3, None, 1.0) is None


def _note(tl: Timeline, kind: str, n: int) -> None:
    for k in range(n):
        tl.note(kind, float(k))


def test_stages_complete_in_order_and_each_once():
    stages, tl = Stages(mentees=3), Timeline()
    _note(tl, "match.proposed", 2)
    assert stages.newly_done(tl) == []  # one mentee still undecided
    _note(tl, "match.unavailable", 1)
    _note(tl, "proposal.accepted", 2)
    assert stages.newly_done(tl) == ["round finished: every proposal on Kafka", "every proposal accepted (published)"]
    _note(tl, "match.established", 2)
    _note(tl, "meeting.scheduled (kickoff)", 1)
    _note(tl, "relationship.unschedulable", 1)
    _note(tl, "kickoff invite", 1)
    assert stages.newly_done(tl) == ["every match.established on Kafka", "every kickoff meeting.scheduled on Kafka",
                                     "every kickoff invite at the sink"]
    assert stages.newly_done(tl) == [] and stages.all_invited(tl)


def test_invites_before_every_kickoff_is_scheduled_do_not_finish_the_round():
    stages, tl = Stages(mentees=2), Timeline()
    _note(tl, "match.proposed", 2)
    _note(tl, "match.established", 2)
    _note(tl, "meeting.scheduled (kickoff)", 1)
    _note(tl, "kickoff invite", 1)
    assert not stages.all_invited(tl)


def test_meetings_seen_count_kickoffs_and_others_together():
    tl = Timeline()
    _note(tl, "meeting.scheduled (kickoff)", 2)
    _note(tl, "meeting.scheduled", 1)
    assert Stages.seen(tl, "meeting.scheduled") == 3
    assert Stages.seen(tl, "match.established") == 0


def test_a_stopped_run_projects_the_last_arrival_from_its_last_minute():
    times = [float(t) for t in range(100)]  # one a second until 99 s
    assert projection(times, 160, end=99.5) == 159.5  # 60 more at one a second
    assert projection(times, 100, end=100.0) is None  # all came
    assert projection([1.0], 5, end=100.0) is None  # nothing in the last minute: no pace to go by
