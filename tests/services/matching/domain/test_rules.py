"""Management chains (any depth, both directions, loops) and the per-pair exclusions."""

from datetime import UTC, datetime

import pytest

from services.matching.domain import ManagementGraph, MatchIndex, solve_cohort

from .oracle import mentor, person

AT = datetime(2027, 3, 1, tzinfo=UTC)


def test_walks_follow_every_level_and_stop_on_loops():
    graph = ManagementGraph({"a": "b", "b": "c", "c": "d", "x": "y", "y": "z", "z": "x", "me": "me"})
    assert graph.above("a") == ["b", "c", "d"]
    assert graph.below("d") == {"a", "b", "c"}
    assert graph.above("x") == ["y", "z"] and graph.below("x") == {"y", "z"}
    assert graph.above("me") == [] and graph.below("me") == set()
    assert graph.related("a", "d") and graph.related("d", "a") and not graph.related("a", "x")
    graph.set_manager("b", None)  # b leaves the hierarchy above it
    assert graph.above("a") == ["b"] and graph.below("d") == {"c"}
    graph.remove("a")
    assert graph.below("b") == set()


def _three_levels(direction: str):
    """Mentee and mentor three levels apart, through two people who take no part in the round."""
    if direction == "mentor above":
        people = [person("e", manager="x"), mentor("boss")]
        managers = {"x": "y", "y": "boss"}
    else:
        people = [person("e", seniority=2), mentor("report", manager="x")]
        managers = {"x": "y", "y": "e"}
    return people, managers


@pytest.mark.parametrize("direction", ["mentor above", "mentee above"])
def test_cohort_never_pairs_people_three_levels_apart(direction):
    (mentee, coach), managers = _three_levels(direction)
    # Without the directory, the link through x and y is unknown and the pair is fine.
    assert solve_cohort([mentee], [coach], at=AT).pairs
    result = solve_cohort([mentee], [coach], at=AT, directory=managers)
    assert not result.pairs
    assert result.unmatched[0].reason_code == "management_chain"


@pytest.mark.parametrize("direction", ["mentor above", "mentee above"])
def test_on_demand_never_pairs_people_three_levels_apart(direction):
    (mentee, coach), managers = _three_levels(direction)
    index = MatchIndex()
    index.upsert(mentee), index.upsert(coach)
    assert index.best_mentor("e", at=AT).mentor_id == coach.participant_id
    for pid, manager in managers.items():  # the people in between arrive as profiles (mentees, say)
        index.upsert(person(pid, manager=manager))
    outcome = index.best_mentor("e", at=AT)
    assert outcome.reason_code == "management_chain"
    index.remove("x")  # the chain is broken once x is gone
    assert index.best_mentor("e", at=AT).mentor_id == coach.participant_id


def test_loops_in_the_data_do_not_hang_and_still_exclude():
    people = [person("e", manager="m1"), mentor("m1", manager="m2"), mentor("m2", manager="e"), mentor("free")]
    result = solve_cohort(people[:1], people[1:], at=AT)
    assert [p.mentor_id for p in result.pairs] == ["free"]
    index = MatchIndex()
    for p in people:
        index.upsert(p)
    assert [p.mentor_id for p in index.ranked_mentors("e", at=AT, limit=5)] == ["free"]


def test_ended_pairs_and_the_same_person_are_never_proposed():
    both = person("both", roles=("mentee", "mentor"), seniority=3, capacity=2)
    result = solve_cohort([both, person("e")], [both, mentor("m")], at=AT, excluded_pairs={("e", "m")})
    assert {(p.mentee_id, p.mentor_id) for p in result.pairs} == {("both", "m")}
    (why,) = result.unmatched
    assert (why.mentee_id, why.reason_code) == ("e", "previously_paired")
    index = MatchIndex()
    for p in (both, person("e"), mentor("m")):
        index.upsert(p)
    assert index.best_mentor("e", at=AT, exclude={"m"}).reason_code == "previously_paired"
    assert [p.mentor_id for p in index.ranked_mentors("both", at=AT)] == ["m"]


def test_only_people_with_the_mentor_role_mentor():
    not_a_mentor = person("senior", seniority=9, capacity=5)  # capacity alone does not make a mentor
    result = solve_cohort([person("e")], [not_a_mentor], at=AT)
    assert not result.pairs and result.unmatched[0].reason_code == "no_mentors"
