"""The relationship's life-cycle in feedback, on the fake unit of work: goals and progress, check-ins
(the loop), missed meetings in a row, and a good ending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.service_layer.checkins import checkin_pass
from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from tests.services.feedback.fakes import FakeFeedbackUnitOfWork
from tests.support.fakes import FixedClock, deliver

NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
DEPS = FeedbackDeps(FeedbackSettings(feedback_due_days=7, checkin_reminder_days=3))
GOALS = ["public speaking", "negotiation"]


@pytest.fixture
def uow() -> FakeFeedbackUnitOfWork:
    return FakeFeedbackUnitOfWork(FixedClock(NOW))


async def given(uow, *events) -> None:
    for event in events:
        await deliver(SUBSCRIPTIONS, event, uow, DEPS)


def program(**settings) -> ev.ProgramConfigured:
    return ev.ProgramConfigured(program_id="g", name="Global",
                                **{"term_days": 14, "checkin_first_day": 3, "checkin_every_days": 7, **settings})


def established(rid: str = "r1", goals=GOALS) -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rid, proposal_id=f"p-{rid}", program_id="g", mentee_id="ana",
                               mentor_id="bram", established_at=NOW, goals=goals)


def progress(goal: str, value: int, by: str = "ana") -> ev.GoalProgressRecorded:
    return ev.GoalProgressRecorded(relationship_id="r1", participant_id=by, goal=goal, progress=value)


def meeting(model, mid: str, start: datetime, **extra):
    return model(meeting_id=mid, relationship_id="r1", program_id="g", mentor_id="bram", mentee_id="ana",
                 occurrence=1, start=start, end=start + timedelta(minutes=45), **extra)


def ended(reason_code: str = "term_completed", days: float = 14) -> ev.MatchEnded:
    return ev.MatchEnded(relationship_id="r1", program_id="g", mentee_id="ana", mentor_id="bram",
                         reason="term completed", ended_at=NOW + timedelta(days=days), reason_code=reason_code)


def answer(fid: str, by: str = "ana", **kw) -> ev.FeedbackSubmitted:
    return ev.FeedbackSubmitted(**{"feedback_id": fid, "relationship_id": "r1", "participant_id": by, "rating": 5, **kw})


# --- goals ---------------------------------------------------------------------------------------

async def test_the_mentees_goals_become_the_relationships_and_reaching_100_is_celebrated_once(uow):
    await given(uow, program(), established(goals=["Public Speaking", "negotiation"]))
    relationship = await uow.relationships.require("r1")
    assert [(g.goal, g.progress) for g in relationship.goals] == [("public speaking", 0), ("negotiation", 0)]

    await given(uow, progress("public speaking", 40), progress("Public Speaking ", 100, by="bram"))
    await given(uow, progress("public speaking", 100))  # told again (a new event id): celebrated once
    await given(uow, progress("public speaking", 90), progress("public speaking", 100))  # down and back: still once
    (achieved,) = uow.of_type(ev.GoalAchieved)
    assert (achieved.goal, achieved.program_id, achieved.mentor_id, achieved.mentee_id, achieved.achieved_at) == \
        ("public speaking", "g", "bram", "ana", NOW)
    assert uow.tables.goals[("r1", "public speaking")].progress == 100
    assert uow.tables.goals[("r1", "public speaking")].achieved_at == NOW


async def test_progress_on_a_goal_the_relationship_does_not_have_or_from_outside_the_pair_is_refused(uow):
    await given(uow, program(), established())
    with pytest.raises(PermanentError, match=r"^the goal is not one of relationship r1's goals$"):
        await given(uow, progress("Salsa", 50))
    with pytest.raises(PermanentError, match="^carl is not part of relationship r1$"):
        await given(uow, progress("negotiation", 50, by="carl"))
    assert not uow.tables.goals and not uow.emitted


async def test_a_milestone_names_the_goal_it_belongs_to_and_achieves_it(uow):
    await given(uow, program(), established())
    await given(uow, answer("f1", goals_achieved=["Negotiation", "first keynote"]))
    await given(uow, answer("f2", goals_achieved=["negotiation"]))  # reached before: nothing new
    assert [(m.milestone, m.goal) for m in uow.of_type(ev.MilestoneAchieved)] == \
        [("negotiation", "negotiation"), ("first keynote", None)]
    assert [a.goal for a in uow.of_type(ev.GoalAchieved)] == ["negotiation"]
    assert uow.tables.goals[("r1", "negotiation")].progress == 100


async def test_progress_feeds_health_with_an_explainable_reason(uow):
    await given(uow, program(term_days=20), established())
    uow.clock.advance(days=12)  # 60 % of the term gone
    await given(uow, answer("f1", rating=4))
    before = uow.tables.health["r1"][0]
    await given(uow, progress("negotiation", 5))
    score, _, reasons = uow.tables.health["r1"]
    assert ("goals_stalled", {"progress": 2, "term_elapsed": 60}) in \
        [(c.code, c.params) for c in uow.tables.health_codes["r1"]]
    assert "the goals stand at 2% with 60% of the term gone" in reasons and score < before


def agreement(by: str = "ana", goals=(), rid: str = "r1", at: datetime = NOW) -> ev.RelationshipAgreementRecorded:
    return ev.RelationshipAgreementRecorded(relationship_id=rid, participant_id=by, cadence_days=14,
                                            duration_minutes=45, response_time_hours=48, goals=list(goals),
                                            recorded_at=at)


async def test_the_mentees_agreement_gives_the_relationship_its_goals_and_progress_on_a_kept_goal_stays(uow):
    await given(uow, program(), established(goals=["public speaking", "negotiation"]))
    await given(uow, progress("public speaking", 40), progress("negotiation", 30))
    await given(uow, agreement(goals=["Leading a team", "Public speaking "]))
    relationship = await uow.relationships.require("r1")
    assert [(g.goal, g.progress) for g in relationship.goals] == [("leading a team", 0), ("public speaking", 40)]
    # The goals of the agreement count from now on: progress, milestones and a goal no longer followed.
    await given(uow, progress("leading a team", 100), answer("f1", goals_achieved=["public speaking"]))
    assert [a.goal for a in uow.of_type(ev.GoalAchieved)] == ["leading a team", "public speaking"]
    with pytest.raises(PermanentError, match=r"^the goal is not one of relationship r1's goals$"):
        await given(uow, progress("negotiation", 50))

    # The mentor's answer leaves the goals out; so does (wrongly) a mentor's answer with goals: nothing changes.
    later = NOW + timedelta(hours=1)
    await given(uow, agreement(by="bram", at=later), agreement(by="bram", goals=["golf"], at=later),
                agreement(goals=[], at=later))
    # An older answer delivered late does not stand over the one in force.
    await given(uow, agreement(goals=["negotiation"], at=NOW - timedelta(hours=1)))
    # And the summary at the end tells the agreed goals, in the mentee's order.
    uow.clock.advance(days=14)
    await given(uow, ended())
    (concluded,) = uow.of_type(ev.RelationshipConcluded)
    assert [(g.goal, g.progress) for g in concluded.goals] == [("leading a team", 100), ("public speaking", 100)]


async def test_a_goal_dropped_and_agreed_again_keeps_its_progress_and_the_latest_agreement_stands(uow):
    await given(uow, program(), established(goals=["public speaking"]))
    await given(uow, progress("public speaking", 60))
    await given(uow, agreement(goals=["negotiation"]))
    await given(uow, progress("negotiation", 20))
    await given(uow, agreement(goals=["public speaking", "negotiation"], at=NOW + timedelta(hours=1)))
    relationship = await uow.relationships.require("r1")
    assert [(g.goal, g.progress) for g in relationship.goals] == [("public speaking", 60), ("negotiation", 20)]
    # Delivered again: the same.
    await given(uow, agreement(goals=["public speaking", "negotiation"], at=NOW + timedelta(hours=1)))
    assert [g.goal for g in (await uow.relationships.require("r1")).goals] == ["public speaking", "negotiation"]


async def test_the_agreed_goals_feed_health_and_an_agreement_waits_for_its_relationship(uow):
    with pytest.raises(NotYetKnown, match="^relationship r1 not established here yet$"):
        await given(uow, agreement(goals=["negotiation"]))
    await given(uow, program(term_days=20), established(goals=["public speaking"]))
    await given(uow, progress("public speaking", 80))
    uow.clock.advance(days=12)  # 60 % of the term gone
    await given(uow, answer("f1", rating=4))
    assert "goals_stalled" not in [c.code for c in uow.tables.health_codes["r1"]]
    # Three new goals next to the one at 80 %: 20 % on average with 60 % of the term gone.
    await given(uow, agreement(goals=["negotiation", "salsa", "leading a team", "public speaking"],
                               at=uow.clock.at))
    assert ("goals_stalled", {"progress": 20, "term_elapsed": 60}) in \
        [(c.code, c.params) for c in uow.tables.health_codes["r1"]]


async def test_an_agreement_from_outside_the_pair_is_refused(uow):
    await given(uow, program(), established())
    with pytest.raises(PermanentError, match="^carl is not part of relationship r1$"):
        await given(uow, agreement(by="carl", goals=["golf"]))
    assert [g.goal for g in (await uow.relationships.require("r1")).goals] == GOALS


# --- check-ins -----------------------------------------------------------------------------------

async def test_check_ins_are_asked_on_their_days_reminded_once_then_counted(uow):
    await given(uow, program(), established())
    uow.clock.advance(days=2)
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    assert not uow.of_type(ev.FeedbackRequested)

    uow.clock.advance(days=1)  # day 3
    passed = await checkin_pass(uow.transaction, DEPS, uow.clock)
    await checkin_pass(uow.transaction, DEPS, uow.clock)  # a second replica's pass: nothing twice
    asked = uow.of_type(ev.FeedbackRequested)
    assert sorted((r.participant_id, r.role, r.kind, r.reminder, r.meeting_id) for r in asked) == \
        [("ana", "mentee", "checkin", False, None), ("bram", "mentor", "checkin", False, None)]
    assert passed.due_in == timedelta(days=7).total_seconds()  # the next work: these fall due

    # Ana answers (naming the request); Bram does not and is reminded once, with the same request.
    ana = next(r for r in asked if r.participant_id == "ana")
    await given(uow, answer("c1", kind="checkin", request_id=ana.request_id, rating=4, progress=4))
    uow.clock.advance(days=7)  # day 10: Bram's falls due, and check-in 2 is due
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    reminders = [r for r in uow.of_type(ev.FeedbackRequested) if r.reminder]
    bram = next(r for r in asked if r.participant_id == "bram")
    assert [(r.request_id, r.due_at) for r in reminders] == [(bram.request_id, uow.clock.at + timedelta(days=3))]
    second = [r for r in uow.of_type(ev.FeedbackRequested) if not r.reminder and r not in asked]
    assert len(second) == 2 and {r.request_id for r in second}.isdisjoint({r.request_id for r in asked})
    assert not any("checkins_unanswered" in [c.code for c in h.reason_codes]
                   for h in uow.of_type(ev.RelationshipHealthChanged))

    uow.clock.advance(days=3)  # day 13: Bram's check-in, reminded, is still unanswered
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    assert len([r for r in uow.of_type(ev.FeedbackRequested) if r.reminder and r.request_id == bram.request_id]) == 1
    assert [(c.code, c.params) for c in uow.tables.health_codes["r1"] if c.code == "checkins_unanswered"] == \
        [("checkins_unanswered", {"count": 1})]
    # A late answer still counts: the check-in no longer weighs on health.
    await given(uow, answer("c2", by="bram", kind="checkin", request_id=bram.request_id, rating=5))
    assert "checkins_unanswered" not in [c.code for c in uow.tables.health_codes["r1"]]


async def test_new_program_settings_move_the_next_check_in(uow):
    await given(uow, program(), established())
    assert uow.tables.schedules["r1"].next_at == NOW + timedelta(days=3)
    await given(uow, program(checkin_first_day=5))
    assert uow.tables.schedules["r1"].next_at == NOW + timedelta(days=5)
    await given(uow, program(checkin_first_day=30))  # past the term: none, the closure survey comes instead
    assert uow.tables.schedules["r1"].next_at is None


async def test_answers_naming_a_request_that_does_not_fit_are_refused(uow):
    await given(uow, program(), established())
    uow.clock.advance(days=3)
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    bram = next(r for r in uow.of_type(ev.FeedbackRequested) if r.participant_id == "bram")
    with pytest.raises(PermanentError, match="^unknown feedback request nope$"):
        await given(uow, answer("x1", kind="checkin", request_id="nope"))
    with pytest.raises(PermanentError, match=f"^feedback request {bram.request_id} was not sent to ana"):
        await given(uow, answer("x2", kind="checkin", request_id=bram.request_id))
    with pytest.raises(PermanentError, match="asks for a checkin answer, not a meeting one"):
        await given(uow, answer("x3", by="bram", request_id=bram.request_id))


# --- missed meetings -----------------------------------------------------------------------------

async def test_two_missed_meetings_in_a_row_nudge_both_once_per_streak(uow):
    await given(uow, program(), established())
    starts = [NOW + timedelta(days=d) for d in range(1, 8)]
    await given(uow, meeting(ev.MeetingMissed, "m1", starts[0], absent=["bram"]))
    assert not uow.of_type(ev.RelationshipMeetingsMissed)
    await given(uow, meeting(ev.MeetingMissed, "m2", starts[1], absent=["ana"]),
                meeting(ev.MeetingMissed, "m2", starts[1], absent=["ana"]),  # reported twice
                meeting(ev.MeetingMissed, "m3", starts[2], absent=[]))  # the same streak goes on
    (nudge,) = uow.of_type(ev.RelationshipMeetingsMissed)
    assert (nudge.consecutive, nudge.mentor_id, nudge.mentee_id, nudge.program_id) == (2, "bram", "ana", "g")
    assert uow.tables.health["r1"][1] in ("watch", "at_risk")
    assert ("meetings_missed_in_a_row", {"count": 3}) in [(c.code, c.params) for c in uow.tables.health_codes["r1"]]

    await given(uow, meeting(ev.MeetingCompleted, "m4", starts[3]))  # they met: the streak is over
    await given(uow, meeting(ev.MeetingMissed, "m5", starts[4], absent=[]),
                meeting(ev.MeetingMissed, "m6", starts[5], absent=[]))
    assert [n.consecutive for n in uow.of_type(ev.RelationshipMeetingsMissed)] == [2, 2]


# --- the end -------------------------------------------------------------------------------------

async def test_the_end_asks_both_to_look_back_and_tells_what_the_relationship_achieved(uow):
    await given(uow, program(), established())
    await given(uow, meeting(ev.MeetingCompleted, "m1", NOW + timedelta(days=2)),
                meeting(ev.MeetingMissed, "m2", NOW + timedelta(days=9), absent=["ana"]),
                progress("public speaking", 100), progress("negotiation", 60),
                answer("f1", goals_achieved=["first keynote"]))
    uow.emitted.clear()
    uow.clock.advance(days=14)
    await given(uow, ended())
    await given(uow, ended())  # told again: nothing more
    closure = uow.of_type(ev.FeedbackRequested)
    assert sorted((r.participant_id, r.kind, r.due_at) for r in closure) == \
        [("ana", "closure", uow.clock.at + timedelta(days=7)), ("bram", "closure", uow.clock.at + timedelta(days=7))]
    (concluded,) = uow.of_type(ev.RelationshipConcluded)
    assert concluded.model_dump() == {
        "relationship_id": "r1", "program_id": "g", "mentor_id": "bram", "mentee_id": "ana",
        "reason_code": "term_completed", "established_at": NOW, "ended_at": NOW + timedelta(days=14),
        "meetings_held": 1, "goals": [{"goal": "public speaking", "progress": 100}, {"goal": "negotiation", "progress": 60}],
        "milestones": ["first keynote"], "term_served": 1.0, "certificate": True}
    assert uow.pairs.pairs["r1"].status == "ended" and uow.tables.conclusions["r1"] == concluded
    assert type(uow.emitted[-1]) is ev.RelationshipConcluded and len(uow.emitted) == 3

    # Closure answers are welcome after the end, check-in answers are not; health stays as it ended.
    health = uow.tables.health["r1"]
    uow.emitted.clear()
    await given(uow, answer("z1", kind="closure", request_id=closure[0].request_id, rating=1, progress=1,
                            by=closure[0].participant_id))
    assert closure[0].request_id in uow.tables.answered and closure[1].request_id not in uow.tables.answered
    assert uow.tables.health["r1"] == health
    with pytest.raises(PermanentError, match="^relationship r1 has ended; check-in answers are no longer taken$"):
        await given(uow, answer("z2", kind="checkin"))
    uow.clock.advance(days=30)
    await checkin_pass(uow.transaction, DEPS, uow.clock)
    assert not uow.emitted  # no check-in for an ended relationship


@pytest.mark.parametrize(("reason_code", "days", "certificate"), [
    ("participant_left", 3.5, False), ("ended_on_request", 10.5, True), ("participant_left", 10, False)])
async def test_every_end_concludes_and_an_early_end_earns_a_certificate_when_the_term_was_mostly_served(
        uow, reason_code, days, certificate):
    await given(uow, program(), established(goals=[]))
    await given(uow, ended(reason_code, days))
    (concluded,) = uow.of_type(ev.RelationshipConcluded)
    assert (concluded.reason_code, concluded.term_served, concluded.certificate, concluded.goals) == \
        (reason_code, round(days / 14, 3), certificate, [])
    assert len(uow.of_type(ev.FeedbackRequested)) == 2


async def test_one_who_left_the_program_is_not_asked_to_look_back(uow):
    await given(uow, program(), established(goals=[]))
    await given(uow, ended("participant_left", 3).model_copy(update={"leaver_id": "bram"}))
    (asked,) = uow.of_type(ev.FeedbackRequested)
    assert (asked.participant_id, asked.kind) == ("ana", "closure")
    assert len(uow.of_type(ev.RelationshipConcluded)) == 1
