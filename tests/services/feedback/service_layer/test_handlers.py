"""Feedback's subscription table on a fake unit of work: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from tests.services.feedback.fakes import FakeFeedbackUnitOfWork
from tests.support.fakes import FixedClock, deliver

NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
DEPS = FeedbackDeps(FeedbackSettings(feedback_due_days=7))


@pytest.fixture
def uow() -> FakeFeedbackUnitOfWork:
    return FakeFeedbackUnitOfWork(FixedClock(NOW))


def established(rid: str = "r1") -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rid, proposal_id="p1", program_id="g", mentee_id="ana",
                               mentor_id="bram", established_at=NOW, goals=["public speaking"])


def meeting(model, mid: str = "m1", **extra):
    return model(meeting_id=mid, relationship_id="r1", program_id="g", mentor_id="bram", mentee_id="ana",
                 occurrence=1, start=NOW, end=NOW + timedelta(minutes=45), **extra)


async def test_a_held_meeting_asks_both_once_and_low_ratings_raise_an_alert(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCompleted), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCompleted), uow, DEPS)  # reported twice: counted once
    asked = uow.of_type(ev.FeedbackRequested)
    assert sorted((r.participant_id, r.role) for r in asked) == [("ana", "mentee"), ("bram", "mentor")]
    assert all(r.due_at == NOW + timedelta(days=7) for r in asked)

    await deliver(SUBSCRIPTIONS, ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana",
                                                      meeting_id="m1", rating=1, progress=1,
                                                      goals_achieved=["Public speaking "]), uow, DEPS)
    await deliver(SUBSCRIPTIONS, ev.FeedbackSubmitted(feedback_id="f2", relationship_id="r1", participant_id="bram",
                                                      meeting_id="m1", rating=2), uow, DEPS)
    assert [(m.milestone, m.goal) for m in uow.of_type(ev.MilestoneAchieved)] == [("public speaking", "public speaking")]
    assert [h.current for h in uow.of_type(ev.RelationshipHealthChanged)] == ["healthy", "at_risk"]
    (alert,) = uow.of_type(ev.RelationshipAtRisk)
    assert "recent ratings are low (average 1.0 of 5)" in alert.reasons
    assert ("ratings_low", {"average": 1.0}) in [(c.code, c.params) for c in alert.reason_codes]
    assert len(alert.reason_codes) == len(alert.reasons)
    assert uow.tables.answered.keys() == {r.request_id for r in asked}


async def test_an_answer_that_comes_before_its_meeting_is_completed_answers_the_request_it_was_meant_for(uow):
    # Answers and meetings travel on different topics: the answer about m1 may be handled first.
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana",
                                                      meeting_id="m1", rating=5), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCompleted), uow, DEPS)
    (asked,) = uow.of_type(ev.FeedbackRequested)  # only the one who has not answered yet is asked
    assert (asked.participant_id, asked.meeting_id) == ("bram", "m1")
    assert list(uow.tables.answered.values()) == [uow.tables.feedback["f1"].submitted_at]
    answered = await uow.requests.get(next(iter(uow.tables.answered)))
    assert (answered.participant_id, answered.meeting_id) == ("ana", "m1")


async def test_a_missed_meeting_counts_against_health(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingMissed, absent=["bram"]), uow, DEPS)
    (changed,) = uow.of_type(ev.RelationshipHealthChanged)
    assert changed.reasons == ["1 of 1 meetings missed"]


async def test_feedback_from_outside_the_pair_is_refused_and_unknown_pairs_are_waited_for(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    with pytest.raises(PermanentError, match="carl is not part of relationship r1"):
        await deliver(SUBSCRIPTIONS, ev.FeedbackSubmitted(feedback_id="f0", relationship_id="r1",
                                                          participant_id="carl", rating=5), uow, DEPS)
    with pytest.raises(NotYetKnown, match="relationship r9 not established here yet"):
        await deliver(SUBSCRIPTIONS, ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r9",
                                                          participant_id="ana", rating=5), uow, DEPS)
    assert uow.emitted == []


async def test_an_ended_relationship_is_marked_ended(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, ev.MatchEnded(relationship_id="r1", program_id="g", mentee_id="ana", mentor_id="bram",
                                               reason="offboarded", ended_at=NOW), uow, DEPS)
    assert uow.pairs.pairs["r1"].status == "ended" and uow.pairs.pairs["r1"].end_reason == "offboarded"


# --- "is this a good fit?" -----------------------------------------------------------------------

def fit_answer(fid: str, by: str, fit: str | None, rating: int = 5) -> ev.FeedbackSubmitted:
    return ev.FeedbackSubmitted(feedback_id=fid, relationship_id="r1", participant_id=by, meeting_id="m1",
                                rating=rating, fit=fit)


async def test_not_a_good_fit_is_told_once_per_person_and_puts_the_relationship_at_risk(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCompleted), uow, DEPS)
    answer = fit_answer("f1", "ana", "not_good")
    await deliver(SUBSCRIPTIONS, answer, uow, DEPS)
    await deliver(SUBSCRIPTIONS, answer, uow, DEPS)  # redelivered
    uow.clock.advance(hours=1)
    await deliver(SUBSCRIPTIONS, fit_answer("f2", "ana", "not_good"), uow, DEPS)  # said again: told once
    (questioned,) = uow.of_type(ev.RelationshipFitQuestioned)
    assert questioned.model_dump() == {"relationship_id": "r1", "program_id": "g", "mentor_id": "bram",
                                       "mentee_id": "ana", "participant_id": "ana", "questioned_at": NOW}
    (alert,) = uow.of_type(ev.RelationshipAtRisk)
    assert [(c.code, c.params) for c in alert.reason_codes] == [("not_a_good_fit", {"by": "mentee"})]
    assert alert.reasons == ["the mentee says it is not a good fit"]
    assert uow.tables.health["r1"][1] == "at_risk"

    uow.clock.advance(hours=1)
    await deliver(SUBSCRIPTIONS, fit_answer("f3", "bram", "not_good"), uow, DEPS)
    assert [q.participant_id for q in uow.of_type(ev.RelationshipFitQuestioned)] == ["ana", "bram"]
    assert [(c.code, c.params) for c in uow.tables.health_codes["r1"]] == [("not_a_good_fit", {"by": "both"})]


async def test_a_later_good_fit_from_the_same_person_clears_it_and_unsure_changes_nothing(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, fit_answer("f1", "ana", "not_good"), uow, DEPS)
    uow.clock.advance(hours=1)
    await deliver(SUBSCRIPTIONS, fit_answer("f2", "bram", "good"), uow, DEPS)  # the other person's word
    await deliver(SUBSCRIPTIONS, fit_answer("f3", "ana", "unsure"), uow, DEPS)
    await deliver(SUBSCRIPTIONS, fit_answer("f4", "ana", None), uow, DEPS)
    assert uow.tables.health["r1"][1] == "at_risk"
    uow.clock.advance(hours=1)
    await deliver(SUBSCRIPTIONS, fit_answer("f5", "ana", "good"), uow, DEPS)
    assert uow.tables.health["r1"][1] == "healthy"
    assert "not_a_good_fit" not in [c.code for c in uow.tables.health_codes["r1"]]
    assert [h.current for h in uow.of_type(ev.RelationshipHealthChanged)] == ["at_risk", "healthy"]
    assert len(uow.of_type(ev.RelationshipFitQuestioned)) == 1


async def test_not_a_good_fit_after_the_end_is_kept_but_not_told(uow):
    await deliver(SUBSCRIPTIONS, established(), uow, DEPS)
    await deliver(SUBSCRIPTIONS, ev.MatchEnded(relationship_id="r1", program_id="g", mentee_id="ana", mentor_id="bram",
                                               reason="term completed", ended_at=NOW), uow, DEPS)
    await deliver(SUBSCRIPTIONS, fit_answer("f1", "ana", "not_good").model_copy(update={"kind": "closure"}), uow, DEPS)
    assert uow.tables.feedback["f1"].fit == "not_good"
    assert not uow.of_type(ev.RelationshipFitQuestioned) and "r1" not in uow.tables.health
