"""Feedback's relationship life-cycle on a real Kafka and Postgres: goals and progress, check-ins on
the program clock, and a good ending; bad input is dead-lettered with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.feedback.entrypoints.app import build_service
from services.feedback.service_layer import views
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.outbox import events_written
from tandem.client import Publisher, Watcher
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
DLQ = topics.dlq(topics.FEEDBACK_SUBMISSIONS)


def settings(database_url, bootstrap_servers, topic_prefix, **overrides) -> FeedbackSettings:
    return settings_for(FeedbackSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=NOW, max_deferrals=3, checkin_check_seconds=0.2,
                        **overrides)


def established(rid: str = "r1", goals=("public speaking", "negotiation"), at: datetime = NOW) -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rid, proposal_id=f"p-{rid}", program_id="g", mentee_id="ana",
                               mentor_id="bram", established_at=at, goals=list(goals))


async def relationship_known(database_url: str, rid: str = "r1") -> None:
    async def known():
        return await fetch(database_url, "SELECT 1 FROM feedback.pairs WHERE relationship_id = $1", rid)
    await eventually(known, 30, f"relationship {rid}")


async def test_goal_progress_is_celebrated_once_under_redelivery_and_bad_progress_is_dead_lettered(
        database_url, bootstrap_servers, topic_prefix):
    config = settings(database_url, bootstrap_servers, topic_prefix)
    service = build_service(config)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK, DLQ], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(established())
        await relationship_known(database_url)
        await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="ana", goal="public speaking",
                                                  progress=40, note="first talk given"))
        reached = await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="bram",
                                                            goal="Public Speaking", progress=100))
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, reached.to_json(), key="r1")  # delivered twice
        await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="ana", goal="public speaking",
                                                  progress=100))  # told again, as a new event
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana", rating=5,
                                               goals_achieved=["Negotiation"]))
        # Bad input: out of range (the schema's), a goal the pair does not have, someone outside the pair.
        out_of_range = Envelope(specversion="1.0", id="bad-1", source="/test", type="goal.progress.recorded", time=NOW, data={
            "relationship_id": "r1", "participant_id": "ana", "goal": "negotiation", "progress": 101})
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, out_of_range.to_json(), key="r1")
        await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="ana", goal="salsa", progress=5))
        await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="carl", goal="negotiation",
                                                  progress=5))
        await out.wait_for(lambda w: len(w.on_topic(DLQ)) >= 3 and len(w.of_type("goal.achieved")) >= 2, 60,
                           "the goals achieved and three dead letters")
        # Ana's mentoring agreement names her goals in her own words: the relationship's from now on.
        await pub.publish(ev.RelationshipAgreementRecorded(
            relationship_id="r1", participant_id="ana", cadence_days=14, duration_minutes=45, response_time_hours=48,
            goals=["Leading a team", "public speaking"], recorded_at=NOW))

        async def agreed():
            return await fetch(database_url, "SELECT goals FROM feedback.agreed_goals WHERE relationship_id = 'r1'")
        await eventually(agreed, 30, "the agreed goals")
        # After a meeting she answers that it is not a good fit: told once, and the pair is at risk.
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f2", relationship_id="r1", participant_id="ana", rating=4,
                                               fit="not_good"))
        await out.wait_for(lambda w: w.of_type("relationship.fit.questioned") and w.of_type("relationship.at_risk"),
                           60, "the fit questioned")
        async with service.pool.acquire() as conn:  # what the program team sees
            kpis = await views.kpis(conn, "g", config, service.clock.now())
            (entry,) = await views.relationships(conn, "g", config, service.clock.now(), state=None)
    assert (kpis["goals_set"], kpis["goals_achieved"], kpis["certificates_earned"]) == (2, 1, 0)
    assert [(g["goal"], g["progress"], g["achieved_at"] is not None) for g in entry["goals"]] == \
        [("leading a team", 0, False), ("public speaking", 100, True)]
    assert [(c["code"], c["params"]) for c in entry["reason_codes"]] == [("not_a_good_fit", {"by": "mentee"})]
    (questioned,) = out.of_type("relationship.fit.questioned")
    assert (questioned.data["participant_id"], questioned.data["mentee_id"]) == ("ana", "ana")
    # The dead letters came after everything before them (one key, one partition): nothing more is owed.
    owed = await fetch(database_url, events_written("feedback"))
    assert {r["event_type"]: r["n"] for r in owed if r["event_type"] in ("goal.achieved", "milestone.achieved")} == \
        {"goal.achieved": 2, "milestone.achieved": 1}
    achieved = [(o.data["goal"], o.data["mentee_id"]) for o in out.of_type("goal.achieved")]
    assert sorted(achieved) == [("negotiation", "ana"), ("public speaking", "ana")]
    (milestone,) = out.of_type("milestone.achieved")
    assert (milestone.data["milestone"], milestone.data["goal"]) == ("negotiation", "negotiation")
    reasons = sorted(o.headers["dlq.error"] for o in out.on_topic(DLQ))
    assert reasons[0] == "carl is not part of relationship r1"
    assert reasons[1].startswith("invalid goal.progress.recorded data: progress: Input should be less than or equal")
    assert reasons[2] == "the goal is not one of relationship r1's goals"  # the goal's words are not repeated
    rows = await fetch(database_url, "SELECT goal, progress, achieved_at IS NOT NULL AS achieved "
                                     "FROM feedback.goal_progress ORDER BY goal")
    assert [tuple(r.values()) for r in rows] == [("negotiation", 100, True), ("public speaking", 100, True)]


async def test_a_check_in_is_asked_on_its_day_reminded_once_then_counted(database_url, bootstrap_servers,
                                                                          topic_prefix):
    # A quarter of a program day a real second: the check-in falls on day 1, is due two days later, is
    # reminded then, and counted a day after that. Two replicas run the loop: each step happens once.
    config = settings(database_url, bootstrap_servers, topic_prefix, clock_speed=21_600.0, feedback_due_days=2.0,
                      checkin_reminder_days=1.0)
    service = build_service(config)
    async with service.running(), build_service(config).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK, DLQ], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(ev.ProgramConfigured(program_id="g", name="Global", term_days=60, checkin_first_day=1,
                                               checkin_every_days=30))
        # Once both replicas take in pairs (a pair of another program, with no check-in soon), the clock counts.
        await pub.publish(established("r0", at=service.clock.now()).model_copy(update={"program_id": "warm-up"}))
        await relationship_known(database_url, "r0")
        await pub.publish(established(at=service.clock.now()))
        asked = await out.wait_for(lambda w: len(w.of_type("feedback.requested")) >= 2
                                   and w.of_type("feedback.requested"), 60, "the check-in")
        assert sorted((o.data["participant_id"], o.data["kind"], o.data["reminder"]) for o in asked) == \
            [("ana", "checkin", False), ("bram", "checkin", False)]
        ana = next(o.data for o in asked if o.data["participant_id"] == "ana")
        await pub.publish(ev.FeedbackSubmitted(feedback_id="c1", relationship_id="r1", participant_id="ana",
                                               kind="checkin", request_id=ana["request_id"], rating=4, progress=4))

        async def counted():  # still healthy (Ana's answer is good), so it shows in the reasons, not a new state
            rows = await fetch(database_url, "SELECT reason_codes::text AS codes FROM feedback.relationship_health "
                                             "WHERE relationship_id = 'r1'")
            return rows and [c for c in json.loads(rows[0]["codes"]) if c["code"] == "checkins_unanswered"]
        found = await eventually(counted, 30, "the unanswered check-in counted")
        await out.wait_for(lambda w: any(o.data["reminder"] for o in w.of_type("feedback.requested")), 30, "the reminder")
    requests = [o for o in out.of_type("feedback.requested") if o.data["relationship_id"] == "r1"]
    reminders = [o.data for o in requests if o.data["reminder"]]
    bram = next(o.data for o in asked if o.data["participant_id"] == "bram")
    assert [(r["request_id"], r["kind"]) for r in reminders] == [(bram["request_id"], "checkin")]  # once, Bram only
    assert reminders[0]["due_at"] > bram["due_at"]
    assert len(requests) == 3 and not out.on_topic(DLQ)
    assert found == [{"code": "checkins_unanswered", "params": {"count": 1}}]


async def test_the_end_brings_a_closure_survey_and_what_the_relationship_achieved(database_url, bootstrap_servers,
                                                                                   topic_prefix):
    async with build_service(settings(database_url, bootstrap_servers, topic_prefix)).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK, DLQ], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(ev.ProgramConfigured(program_id="g", name="Global", term_days=100, checkin_first_day=99))

        async def configured():
            return await fetch(database_url, "SELECT 1 FROM feedback.programs WHERE program_id = 'g'")
        await eventually(configured, 30, "the program's settings")
        await pub.publish(established(at=datetime(2026, 11, 1, 9, tzinfo=UTC)))  # 92 days before the end
        await relationship_known(database_url)
        await pub.publish(ev.MeetingCompleted(meeting_id="m1", relationship_id="r1", program_id="g", mentor_id="bram",
                                              mentee_id="ana", occurrence=1, start=NOW, end=NOW))
        await pub.publish(ev.GoalProgressRecorded(relationship_id="r1", participant_id="ana", goal="negotiation",
                                                  progress=70))
        # Both travel on other topics than the end: taken in before it is told, as they happened.
        await out.wait_for(lambda w: len([o for o in w.of_type("feedback.requested") if o.data["kind"] == "meeting"])
                           == 2, 30, "the meeting's feedback requests")

        async def progress_taken():
            return await fetch(database_url, "SELECT 1 FROM feedback.goal_progress WHERE progress = 70")
        await eventually(progress_taken, 30, "the goal's progress")
        ended = ev.MatchEnded(relationship_id="r1", program_id="g", mentee_id="ana", mentor_id="bram",
                              reason="left the company", ended_at=NOW, reason_code="participant_left")
        await pub.publish(ended)
        await pub.publish(ended)  # told twice
        concluded = (await out.wait_for(lambda w: w.of_type("relationship.concluded"), 60, "the conclusion"))[0].data
        closure = [o.data for o in out.of_type("feedback.requested") if o.data["kind"] == "closure"]
        await pub.publish(ev.FeedbackSubmitted(feedback_id="z1", relationship_id="r1", participant_id="ana",
                                               kind="closure", request_id=next(c["request_id"] for c in closure
                                                                                if c["participant_id"] == "ana"),
                                               rating=5, comment="Thank you for everything"))
        await pub.publish(ev.FeedbackSubmitted(feedback_id="z2", relationship_id="r1", participant_id="bram",
                                               kind="checkin", rating=5))
        await out.wait_for(lambda w: w.on_topic(DLQ), 60, "the late check-in answer refused")

        async def closure_answered():
            return await fetch(database_url, "SELECT 1 FROM feedback.feedback_requests "
                                             "WHERE kind = 'closure' AND answered_at IS NOT NULL")
        await eventually(closure_answered, 30, "the closure answer taken")
    assert sorted(c["participant_id"] for c in closure) == ["ana", "bram"]
    assert concluded | {"established_at": None, "ended_at": None} == {
        "relationship_id": "r1", "program_id": "g", "mentor_id": "bram", "mentee_id": "ana",
        "reason_code": "participant_left", "established_at": None, "ended_at": None, "meetings_held": 1,
        "goals": [{"goal": "public speaking", "progress": 0}, {"goal": "negotiation", "progress": 70}],
        "milestones": [], "term_served": 0.92, "certificate": True}
    assert len(out.of_type("relationship.concluded")) == 1 and len(closure) == 2
    (letter,) = out.on_topic(DLQ)
    assert letter.headers["dlq.error"] == "relationship r1 has ended; check-in answers are no longer taken"
