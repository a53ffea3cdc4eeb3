"""Two replicas of every service in one consumer group, many mentees sharing few mentors, and one
replica of matching and one of scheduling killed with SIGKILL mid-flow.

The invariants are checked independently of the services' own code: from what crossed the topics,
what reached the mailbox and (for proposals over time) matching's record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tandem.local.stack import Services, free_http_ports
from tests.e2e.conftest import PROGRAM_START, SPEED
from tests.support.people import onboarded
from tests.support.runtime import fetch

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
MENTORS, CAPACITY, MENTEES = 4, 3, 20  # 12 places for 20 mentees: matching and scheduling contend


@pytest.fixture
def replicated(infrastructure, database_url, topic_prefix, tmp_path):
    clock = ProgramClock(start=PROGRAM_START, speed=SPEED)
    services = Services.on(
        database_url=database_url, bootstrap_servers=infrastructure.bootstrap_servers,
        smtp_port=infrastructure.smtp_port, http_ports=free_http_ports(2), replicas=2, log_dir=tmp_path / "logs",
        topic_prefix=topic_prefix, clock_env=clock.env(),
        extra={"TANDEM_OUTBOX_POLL_SECONDS": "0.5", "TANDEM_RETRY_BACKOFF_MAX_SECONDS": "1",
               "TANDEM_SENDING_LEASE_SECONDS": "3"},
    )
    services.start()
    try:
        services.wait_ready(timeout=120)
        yield services, clock
    finally:
        services.stop()


async def restart(services: Services, name: str) -> None:
    proc = services.processes[name]
    proc.kill()  # SIGKILL: no shutdown hooks, whatever was in flight is cut off
    await asyncio.sleep(0.5)
    proc.start()  # what `tandem up` does for a replica that died
    await asyncio.to_thread(services.wait_ready, 90, (name,))


def overlapping(intervals: list[tuple[datetime, datetime, str]]) -> list[tuple[str, str]]:
    ordered = sorted(intervals)
    return [(a[2], b[2]) for a, b in zip(ordered, ordered[1:]) if b[0] < a[1]]


async def test_two_replicas_with_sigkills_keep_every_invariant(replicated, infrastructure, topic_prefix, database_url):
    services, clock = replicated
    tag = uuid.uuid4().hex[:6]
    program = f"prog-{tag}"
    bootstrap = infrastructure.bootstrap_servers
    mentors = [f"mentor-{tag}-{i}" for i in range(MENTORS)]
    mentees = [f"mentee-{tag}-{i}" for i in range(MENTEES)]

    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        async def accept(o):
            if o.type == "match.proposed":
                await portal.publish(ev.ProposalAccepted(proposal_id=o.data["proposal_id"],
                                                         participant_id=o.data["mentor_id"]))
        w.on_message = accept

        for pid in mentors:  # one zone, long days: every pair can meet, so mentors' calendars fill up
            await portal.publish(onboarded(pid=pid, roles=("mentor",), seniority=8, capacity=CAPACITY,
                                           skills=("leadership",), program_id=program, start="08:00", end="18:00"))
        for pid in mentees:
            await portal.publish(onboarded(pid=pid, seniority=2, goals=("leadership",), program_id=program,
                                           start="09:00", end="17:00"))
        for pid in mentees:  # keyed by mentee: spread over all partitions, so over both replicas
            await portal.publish(ev.MatchRequested(mentee_id=pid, program_id=program))

        await w.wait_for(lambda w: len(w.of_type("match.established")) >= 3, 120, "the first relationships")
        await restart(services, "matching#1")
        await w.wait_for(lambda w: len(w.of_type("meeting.scheduled")) >= 3, 120, "the first kickoffs")
        await restart(services, "scheduling#2")

        def answered(w):  # every request ends in a relationship or a plain-words "no"
            done = {o.data["mentee_id"] for o in w.of_type("match.established") + w.of_type("match.unavailable")}
            return set(mentees) <= done
        await w.wait_for(answered, 180, "an answer for every mentee")
        established = {o.data["relationship_id"] for o in w.of_type("match.established")}

        def planned(w):
            seen = {o.data["relationship_id"] for name in ("meeting.scheduled", "meeting.unplaceable",
                                                           "relationship.unschedulable") for o in w.of_type(name)
                    if o.data.get("occurrence", 1) == 1 or name == "relationship.unschedulable"}
            return established <= seen
        await w.wait_for(planned, 120, "a kickoff (or a reason) for every relationship")

        def invites(w) -> tuple[set, set]:
            owed = {(o.envelope["id"], who) for o in w.of_type("meeting.scheduled")
                    for who in (o.data["mentor_id"], o.data["mentee_id"])}
            sent = {(o.data["cause_event_id"], o.data["recipient_id"]) for o in w.of_type("notification.delivered")
                    if o.data["template"] == "meeting_scheduled"}
            return owed, sent
        await w.wait_for(lambda w: invites(w)[0] <= invites(w)[1], 120, "every invite delivered")
        await asyncio.sleep(2)  # anything still in flight would show as a duplicate now

    # No mentor over capacity, no mentee with two relationships.
    relationships = {o.data["relationship_id"]: o.data for o in w.of_type("match.established")}
    per_mentor = Counter(r["mentor_id"] for r in relationships.values())
    assert max(per_mentor.values()) <= CAPACITY, per_mentor
    assert len(relationships) == MENTORS * CAPACITY  # every place taken: no lost request
    assert max(Counter(r["mentee_id"] for r in relationships.values()).values()) == 1

    # No mentee with two open proposals at once, and no mentor holding more than their capacity at
    # any moment (a proposal holds a place from its creation until it is declined or expires).
    rows = await fetch(database_url, "SELECT mentee_id, mentor_id, status, created_at, closed_at "
                                     "FROM matching.proposals")
    assert len(rows) == len({o.data["proposal_id"] for o in w.of_type("match.proposed")})
    end_of_time = datetime.max.replace(tzinfo=rows[0]["created_at"].tzinfo)
    holds = defaultdict(list)
    for r in rows:
        until = end_of_time if r["status"] in ("pending", "accepted") else r["closed_at"]
        holds[("mentee", r["mentee_id"])].append((r["created_at"], until, r["mentor_id"]))
        holds[("mentor", r["mentor_id"])].append((r["created_at"], until, r["mentee_id"]))
    for (role, who), spans in holds.items():
        if role == "mentee":
            assert not overlapping(spans), (who, spans)
        else:
            events = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
            held, peak = 0, 0
            for _, step in events:
                held += step
                peak = max(peak, held)
            assert peak <= CAPACITY, (who, peak)

    # Nobody has two meetings at the same time (from the events: the latest state of each meeting).
    meetings: dict[str, dict] = {}
    for name in ("meeting.scheduled", "meeting.rescheduled", "meeting.cancelled"):
        for o in w.of_type(name):
            meetings.setdefault(o.data["meeting_id"], {})[o.data["sequence"]] = (name, o.data)
    calendars = defaultdict(list)
    for meeting_id, versions in meetings.items():
        name, data = versions[max(versions)]
        if name != "meeting.cancelled":
            for who in (data["mentor_id"], data["mentee_id"]):
                calendars[who].append((datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]),
                                       meeting_id))
    for who, spans in calendars.items():
        assert not overlapping(spans), (who, overlapping(spans))
    kickoffs = Counter(o.data["relationship_id"] for o in w.of_type("meeting.scheduled") if o.data["occurrence"] == 1)
    assert set(kickoffs) <= set(relationships)
    assert len({(o.data["relationship_id"], o.data["meeting_id"]) for o in w.of_type("meeting.scheduled")
                if o.data["occurrence"] == 1}) == len(kickoffs)  # one kickoff per pair, whatever was re-sent

    # No mail twice; every invite reached its two people.
    mails = [m for m in read_mailbox(infrastructure.mail_dir) if tag in m["To"]]
    deliveries = Counter(m["X-Tandem-Delivery"] for m in mails)
    assert deliveries and max(deliveries.values()) == 1
    invite_mails = {o.data["notification_id"] for o in w.of_type("notification.delivered")
                    if o.data["template"] == "meeting_scheduled"}
    assert invite_mails <= set(deliveries)  # each invite reached the mailbox (once, see above)
    assert not [o for o in w.seen if o.topic.endswith(".dlq")], [o.headers for o in w.seen if o.topic.endswith(".dlq")]
