"""Nobody is ever booked twice, under any interleaving, on a real PostgreSQL.

Two mentors with narrow hours share many mentees (some mentees have both). Every path that places
or moves a meeting runs at once from several connections, as N replicas would: match.established
batches through the real consumer (whole batches in one transaction, then one by one after a
failure), the series loop three times over, reschedule batches (to the next slot, and to times
picked to collide), and match.ended batches. Afterwards the meetings table is checked on its own:
no participant has two scheduled meetings closer than the buffer, let alone overlapping. Postgres'
own deadlock counter must stay at zero.

Run once with the bookings table's exclusion constraint (the backstop) and once without it, so the
locks alone are what is tested (adapters/locks.py).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from services.scheduling.entrypoints.app import MIGRATIONS
from services.scheduling.service_layer.handlers import SUBSCRIPTIONS, SchedulingDeps
from services.scheduling.service_layer.loops import plan_due_series
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of, type_of
from shared.db import create_pool, migrate
from shared.people import Participant
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # Monday
BUFFER = timedelta(minutes=15)
# Refusals a command may meet when others got there first; anything else (an exclusion violation,
# a handler failing for good) means a path booked someone twice or broke.
EXPECTED_REFUSALS = ("the proposed time clashes with another meeting of", "the proposed time is outside the hours of",
                     "no other slot found",
                     "has already started", "is cancelled; only a scheduled meeting can move")


class DeadLetters:
    """Stands in for the Kafka producer: keeps what the consumer dead-letters."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        self.reasons.append(dict(headers)["dlq.error"].decode())


class Program:
    """The scheduling service's storage and consumer, without Kafka: events go straight to dispatch."""

    def __init__(self, pool: asyncpg.Pool, clock: FixedClock) -> None:
        self.pool, self.clock = pool, clock
        self.deps = SchedulingDeps(SchedulingSettings(series_occurrences=4))
        self.consumer = Consumer("scheduling", SUBSCRIPTIONS)
        self.dead = DeadLetters()
        self.runtime = Runtime(name="scheduling", topic_prefix="", producer=self.dead, transaction=self.transaction,
                               deps=self.deps, limits=Limits(max_attempts=3, max_deferrals=3, backoff=0.01,
                                                             backoff_max=0.05))
        self.offsets: defaultdict[str, int] = defaultdict(int)

    def transaction(self):
        return unit_of_work(self.pool, source="/tandem/scheduling", clock=self.clock, schema="scheduling",
                            cls=SchedulingUnitOfWork)

    async def batch(self, events: list[ev.EventData]) -> None:
        """One poll's worth of records of one topic, applied as the consumer applies them."""
        topic, _ = topic_of(type(events[0]))
        records = []
        for data in events:
            value = new_envelope(type=type_of(type(data)), source="/test", data=data, time=self.clock.now()).to_json()
            self.offsets[topic] += 1
            records.append(ConsumerRecord(topic, 0, self.offsets[topic], 0, 0, None, value, None, 0, len(value), ()))
        await self.consumer.dispatch_batch(self.runtime, topic, records)

    async def series_replica(self) -> None:
        while (await plan_due_series(self.transaction, self.deps, self.clock, limit=5)).more:
            pass

    async def scheduled(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT meeting_id, relationship_id, mentor_id, mentee_id, starts_at, ends_at FROM scheduling.meetings "
            "WHERE status = 'scheduled' ORDER BY starts_at")


def chunks(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n) if items[i::n]]


def established(rel: str, mentor: str, mentee: str) -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rel, proposal_id=f"p-{rel}", program_id="prog-1", mentor_id=mentor,
                               mentee_id=mentee, established_at=START)


def pairs_of(rng: random.Random) -> list[tuple[str, str, str]]:
    """Two mentors with 10 mentees each; four mentees have both."""
    mentees = [f"e-{i:02d}" for i in range(16)]
    pairs = [(f"r-a-{m}", "m-a", m) for m in mentees[:10]] + [(f"r-b-{m}", "m-b", m) for m in mentees[6:]]
    rng.shuffle(pairs)
    return pairs


