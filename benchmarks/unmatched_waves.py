"""Benchmark: notifications applying a cohort round's `match.unavailable`, one at a time against in waves.

Records go straight to `Consumer.dispatch_batch` (no Kafka), in batches of the consumer's batch size,
on a real PostgreSQL with the notifications schema: distinct mentees (known, in several languages and
tones), most of them unmatched (told, and in the digest), one in ten `awaiting_answer` (nobody told).
Reports CPU per event of this process (time.process_time, mail rendering included) and statements
per event (every one a round trip), counted on the pool's connections.

    .venv/bin/python -m benchmarks.unmatched_waves [--events 2000] [--batch 200]

The database is DATABASE_URL's server when set, else a local PostgreSQL started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from benchmarks.consumer_path import server
from services.notifications.entrypoints.app import MIGRATIONS
from services.notifications.service_layer.handlers import SUBSCRIPTIONS, NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from services.notifications.settings import NotificationSettings
from shared import db
from shared.clock import ProgramClock
from shared.consumer import Consumer, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from shared.loops import Wakeup
from shared.people import Participant
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from tests.support.people import onboarded

STATEMENTS: Counter[str] = Counter()
LOCALES = [("nl-NL", "direct"), ("pt-BR", "indirect"), ("de-DE", "direct"), ("ja-JP", "indirect"), ("en-GB", "direct")]
TOPIC, EVENT_TYPE = topic_of(ev.MatchUnavailable)


async def _counting_init(conn, _original=db._init_connection) -> None:
    await _original(conn)
    conn.add_query_logger(lambda record: STATEMENTS.update([(record.query or "?").split()[0].upper()]))


def records(n: int) -> list[ConsumerRecord]:
    made = []
    for i in range(n):
        code = "awaiting_answer" if i % 10 == 9 else ("mentors_at_capacity", "no_shared_language")[i % 2]
        data = ev.MatchUnavailable(
            program_id="prog-1",
            mentee_id=f"m-{i}",
            reason="(the team's English)",
            reason_code=code,
            reason_params={"compatible": 2} if i % 2 == 0 else {},
        )
        value = new_envelope(
            type=EVENT_TYPE, source="/bench", data=data, time=datetime(2027, 1, 4, 10, tzinfo=UTC), id=f"u-{i}"
        ).to_json()
        made.append(ConsumerRecord(TOPIC, 0, i, 0, 0, data.mentee_id.encode(), value, None, 0, len(value), ()))
    return made


async def measure(server_url: str, events: int, *, set_wise: bool, batch: int) -> tuple[float, float, float]:
    pool = await db.create_pool(await db.create_database(server_url, "bench_unmatched"), "notifications", size=2)
    await db.migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    clock = ProgramClock()

    def transaction():
        return unit_of_work(
            pool, source="/tandem/notifications", clock=clock, schema="notifications", cls=NotificationsUnitOfWork
        )

    async with transaction() as uow:
        for i in range(events):
            locale, style = LOCALES[i % len(LOCALES)]
            await uow.participants.save(
                Participant.from_profile(onboarded(pid=f"m-{i}", name=f"Mentee {i}", locale=locale, style=style))
            )
    runtime = Runtime(
        name="notifications",
        topic_prefix="",
        producer=None,
        transaction=transaction,
        deps=NotificationsDeps(NotificationSettings(), wake=Wakeup()),
    )
    consumer = Consumer("notifications", SUBSCRIPTIONS, set_wise=set_wise)
    made = records(events)
    STATEMENTS.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(made), batch):
        await consumer.dispatch_batch(runtime, TOPIC, made[i : i + batch])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = sum(STATEMENTS.values())
    told = await pool.fetchval("SELECT count(*) FROM notifications.deliveries")
    items = await pool.fetchval("SELECT count(*) FROM notifications.digest_items")
    await pool.close()
    unmatched = sum(1 for i in range(events) if i % 10 != 9)
    assert told == items == unmatched, (told, items, unmatched)  # every event applied, none skipped
    return cpu / events * 1e6, statements / events, events / wall


async def main(events: int, batch: int) -> None:
    db._init_connection = _counting_init  # type: ignore[assignment]
    lines = [
        "| match.unavailable | events | CPU per event, this process | statements per event | events/s (wall) |",
        "|---|---|---|---|---|",
    ]
    with server() as url:
        for set_wise in (False, True):
            cpu, statements, rate = await measure(url, events, set_wise=set_wise, batch=batch)
            how = "in waves" if set_wise else "one at a time"
            lines.append(f"| {how} | {events:,} | {cpu:.0f} µs | {statements:.2f} | {rate:,.0f} |")
    load = os.getloadavg()
    print("\n".join(lines))
    print(f"\nBatches of {batch}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} during the run.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch))
