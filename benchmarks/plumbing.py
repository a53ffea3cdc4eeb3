"""Benchmark: what the shared plumbing costs per emitted event, outside any handler.

A real PostgreSQL and Kafka. `--workers` tasks each commit units of work that claim an inbox entry
and emit one event (a handler that does nothing else); the service's outbox relay, running in the
same process as it does in a service, publishes them to Kafka. The run ends once every event is on
Kafka (the outbox has nothing pending). Reports this process's CPU per event (time.process_time:
emit, commit, relay, producer) and the statements per event on the pool's connections (each one a
round trip), and the CPU of `uow.emit` alone.

    .venv/bin/python -m benchmarks.plumbing [--events 5000] [--workers 8] [--loop uvloop] [--url URL] [--profile]

The database URL defaults to DATABASE_URL; give one with `?host=/path/to/socket/dir` for a Unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import os
import pstats
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from shared import db
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from shared.kafka import ensure_topics, make_producer
from shared.outbox import OutboxRelay
from shared.unit_of_work import UnitOfWork, unit_of_work

STATEMENTS: Counter[str] = Counter()


def _count(record) -> None:
    query = record.query or "?"
    if "pg_advisory_unlock_all" in query:
        kind = "reset (on release to the pool)"
    elif "pg_notify" in query:
        kind = "pg_notify"
    else:
        kind = query.split()[0].upper().rstrip(";")
    STATEMENTS[kind] += 1


async def _counting_init(conn, _original=db._init_connection) -> None:
    await _original(conn)
    conn.add_query_logger(_count)


def _event(i: int) -> ev.MilestoneAchieved:
    return ev.MilestoneAchieved(relationship_id=f"rel-{i % 997}", participant_id=f"p-{i}", milestone="first meeting")


def emit_cpu(n: int = 20000) -> float:
    """CPU microseconds of one `uow.emit` (validation, serialisation, headers), no database."""
    uow = UnitOfWork.__new__(UnitOfWork)
    uow.source, uow.clock, uow._outgoing = "/tandem/bench", ProgramClock(), []
    uow._after_commit = []
    data = [_event(i) for i in range(n)]
    started = time.process_time()
    for d in data:
        uow.emit(d)
    return (time.process_time() - started) / n * 1e6


async def run(args) -> dict:
    url = await db.create_database(args.url, "bench")
    if args.socket:  # the same database over the server's Unix socket
        base, _, name = url.rpartition("/")
        url = f"{base.split('@')[0]}@/{name}?host={args.socket}&port={args.url.rsplit(':', 1)[1].split('/')[0]}"
    db._init_connection = _counting_init  # type: ignore[assignment]
    pool = await db.create_pool(url, "bench", size=args.workers + 2)
    with tempfile.TemporaryDirectory() as empty:
        await db.migrate(pool, "bench", Path(empty))
    await pool.execute("CREATE TABLE IF NOT EXISTS bench.inbox_only (x int)")
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(args.bootstrap, [prefix + topics.FEEDBACK])
    producer = make_producer(args.bootstrap, "bench-plumbing")
    await producer.start()
    relay = OutboxRelay(pool, producer, database_url=url, service="bench", schema="bench",
                        topic_prefix=prefix, poll_seconds=1.0)
    relay_task = asyncio.create_task(relay.run())
    woken = "wake_relay" in inspect.signature(unit_of_work).parameters
    extra = {"wake_relay": relay.wake.set} if woken else {}
    clock = ProgramClock()
    counter = iter(range(args.events))

    async def worker() -> None:
        for i in counter:
            async with unit_of_work(pool, source="/tandem/bench", clock=clock, schema="bench", **extra) as uow:
                await uow.claim_inbox("feedback-submissions.v1", f"in-{i}", "feedback.submitted", b"d" * 32)
                uow.emit(_event(i))

    await asyncio.sleep(0.5)  # the relay's first pass and LISTEN are not part of the measure
    STATEMENTS.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.workers)))
    while await pool.fetchval("SELECT count(*) FROM bench.outbox WHERE state = 'pending'"):
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = dict(STATEMENTS)
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await producer.stop()
    await pool.close()
    return {"events": args.events, "cpu_us_per_event": cpu / args.events * 1e6, "wall_s": wall,
            "statements_per_event": {k: round(v / args.events, 2) for k, v in sorted(statements.items())},
            "round_trips_per_event": round(sum(statements.values()) / args.events, 2),
            "woken_in_process": woken}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--socket", help="a Unix socket directory of the same server (measure it against TCP)")
    parser.add_argument("--profile", action="store_true", help="print where the CPU went (cProfile, by own time)")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    print(f"emit alone: {emit_cpu():.1f} µs CPU per event")
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    print(f"loop={args.loop} socket={bool(args.socket)} load: {os.getloadavg()[0]:.2f}")
    for key, value in result.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
