"""match.established applied a wave at a time (planning.plan_kickoffs) against one event at a time
(on_match_established, the reference), on two real PostgreSQL databases: random batches of new
pairs, pairs sharing a mentor (so one kickoff must be placed around the one before it in the same
wave), mentors whose hours fill up (unplaceable kickoffs), pairs who can never meet, people not
known yet, redeliveries, ids reused for another event and pairs ended in between leave the same
rows, the same events and the same dead letters either way.

The bookings' exclusion constraint is dropped in both databases, so a wave that booked someone
twice would show in the rows instead of failing and falling back to the reference; and a wave may
fail only where the reference fails too (someone not known yet), which a spy checks."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.scheduling.entrypoints.app import MIGRATIONS
from services.scheduling.service_layer import handlers
from services.scheduling.service_layer.handlers import SUBSCRIPTIONS, SchedulingDeps
from services.scheduling.service_layer.planning import plan_kickoffs
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from shared.db import create_database, create_pool, migrate
from shared.errors import NotYetKnown
from shared.people import Participant
from shared.programs import PROGRAMS_TRACK, ConfiguredProgram
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from shared.waves import Applied, wave_end
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # Monday
TOPIC, _ = topic_of(ev.MatchEstablished)
# Narrow hours, a short kickoff horizon: a mentor's kickoffs crowd each other out, then become unplaceable.
MENTORS = {"m-a": ("09:00", "11:00", "Europe/Amsterdam", "prog-1"), "m-b": ("13:00", "16:00", "Europe/London", "prog-2"),
           "m-c": ("08:00", "18:00", "Europe/Amsterdam", "prog-1")}
MENTEES = {"e-0": "Europe/Amsterdam", "e-1": "Europe/London", "e-2": "Europe/Amsterdam", "e-3": "Europe/Berlin",
           "e-4": "Europe/London", "e-5": "Europe/Amsterdam", "e-far": "Pacific/Auckland"}  # e-far never meets m-a
GHOST = "e-ghost"  # never onboarded: their pairs wait (NotYetKnown), then go to the dead letters
TABLES = ("pairs", "series", "meetings", "bookings", "reminders", "agreements")


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


step = st.one_of(
    st.tuples(st.just("established"), st.sampled_from(sorted(MENTORS)), st.sampled_from(sorted(MENTEES))),
    st.tuples(st.just("established"), st.just("m-a"), st.just(GHOST)),
    st.tuples(st.just("again"), st.integers(0, 60), st.just("")),  # an earlier record delivered again
    st.tuples(st.just("reuse"), st.integers(0, 60), st.just("")),  # an earlier id, another pair
    st.tuples(st.just("ended"), st.integers(0, 60), st.just("")),  # an earlier pair ends
)


def established(rel: str, mentor: str, mentee: str) -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rel, proposal_id=f"p-{rel}", program_id=MENTORS[mentor][3],
                               mentor_id=mentor, mentee_id=mentee, established_at=START, goals=["leadership"])


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []  # (key, value)
    pairs: list[tuple[str, str, str]] = []
    for n, (kind, a, b) in enumerate(steps):
        if kind in ("again", "reuse", "ended") and not made:
            kind, a, b = "established", "m-c", "e-0"
        if kind == "again":
            made.append(made[a % len(made)])
            continue
        if kind == "ended":
            rel, mentor, mentee = pairs[a % len(pairs)]
            data: ev.EventData = ev.MatchEnded(relationship_id=rel, program_id=MENTORS[mentor][3], mentor_id=mentor,
                                               mentee_id=mentee, reason="moved on", ended_at=START)
            made.append((rel, new_envelope(type="match.ended", source="/matching", data=data, time=START,
                                           id=f"x-{n}").to_json()))
            continue
        rel = f"r-{n}"
        if kind == "reuse":  # another pair under an id seen before: refused for good
            old = orjson.loads(made[a % len(made)][1])["id"]
            data = established(rel, "m-c", "e-5")
            made.append((rel, new_envelope(type="match.established", source="/matching", data=data, time=START,
                                           id=old).to_json()))
            continue
        pairs.append((rel, a, b))
        made.append((rel, new_envelope(type="match.established", source="/matching", data=established(rel, a, b),
                                       time=START, id=f"x-{n}").to_json()))
    return [ConsumerRecord(TOPIC, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


async def state(pool) -> dict:
    found = {}
    for table in TABLES:
        rows = [dict(r) for r in await pool.fetch(f"SELECT * FROM scheduling.{table}")]
        for row in rows:
            row.pop("updated_at", None)
        found[table] = sorted(rows, key=repr)
    events = [(r["topic"], r["key"], orjson.loads(r["payload"])["type"], orjson.loads(r["payload"])["data"])
              for r in await pool.fetch("SELECT topic, key, payload FROM scheduling.outbox ORDER BY id")]
    found["events"] = events
    found["inbox"] = [tuple(r) for r in await pool.fetch("SELECT event_id, event_type FROM scheduling.inbox ORDER BY 1")]
    return found


@contextlib.asynccontextmanager
async def scheduling_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "kickoffs"), "scheduling", size=4)
    try:
        await migrate(pool, "scheduling", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
        await pool.execute("ALTER TABLE scheduling.bookings DROP CONSTRAINT no_double_booking")
        yield pool
    finally:
        await pool.close()


async def reset(pool, clock: FixedClock) -> None:
    """Empty tables, then the people and one configured program (the other runs on the defaults)."""
    await pool.execute("TRUNCATE scheduling.bookings, scheduling.reminders, scheduling.agreements, "
                       "scheduling.meetings, scheduling.series, scheduling.pairs, scheduling.participants, "
                       "scheduling.programs, scheduling.inbox, scheduling.outbox, scheduling.dead_lettered")
    async with unit_of_work(pool, source="/tandem/scheduling", clock=clock, schema="scheduling",
                            cls=SchedulingUnitOfWork) as uow:
        for mentor, (start, end, tz, program) in MENTORS.items():
            await uow.participants.save(Participant.from_profile(
                onboarded(pid=mentor, roles=("mentor",), capacity=10, start=start, end=end, tz=tz, program_id=program)))
        for mentee, tz in MENTEES.items():
            await uow.participants.save(Participant.from_profile(onboarded(pid=mentee, tz=tz)))
        await uow.program_settings.save(ConfiguredProgram(
            program_id="prog-1", name="Pilot", configured_at=START, duration_minutes=60, min_notice_hours=24,
            reminder_offsets_minutes=(1440, 60, 15), organizer_email="team@pilot.example"))


class Spy:
    """What each wave raised: a wave may fail only where the reference fails too."""

    def __init__(self, monkeypatch) -> None:
        self.waves, self.raised = 0, []
        original = handlers.plan_kickoffs

        async def spied(uow, settings, wave):
            self.waves += 1
            try:
                return await original(uow, settings, wave)
            except Exception as exc:
                self.raised.append(exc)
                raise

        monkeypatch.setattr(handlers, "plan_kickoffs", spied)


async def apply(pool, records, *, set_wise: bool, batch: int) -> tuple[list[str], list[tuple[int, str]]]:
    clock = FixedClock(START)
    await reset(pool, clock)
    letters = DeadLetters()
    runtime = Runtime(name="scheduling", topic_prefix="", producer=letters,  # type: ignore[arg-type]
                      transaction=lambda: unit_of_work(pool, source="/tandem/scheduling", clock=clock,
                                                       schema="scheduling", cls=SchedulingUnitOfWork),
                      deps=SchedulingDeps(SchedulingSettings(kickoff_horizon_days=4, series_occurrences=3)),
                      limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    consumer = Consumer("scheduling", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list[str] = []
    for i in range(0, len(records), batch):
        outcomes += await consumer.dispatch_batch(runtime, TOPIC, records[i:i + batch])
    return outcomes, sorted(letters.letters)


@pytest.fixture
async def databases(database_url):
    async with scheduling_database(database_url) as one, scheduling_database(database_url) as many:
        yield one, many


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40), batch=st.sampled_from([1, 6, 200]))
# One mentor's mentees in one wave: each kickoff placed around the ones before it, until none fits.
@example(steps=[("established", "m-a", f"e-{i}") for i in range(6)] + [("established", "m-a", "e-far")], batch=200)
# Someone not known yet inside a wave; the same pair again; a pair ended, then established again.
@example(steps=[("established", "m-b", "e-1"), ("established", "m-a", GHOST), ("again", 0, ""),
                ("established", "m-b", "e-4"), ("ended", 0, ""), ("again", 0, ""), ("reuse", 1, "")], batch=200)
@example(steps=[("established", "m-c", "e-0"), ("established", "m-c", "e-0"), ("established", "m-a", "e-0"),
                ("established", "m-b", "e-0")], batch=6)
async def test_waves_of_kickoffs_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = records_of(steps)
    spy = Spy(monkeypatch)
    reference = await apply(one, records, set_wise=False, batch=batch)
    assert spy.waves == 0
    waves = await apply(many, records, set_wise=True, batch=batch)
    assert waves == reference
    assert await state(many) == await state(one)
    unexpected = [exc for exc in spy.raised if not isinstance(exc, NotYetKnown)]
    assert not unexpected, f"a wave failed where the reference did not: {unexpected!r}"


async def test_a_mentors_new_pairs_are_placed_in_one_wave(databases, monkeypatch):
    """The fast path is taken: a batch of 8 new pairs, 4 of them sharing a mentor, is one wave, and
    the shared mentor's kickoffs are placed at different times, as one at a time would place them."""
    one, many = databases
    steps = [("established", ("m-c", "m-a")[i % 2], f"e-{i % 6}") for i in range(8)]
    records = records_of(steps)
    data = [ev.MatchEstablished.model_validate(orjson.loads(r.value)["data"]) for r in records]
    assert wave_end([handlers.on_match_established] * 8, data, [True] * 8, 0) == 8
    spy = Spy(monkeypatch)
    waves = await apply(many, records, set_wise=True, batch=200)
    assert waves[0] == ["handled"] * 8 and spy.waves == 1 and not spy.raised
    reference = await apply(one, records, set_wise=False, batch=200)
    assert waves == reference and await state(many) == await state(one)
    starts = [r["starts_at"] for r in await many.fetch(
        "SELECT starts_at FROM scheduling.meetings WHERE mentor_id = 'm-a' AND status = 'scheduled'")]
    assert len(starts) == 4 and len(set(starts)) == 4


