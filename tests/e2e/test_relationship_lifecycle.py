"""One relationship's whole life across the four service processes, on a real Kafka and PostgreSQL:
a two-week program with a check-in on day 3; the pair meets, reaches a goal, answers the check-in,
is told a week ahead that the term ends, and ends well at the term: closure surveys for both, what
the relationship achieved with a certificate, and the meeting still planned cancelled (METHOD:CANCEL).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.e2e.conftest import SPEED
from tests.support.people import onboarded

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
PROGRAM = "prog-lifecycle"


@pytest.fixture
def clock_speed() -> float:
    return 4 * SPEED  # eight program hours a real second: the two-week term passes in under a minute


async def test_a_relationship_lives_its_term_and_ends_well(system, infrastructure, topic_prefix):
    _, clock = system
    tag = uuid.uuid4().hex[:6]
    mentor_id, mentee_id = f"mentor-{tag}", f"mentee-{tag}"
    bootstrap = infrastructure.bootstrap_servers
    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        await portal.publish(ev.ProgramConfigured(program_id=PROGRAM, name="Two weeks", term_days=14,
                                                  checkin_first_day=3, checkin_every_days=30))
        await portal.publish(onboarded(pid=mentor_id, roles=("mentor",), seniority=8, capacity=1,
                                       skills=("public speaking", "negotiation"), program_id=PROGRAM))
        await portal.publish(onboarded(pid=mentee_id, seniority=2, goals=("public speaking", "negotiation"),
                                       program_id=PROGRAM))
        await portal.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=PROGRAM))
        proposal = (await w.wait_for(lambda w: w.of_type("match.proposed"), 60, "a proposal"))[0].data
        await portal.publish(ev.ProposalAccepted(proposal_id=proposal["proposal_id"], participant_id=mentor_id))
        pair = (await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match"))[0].data
        rid = pair["relationship_id"]
        established_at = datetime.fromisoformat(pair["established_at"])

        # They meet: the kickoff is held.
        kickoff = (await w.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
        await clock.sleep_until(datetime.fromisoformat(kickoff["end"]))
        await portal.publish(ev.MeetingAttendanceRecorded(
            meeting_id=kickoff["meeting_id"], relationship_id=rid, recorded_by=mentor_id,
            attendance={mentor_id: True, mentee_id: True}))
        # Progress on a goal, up to 100: celebrated.
        for progress in (50, 100):
            await portal.publish(ev.GoalProgressRecorded(relationship_id=rid, participant_id=mentee_id,
                                                         goal="public speaking", progress=progress))
        achieved = (await w.wait_for(lambda w: w.of_type("goal.achieved"), 60, "the goal achieved"))[0].data

        # Day 3: both are asked how it goes, and answer.
        checkins = await w.wait_for(lambda w: len(_of_kind(w, "checkin")) >= 2 and _of_kind(w, "checkin"),
                                    60, "the check-in")
        for asked in checkins:
            await portal.publish(ev.FeedbackSubmitted(
                feedback_id=f"fb-{asked['request_id']}", relationship_id=rid, participant_id=asked["participant_id"],
                kind="checkin", request_id=asked["request_id"], rating=5, progress=4))

        # A week before the end the pair is told; at the term the relationship ends, well.
        notice = (await w.wait_for(lambda w: w.of_type("relationship.end.scheduled"), 90, "the heads-up"))[0].data
        concluded = (await w.wait_for(lambda w: w.of_type("relationship.concluded"), 90, "the conclusion"))[0].data
        closure = await w.wait_for(lambda w: len(_of_kind(w, "closure")) >= 2 and _of_kind(w, "closure"), 30,
                                   "the closure surveys")
        cancelled = (await w.wait_for(lambda w: w.of_type("meeting.cancelled"), 30, "what remained cancelled"))[0].data
        # Both are told of the end and asked to look back: notifications has read what the end caused.
        last = {o.envelope["id"] for o in w.of_type("feedback.requested") if o.data["kind"] == "closure"}
        await w.wait_for(lambda w: len(last & {o.data["cause_event_id"] for o in w.of_type("notification.delivered")})
                         == 2, 60, "the closure surveys delivered")

    ends_at = established_at + timedelta(days=14)
    assert achieved["goal"] == "public speaking" and len(w.of_type("goal.achieved")) == 1
    assert sorted(c["participant_id"] for c in checkins) == sorted([mentor_id, mentee_id])
    assert not [o for o in w.of_type("feedback.requested") if o.data["reminder"]]  # both answered in time
    assert datetime.fromisoformat(notice["ends_at"]) == ends_at
    (ended,) = w.of_type("match.ended")
    assert ended.data["reason_code"] == "term_completed" and datetime.fromisoformat(ended.data["ended_at"]) >= ends_at
    assert sorted(c["participant_id"] for c in closure) == sorted([mentor_id, mentee_id])
    assert concluded["certificate"] is True and concluded["term_served"] == 1.0
    assert concluded["meetings_held"] == 1 and concluded["reason_code"] == "term_completed"
    assert concluded["goals"] == [{"goal": "public speaking", "progress": 100}, {"goal": "negotiation", "progress": 0}]
    assert cancelled["relationship_id"] == rid and cancelled["occurrence"] == 2
    assert "METHOD:CANCEL" in cancelled["ics"]
    assert cancelled["reason"] == "the mentoring relationship has completed its planned term"
    assert not [o for o in w.seen if o.topic.endswith(topics.DLQ_SUFFIX)]


def _of_kind(w: Watcher, kind: str) -> list[dict]:
    return [o.data for o in w.of_type("feedback.requested") if o.data["kind"] == kind]
