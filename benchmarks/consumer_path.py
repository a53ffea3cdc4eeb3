"""Benchmark: what the consumer itself costs per event, and what set-wise waves save.

Records go straight to `Consumer.dispatch_batch` (no Kafka: the poll is not what is measured), in
batches of the consumer's batch size, on a real PostgreSQL. Two workloads, in one run:
- **plumbing**: `feedback.submitted` with a handler that does one insert and emits one event: the
  consumer's parse and validation, the batch's inbox claim, the outbox, the commit;
- **profiles**: `participant.onboarded` for distinct people with the replica handler every service
  runs (shared/replica.py), once one event at a time (`set_wise=False`, the reference) and once in
  waves (shared/waves.py).
Reports CPU per event of this process (time.process_time) and statements per event (every one a
round trip), counted on the pool's connections.

    .venv/bin/python -m benchmarks.consumer_path [--events 20000] [--batch 200] [--profile]

The database is DATABASE_URL's server when set, else a local PostgreSQL started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import ConsumerRecord

from benchmarks.report import write_section
from shared import db, replica
from shared.clock import ProgramClock
from shared.consumer import Consumer, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.unit_of_work import UnitOfWork, unit_of_work
from tests.support.people import person

MIGRATIONS = Path(__file__).parent.parent / "tests" / "shared" / "plumbing_migrations"
WARMUP = 2000
STATEMENTS: Counter[str] = Counter()


async def _counting_init(conn, _original=db._init_connection) -> None:
    await _original(conn)
    conn.add_query_logger(lambda record: STATEMENTS.update([(record.query or "?").split()[0].upper()]))


class ReplicaUnitOfWork(UnitOfWork):
    def bind(self, conn) -> None:
        self.participants = replica.ParticipantDirectory(conn)


async def on_feedback_submitted(data: ev.FeedbackSubmitted, uow, deps) -> None:
    await uow.conn.execute("INSERT INTO notes (feedback_id, comment) VALUES ($1, $2)", data.feedback_id, data.comment)
    uow.emit(
        ev.MilestoneAchieved(
            relationship_id=data.relationship_id, participant_id=data.participant_id, milestone="first"
        )
    )


def _record(topic: str, offset: int, key: str, event_type: str, data: ev.EventData) -> ConsumerRecord:
    value = new_envelope(
        type=event_type, source="/bench", data=data, time=datetime(2027, 1, 4, 10, tzinfo=UTC)
    ).to_json()
    headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    return ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, len(key), len(value), headers)


def feedback_records(n: int) -> list[ConsumerRecord]:
    return [
        _record(
            topics.FEEDBACK_SUBMISSIONS,
            i,
            f"r-{i % 500}",
            "feedback.submitted",
            ev.FeedbackSubmitted(
                feedback_id=f"f-{i}",
                relationship_id=f"r-{i % 500}",
                participant_id=f"p-{i}",
                rating=4,
                comment="Helpful, we set the next goal together",
            ),
        )
        for i in range(n)
    ]


def profile_records(n: int) -> list[ConsumerRecord]:
    return [
        _record(
            topics.PARTICIPANTS,
            i,
            f"p-{i}",
            "participant.onboarded",
            ev.ParticipantOnboarded.model_validate(person(f"p-{i}", skills=("negotiation",), goals=("leadership",))),
        )
        for i in range(n)
    ]


@dataclass
class Figure:
    workload: str
    events: int
    cpu_us: float
    statements: float
    rate: float


@contextlib.contextmanager
def server() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    from tandem.local.postgres import LocalPostgres
    from tandem.local.stack import free_port

    home = Path(tempfile.mkdtemp(prefix="tandem-consumer-bench-"))
    postgres = LocalPostgres(home / "postgres", free_port())
    postgres.start(home / "postgres.log", say=lambda *_: None)
    try:
        yield postgres.url
    finally:
        postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


async def measure(
    server_url: str, workload: str, records: list[ConsumerRecord], *, set_wise: bool, batch: int, profile: bool
) -> Figure:
    url = await db.create_database(server_url, "bench_consumer")
    pool = await db.create_pool(url, "bench", size=2)
    await db.migrate(pool, "bench", MIGRATIONS, replicas=[replica.PARTICIPANTS_TRACK])
    clock = ProgramClock()
    if workload == "plumbing":
        consumer, topic = Consumer("bench", {ev.FeedbackSubmitted: on_feedback_submitted}), topics.FEEDBACK_SUBMISSIONS
    else:
        consumer, topic = Consumer("bench", replica.PARTICIPANT_SUBSCRIPTIONS, set_wise=set_wise), topics.PARTICIPANTS
    runtime = Runtime(
        name="bench",
        topic_prefix="",
        producer=None,
        transaction=lambda: unit_of_work(
            pool, source="/tandem/bench", clock=clock, schema="bench", cls=ReplicaUnitOfWork
        ),
    )
    for i in range(0, WARMUP, batch):
        await consumer.dispatch_batch(runtime, topic, records[i : i + batch])
    STATEMENTS.clear()
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(WARMUP, len(records), batch):
        await consumer.dispatch_batch(runtime, topic, records[i : i + batch])
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = sum(STATEMENTS.values())
    table = "notes" if workload == "plumbing" else "participants"
    stored = await pool.fetchval(f"SELECT count(*) FROM {table}")
    await pool.close()
    assert stored == len(records), (workload, stored)  # every event applied, none skipped
    if profiler:
        path = Path(tempfile.gettempdir()) / f"consumer_path-{workload}.prof"
        profiler.dump_stats(path)
        pstats.Stats(str(path)).sort_stats("cumulative").print_stats(30)
    n = len(records) - WARMUP
    return Figure(
        workload + ("" if workload == "plumbing" else (", in waves" if set_wise else ", one at a time")),
        n,
        cpu / n * 1e6,
        statements / n,
        n / wall,
    )


async def main(events: int, batch: int, profile: bool, write: bool) -> None:
    db._init_connection = _counting_init  # type: ignore[assignment]
    figures = []
    with server() as url:
        figures.append(
            await measure(
                url, "plumbing", feedback_records(events + WARMUP), set_wise=True, batch=batch, profile=profile
            )
        )
        profiles = profile_records(events + WARMUP)
        for set_wise in (False, True):
            figures.append(await measure(url, "profiles", profiles, set_wise=set_wise, batch=batch, profile=profile))
    load = os.getloadavg()
    lines = [
        "| workload | events | CPU per event, this process | statements per event | events/s (wall) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f.workload} | {f.events:,} | {f.cpu_us:.0f} µs | {f.statements:.2f} | {f.rate:,.0f} |" for f in figures
    ]
    body = (
        "\n".join(lines)
        + f"""

Batches of {batch}, handed to `Consumer.dispatch_batch` without Kafka; PostgreSQL over TCP on this
machine (fsync on); load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} during the run. CPU is this process only
(the database's backends are not counted). Statements are counted on the pool's connections: each is a
round trip, so at 0.3 to 0.5 ms per round trip on a networked database every 0.1 statement per event
adds 30 to 50 µs of waiting per event.
`python -m benchmarks.consumer_path`."""
    )
    print(body)
    if write:
        write_section("consumer", "The consumer's own cost per event, and set-wise waves", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch, args.profile, not args.no_write))
