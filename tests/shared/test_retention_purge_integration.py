"""Retention on a real PostgreSQL: each service's purge deletes or empties what is past its time, and
only that, once, also with several replicas purging at the same time."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.adapters import retention as feedback_retention
from services.feedback.entrypoints.app import MIGRATIONS as FEEDBACK_MIGRATIONS
from services.matching.adapters import retention as matching_retention
from services.matching.entrypoints.app import MIGRATIONS as MATCHING_MIGRATIONS
from services.notifications.adapters import retention as notifications_retention
from services.notifications.entrypoints.app import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from services.scheduling.adapters import retention as scheduling_retention
from services.scheduling.entrypoints.app import MIGRATIONS as SCHEDULING_MIGRATIONS
from shared import retention
from shared.contracts import topics
from shared.db import create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.purge import PURGED, Purge, RetentionSettings, plumbing_rules
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.settings import ServiceSettings
from tests.support.runtime import eventually, settings_for

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)  # the program clock's now
KEEP = RetentionSettings()
SERVICES = {
    "notifications": (NOTIFICATIONS_MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK), notifications_retention),
    "feedback": (FEEDBACK_MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK), feedback_retention),
    "matching": (MATCHING_MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK), matching_retention),
    "scheduling": (SCHEDULING_MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK), scheduling_retention),
}


async def schema_of(database_url: str, service: str):
    migrations, replicas, module = SERVICES[service]
    pool = await create_pool(database_url, service, size=4)
    await migrate(pool, service, migrations, replicas)
    return pool, plumbing_rules(KEEP.days("outbox")) + module.rules(KEEP)


def purged(service: str, table: str, action: str) -> float:
    return PURGED.labels(service, table, action)._value.get()


@pytest.mark.parametrize("service", list(SERVICES))
async def test_every_rule_runs_on_its_service_schema(database_url, service):
    pool, rules = await schema_of(database_url, service)
    try:
        assert await Purge(service, pool, rules, lambda: NOW).until_done() == 0  # nothing there yet: nothing purged
    finally:
        await pool.close()


async def test_inbox_rows_outlive_their_topic_and_go_after(database_url):
    pool, rules = await schema_of(database_url, "matching")
    try:
        real_now = await pool.fetchval("SELECT now()")
        rows = []
        for name in (topics.PARTICIPANTS, topics.MATCHES + ".dlq", topics.MATCH_REQUESTS, topics.PRIVACY, "gone.v0"):
            keep = retention.inbox_keep(name) if name != "gone.v0" else retention.longest_inbox_keep()
            rows += [(name, f"{name}/old", real_now - keep - timedelta(hours=1)),
                     (name, f"{name}/kept", real_now - keep + timedelta(hours=1)),
                     # still on the topic: must be remembered
                     (name, f"{name}/on-topic", real_now - (retention.topic_retention(name) if name != "gone.v0"
                                                            else timedelta(days=400)))]
        await pool.executemany("INSERT INTO inbox (topic, event_id, event_type, digest, received_at) "
                               "VALUES ($1, $2, 'x', '\\x00', $3)", rows)
        before = purged("matching", "inbox", "delete")
        await Purge("matching", pool, rules, lambda: NOW).until_done()
        left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}
        assert left == {e for _, e, _ in rows if not e.endswith("/old")}
        assert purged("matching", "inbox", "delete") - before == 5
    finally:
        await pool.close()


async def _delivery(pool, delivery_id: str, *, status: str, created: datetime, attachment: bool = False) -> None:
    await pool.execute(
        "INSERT INTO deliveries (delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type, "
        "address, subject, body, html, attachment, not_before, status, last_error, created_at, unsubscribe_url) "
        "VALUES ($1, 'p-1', 'email', 'certificate', 'en', 'e-1', 'relationship.concluded', 'ana.garcia@example.com', "
        "'For Ana García', 'Dear Ana García', '<p>Dear Ana García</p>', $2, $3, $4, "
        "CASE WHEN $4 = 'failed' THEN '550 no such user ana.garcia@example.com' END, $3, 'https://x/prefs')",
        delivery_id, json.dumps({"filename": "c.pdf", "content": "JVBERi0=", "mime_type": "application/pdf",
                                 "encoding": "base64"}) if attachment else None, created, status)


async def test_notifications_empties_settled_messages_then_deletes_their_rows(database_url):
    pool, rules = await schema_of(database_url, "notifications")
    try:
        real_now = await pool.fetchval("SELECT now()")
        content, row = KEEP.days("delivery_content"), KEEP.days("delivery")
        await _delivery(pool, "old-delivered", status="delivered", created=real_now - content - timedelta(days=1),
                        attachment=True)
        await _delivery(pool, "old-failed", status="failed", created=real_now - content - timedelta(days=1))
        await _delivery(pool, "recent", status="delivered", created=real_now - content + timedelta(days=1))
        await _delivery(pool, "old-pending", status="pending", created=real_now - content - timedelta(days=5))
        await _delivery(pool, "ancient", status="delivered", created=real_now - row - timedelta(days=1))
        day = KEEP.days("digest_item")
        await pool.executemany(
            "INSERT INTO digest_items (program_id, item_id, kind, occurred_at, details, local_date) "
            "VALUES ('prog-1', $1, 'dead_letter', $2, '{}', $3)",
            [("told-long-ago", NOW - day - timedelta(days=3), (NOW - day - timedelta(days=2)).date()),
             ("told-yesterday", NOW - timedelta(days=1), NOW.date()),
             ("never-told-old", NOW - day - timedelta(days=1), None),
             ("waiting", NOW - timedelta(hours=2), None)])

        await Purge("notifications", pool, rules, lambda: NOW).until_done()

        rows = {r["delivery_id"]: r for r in await pool.fetch("SELECT * FROM deliveries")}
        assert set(rows) == {"old-delivered", "old-failed", "recent", "old-pending"}
        for emptied in ("old-delivered", "old-failed"):
            r = rows[emptied]
            assert (r["address"], r["subject"], r["body"], r["html"], r["attachment"], r["unsubscribe_url"],
                    r["last_error"]) == ("", "", "", "", None, None, None)
            assert (r["recipient_id"], r["template"], r["status"]) == ("p-1", "certificate", emptied.split("-")[1])
        for kept in ("recent", "old-pending"):  # not yet due, or not yet sent: untouched
            assert rows[kept]["address"] == "ana.garcia@example.com" and rows[kept]["body"] == "Dear Ana García"
        items = {r["item_id"] for r in await pool.fetch("SELECT item_id FROM digest_items")}
        assert items == {"told-yesterday", "waiting"}
    finally:
        await pool.close()


async def test_feedback_keeps_a_rolling_window_of_facts_and_empties_old_comments(database_url):
    pool, rules = await schema_of(database_url, "feedback")
    try:
        window = KEEP.days("analytics")
        old, recent = NOW - window - timedelta(days=1), NOW - window + timedelta(days=1)
        await pool.executemany("INSERT INTO analytics_onboardings VALUES ($1, 'prog-1', $2)",
                               [("p-old", old), ("p-new", recent)])
        await pool.executemany("INSERT INTO analytics_proposals VALUES ($1, 'prog-1', 'e', 'm', $2, $3, $4)",
                               [("closed-old", "declined", old, old), ("open-old", "open", old, None),
                                ("closed-new", "accepted", recent, recent)])
        await pool.execute("INSERT INTO pairs (relationship_id, program_id, mentor_id, mentee_id, established_at) "
                           "VALUES ('r-1', 'prog-1', 'm', 'e', $1)", old)
        comment = KEEP.days("comment")
        await pool.executemany("INSERT INTO feedback (feedback_id, relationship_id, participant_id, rating, comment, "
                               "submitted_at) VALUES ($1, 'r-1', 'e', 4, 'Ana helped me a lot', $2)",
                               [("f-old", NOW - comment - timedelta(days=1)), ("f-new", NOW - timedelta(days=3))])

        await Purge("feedback", pool, rules, lambda: NOW).until_done()

        assert {r["participant_id"] for r in await pool.fetch("SELECT * FROM analytics_onboardings")} == {"p-new"}
        assert {r["proposal_id"] for r in await pool.fetch("SELECT * FROM analytics_proposals")} == {"open-old",
                                                                                                    "closed-new"}
        comments = {r["feedback_id"]: (r["comment"], r["rating"]) for r in await pool.fetch("SELECT * FROM feedback")}
        assert comments == {"f-old": (None, 4), "f-new": ("Ana helped me a lot", 4)}
    finally:
        await pool.close()


async def test_replicas_purging_together_remove_each_row_once(database_url):
    """Three replicas, small batches, the same expired rows: all go, each counted once."""
    pool, rules = await schema_of(database_url, "notifications")
    try:
        real_now = await pool.fetchval("SELECT now()")
        keep = retention.inbox_keep(topics.MATCHES)
        await pool.execute(
            "INSERT INTO inbox (topic, event_id, event_type, digest, received_at) "
            "SELECT $1, 'e' || i, 'x', '\\x00', $2 FROM generate_series(1, 3000) i",
            topics.MATCHES, real_now - keep - timedelta(days=1))
        replicas = [Purge("notifications", pool, rules, lambda: NOW, batch=50) for _ in range(3)]
        before = purged("notifications", "inbox", "delete")
        counts = await asyncio.gather(*(r.until_done() for r in replicas))
        assert sum(counts) == 3000
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
        assert purged("notifications", "inbox", "delete") - before == 3000
    finally:
        await pool.close()


@pytest.mark.parametrize("service", list(SERVICES))
async def test_each_running_service_purges(service, database_url, bootstrap_servers, topic_prefix, monkeypatch):
    """The purge is one of each service's loops: an expired inbox row goes while the service runs."""
    monkeypatch.setenv("TANDEM_RETAIN_POLL_SECONDS", "0.2")
    app = importlib.import_module(f"services.{service}.entrypoints.app")
    cls = next(c for c in ServiceSettings.__subclasses__() if c.__module__ == f"services.{service}.settings")
    settings = settings_for(cls, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix)
    async with app.build_service(settings).running() as running:
        expired = await running.pool.fetchval("SELECT now()") - retention.inbox_keep(topics.MATCHES) - timedelta(days=1)
        await running.pool.execute("INSERT INTO inbox (topic, event_id, event_type, digest, received_at) "
                                   "VALUES ($1, 'old', 'x', '\\x00', $2)", topics.MATCHES, expired)

        async def gone():
            return await running.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = 'old'") == 0
        await eventually(gone, 30, "the expired inbox row purged")
