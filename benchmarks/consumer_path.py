"""Benchmark: the consumer's own cost per event, without Kafka and with a handler that does one write.

Feeds N `feedback.submitted` records, in batches of the consumer's batch size, straight to
`Consumer.dispatch_batch` on a real PostgreSQL: parse and validate, inbox, the handler's one insert and
one emitted event, outbox, commit. Reports CPU per event of this process (service side) and
statements per event, so a change to the plumbing shows up without the noise of a whole service.

    .venv/bin/python -m benchmarks.consumer_path [--events 20000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import ConsumerRecord

from shared.clock import ProgramClock
from shared.consumer import Consumer, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.db import create_database, create_pool, migrate
from shared.unit_of_work import unit_of_work

MIGRATIONS = Path(__file__).parent.parent / "tests" / "shared" / "plumbing_migrations"


async def on_feedback_submitted(data: ev.FeedbackSubmitted, uow, deps) -> None:
    await uow.conn.execute("INSERT INTO notes (feedback_id, comment) VALUES ($1, $2)", data.feedback_id, data.comment)
    uow.emit(ev.MilestoneAchieved(relationship_id=data.relationship_id, participant_id=data.participant_id,
                                  milestone="first"))


def records(n: int) -> list[ConsumerRecord]:
    out = []
    for i in range(n):
        data = ev.FeedbackSubmitted(feedback_id=f"f-{i}", relationship_id=f"r-{i % 500}", participant_id=f"p-{i}",
                                    rating=4, comment="Helpful, we set the next goal together")
        value = new_envelope(type="feedback.submitted", source="/portal", data=data,
                             time=datetime(2027, 1, 4, 10, tzinfo=UTC)).to_json()
        headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
        out.append(ConsumerRecord(topics.FEEDBACK_SUBMISSIONS, 0, i, int(time.time() * 1000), 0, f"r-{i % 500}".encode(),
                                  value, None, len(f"r-{i}"), len(value), headers))
    return out


async def main(events: int, batch: int, profile: bool, server_url: str) -> None:
    url = await create_database(server_url, "bench_consumer")
    pool = await create_pool(url, "plumbing", size=4)
    await migrate(pool, "plumbing", MIGRATIONS)
    clock = ProgramClock()
    consumer = Consumer("plumbing", {ev.FeedbackSubmitted: on_feedback_submitted})
    runtime = Runtime(name="plumbing", topic_prefix="", producer=None,
                      transaction=lambda: unit_of_work(pool, source="/tandem/plumbing", clock=clock, schema="plumbing"))
    data = records(events + 2000)
    for i in range(0, 2000, batch):  # warm-up
        await consumer.dispatch_batch(runtime, topics.FEEDBACK_SUBMISSIONS, data[i:i + batch])
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_statements_reset()") if await conn.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'") else None
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(2000, len(data), batch):
        await consumer.dispatch_batch(runtime, topics.FEEDBACK_SUBMISSIONS, data[i:i + batch])
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    async with pool.acquire() as conn:
        handled = await conn.fetchval("SELECT count(*) FROM notes")
        calls = await conn.fetchval(
            "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())") if await conn.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'") else None
    await pool.close()
    assert handled == events + 2000, handled
    print(f"{events:,} events in batches of {batch}: {cpu / events * 1e6:.0f} µs CPU per event in this process, "
          f"{events / wall:,.0f} events/s wall, load {os.getloadavg()[0]:.1f}"
          + (f", {calls / events:.2f} statements per event" if calls else ""))
    if profiler:
        path = Path(tempfile.gettempdir()) / "consumer_path.prof"
        profiler.dump_stats(path)
        pstats.Stats(str(path)).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--server", default=os.environ.get("DATABASE_URL"), help="a PostgreSQL server URL (DATABASE_URL)")
    args = parser.parse_args()
    if not args.server:
        parser.error("give --server or set DATABASE_URL")
    asyncio.run(main(args.events, args.batch, args.profile, args.server))
