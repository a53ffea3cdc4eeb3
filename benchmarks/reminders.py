"""Benchmark: durable reminders at scale, in the real scheduling service on PostgreSQL and Kafka.

1,000,000 reminders are pending in Postgres. Of them, a backlog is already due (drain throughput),
a steady stream falls due at 5,000 a second for a minute (lateness under load), and the rest are
due in the coming weeks (they sit in the index, as in a real program). The scheduling service runs
in this process with its reminder loop, outbox relay and consumers; we measure how fast reminders
fire, how late they fire, how soon reminder.due reaches Kafka, and the process's memory over time.

    .venv/bin/python -m benchmarks.reminders [--total 1000000] [--backlog 100000] [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import psutil

from benchmarks.infra import local_infrastructure
from benchmarks.report import write_section
from services.scheduling.entrypoints.app import MIGRATIONS, build_service
from services.scheduling.settings import SchedulingSettings
from shared.contracts import topics
from shared.db import create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK

RATE_TARGET = 5000
LATENESS_TARGET = 1.0


async def seed(url: str, total: int, backlog: int, rate: int, seconds: int, t0: datetime) -> dict[str, int]:
    pool = await create_pool(url, "scheduling", size=2)
    await migrate(pool, "scheduling", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    rng = random.Random(1)
    steady = rate * seconds
    future = total - backlog - steady
    rows, meetings = [], []
    started = time.monotonic()
    async with pool.acquire() as conn:
        # One pair whose series has nothing left to plan: only the reminders are measured.
        await conn.execute("INSERT INTO pairs (relationship_id, program_id, mentor_id, mentee_id, established_at) "
                           "VALUES ('bench', 'bench', 'm', 'e', now())")
        await conn.execute("INSERT INTO series (relationship_id, cadence_days, duration_minutes, occurrences) "
                           "VALUES ('bench', 14, 45, 12)")
        for i in range(total // 2):
            if i < backlog // 2:
                due = t0 - timedelta(seconds=rng.uniform(0, 60))
            elif i < (backlog + steady) // 2:
                due = t0 + timedelta(seconds=30 + rng.uniform(0, seconds))
            else:
                due = t0 + timedelta(days=rng.uniform(1, 60))
            start = due + timedelta(hours=1)
            mid = f"meeting-{i:07d}"
            meetings.append((mid, "bench", "bench", 1 + i, "m", "e", start, start + timedelta(minutes=45)))
            for minutes, when in ((60, due), (1440, due - timedelta(hours=23) if i >= (backlog + steady) // 2 else due)):
                rows.append((f"{mid}/{minutes}", mid, "bench", ["m", "e"], start, minutes, when))
        await conn.copy_records_to_table(
            "meetings", records=meetings,
            columns=["meeting_id", "relationship_id", "program_id", "occurrence", "mentor_id", "mentee_id", "starts_at",
                     "ends_at"])
        await conn.copy_records_to_table(
            "reminders", records=rows,
            columns=["reminder_id", "meeting_id", "relationship_id", "participant_ids", "meeting_start",
                     "minutes_before", "due_at"])
        await conn.execute("ANALYZE reminders")
        pending = await conn.fetchval("SELECT count(*) FROM reminders WHERE status = 'pending'")
    await pool.close()
    return {"pending": pending, "backlog": backlog, "steady": steady, "future": future,
            "seed_seconds": round(time.monotonic() - started, 1)}


async def measure(url: str, bootstrap: str, args, t0: datetime) -> dict:
    settings = SchedulingSettings(database_url=url, kafka_bootstrap_servers=bootstrap, reminder_batch=args.batch,
                                  outbox_batch_size=args.batch, outbox_poll_seconds=0.2, http_port=0)
    service = build_service(settings)
    proc = psutil.Process()
    rss: list[tuple[float, float]] = []
    fired_series: list[tuple[float, int]] = []
    conn = await asyncpg.connect(url)
    try:
        async with service.running():
            begin = time.monotonic()
            backlog_done = None
            steady_end = t0 + timedelta(seconds=30 + args.seconds)
            while True:
                await asyncio.sleep(1.0)
                now = time.monotonic() - begin
                rss.append((now, proc.memory_info().rss / 2**20))
                fired = await conn.fetchval("SELECT count(*) FROM scheduling.reminders WHERE status <> 'pending'")
                fired_series.append((now, fired))
                if backlog_done is None and fired >= args.backlog:
                    backlog_done = now
                if datetime.now(UTC) > steady_end + timedelta(seconds=5):
                    break
            # Let the relay finish what was fired.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = await conn.fetchval("SELECT count(*) FROM scheduling.outbox WHERE state = 'pending'")
                if not left:
                    break
                await asyncio.sleep(0.5)
    finally:
        stats = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE r.status = 'fired') AS fired,
                      count(*) FILTER (WHERE r.status = 'late') AS late,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.fired_at - r.due_at)) AS p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM r.fired_at - r.due_at)) AS p99,
                      max(extract(epoch FROM r.fired_at - r.due_at)) AS worst
               FROM scheduling.reminders r WHERE r.due_at >= $1 AND r.status <> 'pending'""", t0)
        # A published event leaves the outbox: when each reminder.due reached Kafka is the broker's
        # timestamp of its record (the producer's send time), read back from the topic.
        on_kafka = await published_on_kafka(args.bootstrap, topics.REMINDERS)
        due = {r["reminder_id"]: r["due_at"] for r in await conn.fetch(
            "SELECT reminder_id, due_at FROM scheduling.reminders WHERE due_at >= $1 AND status = 'fired'", t0)}
        delays = sorted((on_kafka[i] - at).total_seconds() for i, at in due.items() if i in on_kafka)
        kafka = {"published": len(delays), "p99": delays[int(0.99 * (len(delays) - 1))] if delays else float("nan")}
        total_published = len(on_kafka)
        total_fired = await conn.fetchval("SELECT count(*) FROM scheduling.reminders WHERE status = 'fired'")
        still_pending = await conn.fetchval("SELECT count(*) FROM scheduling.reminders WHERE status = 'pending'")
        await conn.close()
    return {"backlog_seconds": backlog_done, "steady": dict(stats), "kafka": dict(kafka), "rss": rss,
            "fired_series": fired_series, "published": total_published, "fired_total": total_fired,
            "still_pending": still_pending}