async def deadlocks(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("backstop", ["with exclusion constraint", "locks alone"])
async def test_nobody_is_booked_twice_whatever_runs_at_once(database_url, seed, backstop):
    rng = random.Random(seed)
    pool = await create_pool(database_url, "scheduling", size=12)
    try:
        await migrate(pool, "scheduling", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
        if backstop == "locks alone":
            await pool.execute("ALTER TABLE scheduling.bookings DROP CONSTRAINT no_double_booking")
        program = Program(pool, FixedClock(START))
        deadlocks_before = await deadlocks(pool)
        async with program.transaction() as uow:
            # Narrow hours: about two meetings a day fit, so every path competes for the same slots.
            for mentor, start, end in (("m-a", "09:00", "11:30"), ("m-b", "14:00", "16:30")):
                await uow.participants.save(Participant.from_profile(
                    onboarded(pid=mentor, roles=("mentor",), capacity=10, start=start, end=end)))
            for i in range(16):
                await uow.participants.save(Participant.from_profile(
                    onboarded(pid=f"e-{i:02d}", tz=rng.choice(["Europe/Amsterdam", "Europe/London"]))))

        pairs = pairs_of(rng)
        first, later = pairs[:10], pairs[10:]

        # 1. Kickoffs for the first pairs: three consumers, each with one batch.
        await asyncio.gather(*(program.batch([established(*p) for p in part]) for part in chunks(first, 3)))

        # 2. Half of them are over: the series loop (3 replicas) plans next occurrences while the
        #    other kickoffs arrive and future meetings are moved, some onto each other's times.
        placed = await program.scheduled()
        program.clock.at = sorted(m["ends_at"] for m in placed)[len(placed) // 2]
        await asyncio.gather(
            *(program.series_replica() for _ in range(3)),
            *(program.batch([established(*p) for p in part]) for part in chunks(later, 2)),
            *(program.batch(part) for part in chunks(moves(rng, placed, program.clock.at), 2)),
        )

        # 3. Ten days on: the same again, while a few pairs end and their future meetings are cancelled.
        program.clock.advance(days=10)
        placed = await program.scheduled()
        ending = [ev.MatchEnded(relationship_id=rel, program_id="prog-1", mentor_id=mentor, mentee_id=mentee,
                                reason="test", ended_at=program.clock.at) for rel, mentor, mentee in rng.sample(pairs, 3)]
        await asyncio.gather(
            *(program.series_replica() for _ in range(3)),
            *(program.batch(part) for part in chunks(moves(rng, placed, program.clock.at), 3)),
            program.batch(ending),
        )
        await asyncio.gather(*(program.series_replica() for _ in range(3)))

        meetings = await program.scheduled()
        deadlocks_after = await deadlocks(pool)
    finally:
        await pool.close()

    unexpected = [r for r in program.dead.reasons if not any(fair in r for fair in EXPECTED_REFUSALS)]
    assert not unexpected, f"commands failed for another reason than a fair refusal: {unexpected}"
    assert len(meetings) > len(pairs), "the series loop should have planned further occurrences"
    booked: defaultdict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for m in meetings:
        for person in (m["mentor_id"], m["mentee_id"]):
            booked[person].append((m["starts_at"], m["ends_at"], m["meeting_id"]))
    for person, times in booked.items():
        times.sort()
        for (_, end, a), (start, _, b) in pairwise(times):
            assert start >= end + BUFFER, f"{person} is booked twice: {a} and {b}"
    assert deadlocks_after == deadlocks_before, "Postgres found a deadlock"


def moves(rng: random.Random, placed: list[asyncpg.Record], now: datetime) -> list[ev.MeetingRescheduleRequested]:
    """Move some future meetings: to the next good slot, or onto the time of another meeting of the
    same mentor (refused, or placed fine if that one moved away meanwhile)."""
    future = [m for m in placed if m["starts_at"] > now]
    commands = []
    for m in rng.sample(future, min(len(future), 8)):
        rivals = [o for o in future if o["mentor_id"] == m["mentor_id"] and o["meeting_id"] != m["meeting_id"]]
        target = rng.choice(rivals)["starts_at"] if rivals and rng.random() < 0.5 else None
        commands.append(ev.MeetingRescheduleRequested(meeting_id=m["meeting_id"], relationship_id=m["relationship_id"],
                                                      requested_by=m["mentee_id"], new_start=target))
    return commands
