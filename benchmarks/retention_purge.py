"""Benchmark: the retention purge (shared/purge.py) on PostgreSQL, in the batches it uses in service.

A notifications schema holds settled messages past their content retention (with a 20 KB body and
HTML each, a third with a PDF) beside as many recent ones, and an inbox of expired event ids beside
as many kept ones. We measure how many rows a second one replica empties or deletes, then three
replicas at once on the same rows (SKIP LOCKED: each takes what the others have not locked), and
the longest single batch (how long one transaction holds its row locks).

    .venv/bin/python -m benchmarks.retention_purge [--deliveries 20000] [--inbox 200000] [--batch 500]

DATABASE_URL, when set, is used (a fresh database is made on it); otherwise a throwaway local server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from benchmarks.report import write_section
from services.notifications.adapters import retention as notifications_retention
from services.notifications.entrypoints.app import MIGRATIONS
from shared import retention
from shared.contracts import topics
from shared.db import create_database, create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.purge import Purge, RetentionSettings, Rule, plumbing_rules
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK

NOW = datetime(2027, 6, 1, tzinfo=UTC)


@contextmanager
def database():
    if os.environ.get("DATABASE_URL"):
        yield asyncio.run(create_database(os.environ["DATABASE_URL"], "bench"))
        return
    from benchmarks.infra import local_infrastructure

    with local_infrastructure() as (_, url):
        yield url


async def seed(pool, deliveries: int, inbox: int) -> None:
    keep = RetentionSettings()
    await pool.execute(
        "INSERT INTO deliveries (delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type, "
        "address, subject, body, html, attachment, not_before, status, created_at) "
        "SELECT 'd' || i, 'p' || i, 'email', 'certificate', 'en', 'e' || i, 'x', 'person' || i || '@example.com', "
        "'Subject', repeat('body ', 4000), repeat('<p>html</p>', 2000), "
        "CASE WHEN i % 3 = 0 THEN jsonb_build_object('filename', 'c.pdf', 'content', repeat('QUJD', 5000), "
        "'mime_type', 'application/pdf', 'encoding', 'base64') END, now(), 'delivered', "
        "CASE WHEN i % 2 = 0 THEN now() - $2::interval ELSE now() END "
        "FROM generate_series(1, $1) i", deliveries * 2, keep.days("delivery_content") + timedelta(days=1))
    await pool.execute(
        "INSERT INTO inbox (topic, event_id, event_type, digest, received_at) "
        "SELECT $1, 'e' || i, 'x', '\\x00', CASE WHEN i % 2 = 0 THEN now() - $3::interval ELSE now() END "
        "FROM generate_series(1, $2) i", topics.MATCHES, inbox * 2,
        retention.inbox_keep(topics.MATCHES) + timedelta(days=1))
    await pool.execute("ANALYZE")


async def timed(purges: list[Purge], rule: Rule) -> tuple[int, float, float]:
    """(rows, seconds, longest batch in seconds) for `purges` running `rule` at once until it is done."""
    longest = 0.0

    async def drain(purge: Purge) -> int:
        nonlocal longest
        done = 0
        while True:
            started = time.perf_counter()
            count = await purge.run_rule(rule)
            longest = max(longest, time.perf_counter() - started)
            if not count:
                return done
            done += count

    started = time.perf_counter()
    rows = sum(await asyncio.gather(*(drain(p) for p in purges)))
    return rows, time.perf_counter() - started, longest


async def measure(url: str, deliveries: int, inbox: int, batch: int) -> list[tuple[str, int, int, float, float]]:
    keep = RetentionSettings()
    content = next(r for r in notifications_retention.rules(keep) if r.name == "deliveries content")
    inbox_rule = next(r for r in plumbing_rules(keep.days("outbox"))
                      if r.table == "inbox" and f"'{topics.MATCHES}'" in r.expired)
    results = []
    for replicas in (1, 3):
        pool = await create_pool(url, "notifications", size=4)
        try:
            await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
            await pool.execute("TRUNCATE deliveries, inbox")
            await seed(pool, deliveries, inbox)
            purges = [Purge("notifications", pool, [], lambda: NOW, batch=batch) for _ in range(replicas)]
            for what, rule in (("settled messages emptied", content), ("inbox rows deleted", inbox_rule)):
                rows, seconds, longest = await timed(purges, rule)
                results.append((what, replicas, rows, rows / seconds, longest))
                print(f"{what}, {replicas} replica(s): {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f}/s, "
                      f"longest batch {longest * 1000:.0f} ms", flush=True)
        finally:
            await pool.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20_000, help="expired settled messages (as many recent)")
    parser.add_argument("--inbox", type=int, default=200_000, help="expired inbox rows (as many kept)")
    parser.add_argument("--batch", type=int, default=RetentionSettings().batch)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    with database() as url:
        results = asyncio.run(measure(url, args.deliveries, args.inbox, args.batch))
    rows = "\n".join(f"| {what} | {replicas} | {count:,} | {rate:,.0f} | {longest * 1000:.0f} ms |"
                     for what, replicas, count, rate, longest in results)
    body = f"""Batches of {args.batch} rows, one transaction each (`DELETE/UPDATE ... WHERE ctid IN (SELECT ... LIMIT n
FOR UPDATE SKIP LOCKED)`), on a table holding as many rows that must stay. Settled messages carry a
20 KB body and HTML, a third of them a PDF.

| what | replicas | rows | rows/s | longest batch |
|---|---|---|---|---|
{rows}

Every row is purged once with three replicas as with one (tests/shared/test_retention_purge_integration.py).
The purge runs hourly by default (`TANDEM_RETAIN_POLL_SECONDS`), so a day's worth of expired rows
takes seconds."""
    if not args.no_write:
        write_section("retention_purge", "Retention purge", body)


if __name__ == "__main__":
    main()