async def published_on_kafka(bootstrap: str, topic: str) -> dict[str, datetime]:
    """Each event on `topic` (by envelope id, which for reminder.due is the reminder's id) and when
    the broker took it."""
    import json

    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        found: dict[str, datetime] = {}
        while any(await consumer.position(tp) < end[tp] for tp in parts):
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for r in records:
                    found[json.loads(r.value)["id"]] = datetime.fromtimestamp(r.timestamp / 1000, UTC)
        return found
    finally:
        await consumer.stop()


def rate_during(series: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [(t, n) for t, n in series if start <= t <= end]
    if len(inside) < 2:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=RATE_TARGET)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()

    with local_infrastructure() as (infra, url):
        t0 = datetime.now(UTC) + timedelta(seconds=40)  # seeding happens before t0
        print(f"seeding {args.total:,} reminders", flush=True)
        seeded = asyncio.run(seed(url, args.total, args.backlog, args.rate, args.seconds, t0))
        print(f"seeded in {seeded['seed_seconds']} s; waiting for t0", flush=True)
        wait = (t0 - datetime.now(UTC)).total_seconds() - 2
        if wait > 0:
            time.sleep(wait)
        args.bootstrap = infra.bootstrap_servers
        result = asyncio.run(measure(url, infra.bootstrap_servers, args, t0))

    rss = [m for _, m in result["rss"]]
    steady_rate = rate_during(result["fired_series"], 32, 30 + args.seconds - 2)
    drain_rate = args.backlog / result["backlog_seconds"] if result["backlog_seconds"] else 0
    s, k = result["steady"], result["kafka"]
    body = f"""
The scheduling service (reminder loop, outbox relay and consumers, one process) against PostgreSQL
and Apache Kafka started as local processes on the same machine. {seeded['pending']:,} reminders pending
at the start: {args.backlog:,} already due (a backlog), {seeded['steady']:,} falling due at {args.rate:,}/s for
{args.seconds} s, {seeded['future']:,} due in the coming weeks. Batches of {args.batch}; each batch marks its
reminders and writes their reminder.due events to the outbox in one transaction.

| | result | target |
|---|---|---|
| backlog drained | {args.backlog:,} in {result['backlog_seconds']:.0f} s = **{drain_rate:,.0f} reminders/s** | ≥ {RATE_TARGET:,}/s |
| steady stream fired | **{steady_rate:,.0f} reminders/s** while {args.rate:,}/s fall due | keeps up |
| lateness (due → fired), steady stream | p50 {s['p50']:.3f} s, **p99 {s['p99']:.3f} s**, worst {s['worst']:.3f} s | p99 ≤ {LATENESS_TARGET:.0f} s |
| due → on Kafka (reminder.due acknowledged by the broker), p99 | {k['p99']:.3f} s | |
| fired / published to Kafka | {result['fired_total']:,} / {result['published']:,} | equal |
| late (dropped, meeting already begun) | {s['late']:,} | 0 |
| still pending (future reminders) | {result['still_pending']:,} | |
| process RSS | start {rss[0]:.0f} MiB, max {max(rss):.0f} MiB, end {rss[-1]:.0f} MiB | flat |

Seeding {seeded['pending']:,} rows with COPY took {seeded['seed_seconds']} s.
"""
    write_section("scheduling-reminders", "Scheduling: durable reminders under load", body)
    print(body)


if __name__ == "__main__":
    os.environ.setdefault("TANDEM_LOG_LEVEL", "WARNING")
    main()
