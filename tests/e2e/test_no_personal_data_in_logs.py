"""No personal data in logs or dead-letter reasons: a whole flow runs, including messages that
are refused, and then every log file and every dead letter's reason is searched for the
participants' names and e-mail addresses."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import person

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]


async def test_names_and_addresses_reach_no_log_and_no_dead_letter_reason(system, infrastructure, topic_prefix,
                                                                           tmp_path):
    services, clock = system
    tag = uuid.uuid4().hex[:6]
    program = f"prog-{tag}"
    mentor = {**person(f"m-{tag}", roles=("mentor",), seniority=8, capacity=2, skills=("negotiation",),
                       program_id=program), "name": f"Bartholomew Quistgaard {tag}",
              "email": f"bart.quistgaard.{tag}@example.org"}
    mentee = {**person(f"e-{tag}", seniority=2, goals=("negotiation",), program_id=program),
              "name": f"Ximena Oyelaran {tag}", "email": f"ximena.oyelaran.{tag}@example.org"}
    secrets = [mentor["name"], mentor["email"], mentee["name"], mentee["email"], "not-an-address-" + tag]
    bootstrap = infrastructure.bootstrap_servers
    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        await portal.publish(ev.ParticipantOnboarded.model_validate(mentor))
        await portal.publish(ev.ParticipantOnboarded.model_validate(mentee))
        # Refused at the door: an invalid address, and a profile with a name but no id.
        await portal.send_raw(topics.PARTICIPANTS, json.dumps({
            "specversion": "1.0", "id": f"bad-{tag}", "source": "/hris", "type": "participant.onboarded",
            "time": "2027-01-04T08:00:00Z", "data": {**mentee, "participant_id": f"x-{tag}",
                                                      "email": "not-an-address-" + tag}}).encode(), key=f"x-{tag}")
        await portal.send_raw(topics.PARTICIPANTS, json.dumps({
            "specversion": "1.0", "id": f"bad2-{tag}", "source": "/hris", "type": "participant.onboarded",
            "time": "2027-01-04T08:00:00Z", "data": {**mentee, "participant_id": ""}}).encode(), key=f"y-{tag}")
        await portal.publish(ev.MatchRequested(mentee_id=mentee["participant_id"], program_id=program))
        proposal = (await w.wait_for(lambda w: w.of_type("match.proposed"), 90, "a proposal"))[0].data
        await portal.publish(ev.ProposalAccepted(proposal_id=proposal["proposal_id"], participant_id=proposal["mentor_id"]))
        kickoff = (await w.wait_for(lambda w: w.of_type("meeting.scheduled"), 90, "the kickoff"))[0].data
        await clock.sleep_until(datetime.fromisoformat(kickoff["end"]))
        await portal.publish(ev.MeetingAttendanceRecorded(
            meeting_id=kickoff["meeting_id"], relationship_id=kickoff["relationship_id"],
            recorded_by=kickoff["mentor_id"], attendance={kickoff["mentor_id"]: True, kickoff["mentee_id"]: True}))
        requests = await w.wait_for(lambda w: len(w.of_type("feedback.requested")) >= 2 and w.of_type("feedback.requested"),
                                    90, "feedback requests")
        for r in requests:  # free text naming the other person: it is stored, never logged
            await portal.publish(ev.FeedbackSubmitted(
                feedback_id=f"fb-{r.data['request_id']}", relationship_id=r.data["relationship_id"],
                participant_id=r.data["participant_id"], meeting_id=kickoff["meeting_id"], rating=2,
                comment=f"Talked with {mentor['name']} and {mentee['name']}."))
        await w.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 7
                         and len([o for o in w.seen if o.topic.endswith(".dlq")]) >= 2, 120, "mail and dead letters")

    letters = [o for o in w.seen if o.topic.endswith(".dlq")]
    reasons = " ".join(o.headers.get("dlq.error", "") for o in letters)
    assert "not an e-mail address" in reasons
    logs = " ".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log"))
    assert len(logs) > 10_000  # the services did log plenty
    for secret in secrets:
        assert secret not in logs, f"{secret!r} is in a log"
        assert secret not in reasons, f"{secret!r} is in a dead-letter reason"
    assert mentor["email"] not in json.dumps([o.data for o in w.of_type("notification.failed")])
