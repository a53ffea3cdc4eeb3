"""SIGKILL a service mid-flow and start it again: nothing is lost and nobody hears anything twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
PAIRS = 8


async def start_program(w: Watcher, portal: Publisher, tag: str, database_url: str) -> None:
    """Mentors in four zones, twice as many mentees, a cohort round; every mentor accepts."""

    async def accept(o):
        if o.type == "match.proposed":
            await portal.publish(ev.ProposalAccepted(proposal_id=o.data["proposal_id"], participant_id=o.data["mentor_id"]))

    w.on_message = accept
    zones = ["Europe/Amsterdam", "Europe/London", "Asia/Kolkata", "America/New_York"]
    for i in range(PAIRS // 2):
        await portal.publish(onboarded(pid=f"mentor-{tag}-{i}", roles=("mentor",), tz=zones[i], seniority=8,
                                       capacity=2, skills=("leadership",), program_id=f"prog-{tag}",
                                       start="07:00", end="19:00"))
    for i in range(PAIRS):
        await portal.publish(onboarded(pid=f"mentee-{tag}-{i}", tz=zones[i % 4], seniority=2, goals=("leadership",),
                                       program_id=f"prog-{tag}", start="08:00", end="18:00"))
    # The round takes the mentees matching knows: wait until it has every profile (a busy machine
    # may take a while).
    await eventually(lambda: _profiles_known(database_url, f"prog-{tag}", PAIRS + PAIRS // 2), 60,
                     "matching knowing every profile")
    await portal.publish(ev.CohortRoundRequested(program_id=f"prog-{tag}", round_id="r1"))


async def _profiles_known(database_url: str, program_id: str, count: int) -> bool:
    rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.participants WHERE program_id = $1", program_id)
    return rows[0]["n"] >= count


async def test_scheduler_killed_while_reminders_are_due(system, infrastructure, topic_prefix, database_url):
    services, clock = system
    tag = uuid.uuid4().hex[:6]
    bootstrap = infrastructure.bootstrap_servers

    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        await start_program(w, portal, tag, database_url)
        kickoffs = await w.wait_for(
            lambda w: len({o.data["relationship_id"] for o in w.of_type("meeting.scheduled")}) >= PAIRS
            and w.of_type("meeting.scheduled"), 120, "every kickoff")
        await w.wait_for(lambda w: w.of_type("reminder.due"), 120, "the first reminder")

        services.replica("scheduling").kill()  # SIGKILL, reminders are falling due
        await asyncio.sleep(0.5)
        services.replica("scheduling").start()
        await asyncio.to_thread(services.wait_ready, 60, ("scheduling",))

        last_start = max(datetime.fromisoformat(o.data["start"]) for o in kickoffs)
        await clock.sleep_until(last_start + timedelta(minutes=1))

        async def settled():
            rows = await fetch(database_url, "SELECT r.status, count(*) AS n FROM scheduling.reminders r "
                                             "JOIN scheduling.meetings m USING (meeting_id) WHERE m.occurrence = 1 "
                                             "GROUP BY r.status")
            return dict((r["status"], r["n"]) for r in rows)
        statuses = await settled()
        fired_ids = {o.data["reminder_id"] for o in w.of_type("reminder.due")}
        await w.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2 * len(fired_ids), 120,
                         "the reminder mails")
        await asyncio.sleep(2)

    assert statuses.get("pending", 0) == 0, statuses  # every reminder fired or was dropped as late: none lost
    assert statuses.get("fired", 0) + statuses.get("late", 0) == 2 * PAIRS
    assert len(fired_ids) == statuses["fired"]  # each fired reminder reached the topic
    meetings_per_pair = Counter(o.data["relationship_id"] for o in w.of_type("meeting.scheduled")
                                if o.data["occurrence"] == 1)
    assert len(meetings_per_pair) == PAIRS
    assert len({(o.data["relationship_id"], o.data["meeting_id"]) for o in w.of_type("meeting.scheduled")
                if o.data["occurrence"] == 1}) == PAIRS  # one kickoff per pair, whatever was re-sent
    mails = [m for m in read_mailbox(infrastructure.mail_dir) if tag in m["To"]]
    deliveries = Counter(m["X-Tandem-Delivery"] for m in mails)
    assert deliveries and max(deliveries.values()) == 1  # no notification sent twice
    reminder_mails = [m for m in mails if m["Subject"].startswith("Reminder")]
    assert len(reminder_mails) == 2 * len(fired_ids)
    assert not [o for o in w.seen if o.topic.endswith(".dlq")]


async def test_notifications_killed_while_sending(system, infrastructure, topic_prefix, database_url):
    services, clock = system
    tag = uuid.uuid4().hex[:6]
    bootstrap = infrastructure.bootstrap_servers

    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        await start_program(w, portal, tag, database_url)
        await w.wait_for(lambda w: w.of_type("match.established") and w.of_type("notification.delivered"), 120,
                         "the first introductions going out")
        services.replica("notifications").kill()  # SIGKILL in the middle of a burst of mail
        await asyncio.sleep(0.5)
        services.replica("notifications").start()
        await asyncio.to_thread(services.wait_ready, 60, ("notifications",))
        await w.wait_for(lambda w: len({o.data["relationship_id"] for o in w.of_type("meeting.scheduled")}) >= PAIRS,
                         120, "every kickoff")
        owed = PAIRS + 2 * PAIRS + 2 * PAIRS  # proposals, introductions, invites

        async def log():
            rows = await fetch(database_url, "SELECT delivery_id, template, status, last_error FROM notifications.deliveries "
                                             "WHERE template IN ('match_proposed', 'match_established', 'meeting_scheduled')")
            return rows if len(rows) >= owed and all(r["status"] in ("delivered", "failed") for r in rows) else None
        for _ in range(100):
            rows = await log()
            if rows:
                break
            await asyncio.sleep(0.3)
        assert rows, "deliveries did not settle"
        ids = {r["delivery_id"] for r in rows}
        await w.wait_for(lambda w: ids <= {o.data["notification_id"] for o in w.of_type("notification.delivered")
                                           + w.of_type("notification.failed")}, 30, "every outcome announced")

    assert Counter(r["template"] for r in rows) == {"match_proposed": PAIRS, "match_established": 2 * PAIRS,
                                                    "meeting_scheduled": 2 * PAIRS}  # nothing lost
    failed = [r for r in rows if r["status"] == "failed"]
    assert all("interrupted while sending" in r["last_error"] for r in failed)  # only a send cut off by the kill
    # Only sends in flight at the kill: mail goes out over `smtp_concurrency` connections at once.
    assert len(failed) <= NotificationSettings().smtp_concurrency
    mails = [m for m in read_mailbox(infrastructure.mail_dir) if tag in m["To"]]
    deliveries = Counter(m["X-Tandem-Delivery"] for m in mails)
    assert max(deliveries.values()) == 1  # no notification sent twice
    assert {r["delivery_id"] for r in rows if r["status"] == "delivered"} <= set(deliveries)
