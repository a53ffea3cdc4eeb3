"""Feedback as a service on a real Kafka and Postgres: bad input is dead-lettered, good input flows on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.entrypoints.app import build_service
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)


async def test_bad_feedback_is_dead_lettered_and_good_feedback_still_flows(database_url, bootstrap_servers, topic_prefix):
    settings = settings_for(FeedbackSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=NOW, max_deferrals=3)
    dlq = topics.dlq(topics.FEEDBACK_SUBMISSIONS)
    async with build_service(settings).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK, dlq], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id="g", mentee_id="ana",
                                              mentor_id="bram", established_at=NOW))
        # The pair travels on another topic: known here before the answers come, so "carl" is refused for
        # not being of the pair, never for the pair not being known yet (max_deferrals is small on purpose).
        await eventually(lambda: fetch(database_url, "SELECT 1 FROM feedback.pairs WHERE relationship_id = 'r1'"),
                         60, "the pair in feedback's replica")
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, b'{"type": "feedback.submitted"}', key="r1")
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f0", relationship_id="r1", participant_id="carl", rating=5))
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r-unknown", participant_id="ana", rating=5))
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f2", relationship_id="r1", participant_id="ana", rating=5,
                                               goals_achieved=["negotiation"]))
        await out.wait_for(lambda w: len(w.on_topic(dlq)) >= 3 and w.of_type("milestone.achieved"), 60, "the outcome")
    reasons = sorted(o.headers["dlq.error"] for o in out.on_topic(dlq))
    assert reasons[0] == "carl is not part of relationship r1"
    assert reasons[1].startswith("not a CloudEvents 1.0 envelope")
    assert reasons[2] == "still unknown after 3 attempts: relationship r-unknown not established here yet"
    assert out.of_type("milestone.achieved")[0].data == {"relationship_id": "r1", "participant_id": "ana",
                                                         "milestone": "negotiation", "goal": None}


async def test_an_answer_handled_before_its_meeting_is_completed_still_answers_that_meetings_request(
        database_url, bootstrap_servers, topic_prefix):
    """Answers (feedback.submissions.v1) and meetings (meetings.v1) are separate topics, so an answer about
    a meeting can be handled first: the request made later is stored answered and is not sent."""
    settings = settings_for(FeedbackSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=NOW)
    async with build_service(settings).running(), Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id="g", mentee_id="ana",
                                              mentor_id="bram", established_at=NOW))
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana",
                                               meeting_id="m1", rating=5, goals_achieved=["first answer"]))
        await out.wait_for(lambda w: w.of_type("milestone.achieved"), 60, "the answer to be handled")
        await pub.publish(ev.MeetingCompleted(meeting_id="m1", relationship_id="r1", program_id="g", mentor_id="bram",
                                              mentee_id="ana", occurrence=1, start=NOW, end=NOW + timedelta(hours=1)))
        await out.wait_for(lambda w: w.of_type("feedback.requested"), 60, "the request to the mentor")
        requests = await fetch(database_url, "SELECT participant_id, answered_at IS NOT NULL AS answered "
                                             "FROM feedback.feedback_requests WHERE meeting_id = 'm1' ORDER BY participant_id")
    assert [(r["participant_id"], r["answered"]) for r in requests] == [("ana", True), ("bram", False)]
    assert [r.data["participant_id"] for r in out.of_type("feedback.requested")] == ["bram"]