async def test_a_wave_waits_for_whoever_is_booking_its_people(databases):
    """A wave reads busy times only once it holds its people: while another transaction is placing a
    kickoff for the same mentor, the wave waits, then places its own around it (the exclusion
    constraint is dropped, so only the locks keep the two apart)."""
    pool, _ = databases
    clock = FixedClock(START)
    await reset(pool, clock)
    deps = SchedulingDeps(SchedulingSettings(kickoff_horizon_days=4, series_occurrences=3))
    holding, release = asyncio.Event(), asyncio.Event()

    async def other_transaction() -> None:
        async with unit_of_work(pool, source="/tandem/scheduling", clock=clock, schema="scheduling",
                                cls=SchedulingUnitOfWork) as uow:
            uow.cause = None
            await handlers.on_match_established(established("r-first", "m-a", "e-0"), uow, deps)
            holding.set()
            await release.wait()

    holder = asyncio.create_task(other_transaction())
    await holding.wait()
    records = records_of([("established", "m-a", "e-1"), ("established", "m-c", "e-2")])
    runtime = Runtime(name="scheduling", topic_prefix="", producer=DeadLetters(),  # type: ignore[arg-type]
                      transaction=lambda: unit_of_work(pool, source="/tandem/scheduling", clock=clock,
                                                       schema="scheduling", cls=SchedulingUnitOfWork),
                      deps=deps, limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    wave = asyncio.create_task(Consumer("scheduling", SUBSCRIPTIONS).dispatch_batch(runtime, TOPIC, records))
    waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    while not await pool.fetchval(waiting):
        assert not wave.done(), "the wave went on while m-a was being booked"
        await asyncio.sleep(0.01)  # polling for the condition: the wave waits on m-a's lock
    release.set()
    await holder
    assert await wave == ["handled", "handled"]
    times = await pool.fetch("SELECT starts_at, ends_at FROM scheduling.meetings WHERE mentor_id = 'm-a' "
                             "AND status = 'scheduled' ORDER BY starts_at")
    assert len(times) == 2 and times[0]["ends_at"] + timedelta(minutes=15) <= times[1]["starts_at"]


async def test_the_same_new_pair_in_two_transactions_at_once_is_planned_once(databases):
    """Two replicas applying the same match.established at once (a redelivery during a rebalance):
    the second wave waits at the pair's insert until the first commits, then finds its series and
    plans nothing. One series, one kickoff, one meeting.scheduled."""
    pool, _ = databases
    clock = FixedClock(START)
    await reset(pool, clock)
    settings = SchedulingSettings(kickoff_horizon_days=4, series_occurrences=3)
    data = established("r-twice", "m-c", "e-0")
    holding, release = asyncio.Event(), asyncio.Event()

    async def apply_wave(event_id: str, *, hold: bool) -> bool:
        applied = Applied(new_envelope(type="match.established", source="/matching", data=data, time=START,
                                       id=event_id), data)
        async with unit_of_work(pool, source="/tandem/scheduling", clock=clock, schema="scheduling",
                                cls=SchedulingUnitOfWork) as uow:
            planned = await plan_kickoffs(uow, settings, [applied])
            if hold:
                holding.set()
                await release.wait()
        return planned

    first = asyncio.create_task(apply_wave("x-first", hold=True))
    await holding.wait()
    second = asyncio.create_task(apply_wave("x-second", hold=False))
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND datname = current_database()")
    while not await pool.fetchval(waiting):
        assert not second.done(), "the second wave went on while the first held the pair"
        await asyncio.sleep(0.01)  # polling for the condition: the second waits at the pair's insert
    release.set()
    assert await first is True
    assert await second is False
    assert await pool.fetchval("SELECT count(*) FROM scheduling.series WHERE relationship_id = 'r-twice'") == 1
    assert await pool.fetchval("SELECT count(*) FROM scheduling.meetings WHERE relationship_id = 'r-twice'") == 1
    assert await pool.fetchval("SELECT count(*) FROM scheduling.outbox") == 1
