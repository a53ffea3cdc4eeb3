"""Benchmark: database round trips and CPU per match.requested inside the matching service.

The real service runs in this process, on the PostgreSQL and Kafka that `DATABASE_URL` and
`KAFKA_BOOTSTRAP_SERVERS` point at (a fresh database and topic prefix of its own), with its consumer,
outbox relay and loops. Its programs' people are copied into its tables first; once it is up and
idle, `--requests` match.requested (distinct mentees, spread over `--programs` programs) are
published, and the run ends when each has its answer (match.proposed or match.unavailable) in the
record, the event that queued it applied, and every outbox row is published.

Round trips are asyncpg calls (every statement, BEGIN and COMMIT included, a pipelined executemany
or a COPY as one), counted on every connection of the process; the same count over an idle spell of
the same length is subtracted (the loops' polling). CPU is this process's, the publishing included.

    .venv/bin/python -m benchmarks.matching_round_trips [--requests 2000] [--programs 4] [--mentors 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from services.matching.entrypoints.app import MIGRATIONS, build_service
from services.matching.service_layer.handlers import SUBSCRIPTIONS
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.db import create_database, create_pool, migrate
from shared.kafka import all_topic_names, ensure_topics
from shared.programs import PROGRAMS_TRACK
from shared.replica import PARTICIPANT_COLUMNS, PARTICIPANTS_TRACK, participant_values
from tandem.client import Publisher
from tandem.population import participants

ANSWERED_BY = ("match.request.queued" if any(m.__name__ == "MatchRequestQueued" for m in SUBSCRIPTIONS)
               else "match.requested")
CALLS = Counter()
_COUNTED = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")


def count_round_trips() -> None:
    """Count every statement asyncpg sends, by the start of its text."""
    for name in _COUNTED:
        original = getattr(asyncpg.Connection, name)

        def counted(self, *args, __original=original, __name=name, **kwargs):
            text = args[0] if args and isinstance(args[0], str) else __name
            CALLS[" ".join(text.split())[:70]] += 1
            return __original(self, *args, **kwargs)
        setattr(asyncpg.Connection, name, counted)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def seed(url: str, programs: int, mentors: int, mentees: int) -> list[tuple[str, str]]:
    pool = await create_pool(url, "matching", size=2)
    await migrate(pool, "matching", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK))
    wanted = []
    async with pool.acquire() as conn:
        for k in range(programs):
            program_id = f"bench-{k}"
            people = participants(mentees, mentors, seed=11 + k, program_id=program_id)
            people = [replace(p, participant_id=f"{k}-{p.participant_id}",
                              manager_id=p.manager_id and f"{k}-{p.manager_id}") for p in people]
            await conn.copy_records_to_table("participants", columns=PARTICIPANT_COLUMNS,
                                             records=[participant_values(p) for p in people])
            wanted += [(p.participant_id, program_id) for p in people if p.is_mentee and not p.is_mentor]
    await pool.close()
    return wanted


async def answered(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        # A request is answered once the event that proposes for it is applied (its answer is committed
        # with it): match.request.queued where matching queues requests per program, else the request.
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM matching.inbox WHERE event_type = $1) AS n, "
            "(SELECT count(*) FROM matching.outbox WHERE state = 'pending') AS pending", ANSWERED_BY)
    finally:
        await conn.close()
    return row["n"], row["pending"]


async def run(args) -> dict:
    server, bootstrap = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    url = await create_database(server, "mrt")
    prefix = f"mrt{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, all_topic_names(prefix))
    per_program = args.requests // args.programs
    wanted = await seed(url, args.programs, args.mentors, per_program)
    wanted = wanted[: args.requests]
    settings = MatchingSettings(database_url=url, kafka_bootstrap_servers=bootstrap, topic_prefix=prefix,
                                clock_start=datetime(2027, 1, 4, 9, tzinfo=UTC))
    count_round_trips()
    async with build_service(settings).running():
        await asyncio.sleep(3)  # settled: indexes built, consumers joined
        CALLS.clear()
        await asyncio.sleep(args.idle)
        idle = sum(CALLS.values()) / args.idle
        CALLS.clear()
        started, cpu0 = time.perf_counter(), cpu()
        async with Publisher(bootstrap, topic_prefix=prefix) as pub:
            await pub.publish_many([ev.MatchRequested(mentee_id=m, program_id=p) for m, p in wanted])
        while True:
            n, pending = await answered(url)
            if n >= len(wanted) and pending == 0:
                break
            await asyncio.sleep(0.2)
        seconds, spent = time.perf_counter() - started, cpu() - cpu0
        calls = Counter(CALLS)
    total = sum(calls.values()) - idle * seconds
    return {"requests": len(wanted), "seconds": seconds, "cpu": spent, "idle_per_s": idle,
            "per_request": total / len(wanted), "top": calls.most_common(14)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--programs", type=int, default=4)
    parser.add_argument("--mentors", type=int, default=400, help="per program")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle counting")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    load = os.getloadavg()
    print(f"{result['requests']} match.requested over {args.programs} programs in {result['seconds']:.1f} s "
          f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(f"round trips per request: {result['per_request']:.2f} (idle {result['idle_per_s']:.1f}/s subtracted)")
    print(f"process CPU per request: {1000 * result['cpu'] / result['requests']:.2f} ms")
    for text, n in result["top"]:
        print(f"{n / result['requests']:6.2f}  {text}")


if __name__ == "__main__":
    main()
