"""Feedback's set-wise handlers against the one-event path, on a real PostgreSQL: random batches of
meeting events (held, missed, scheduled; the same meeting twice, a meeting id shared by two
relationships, an unknown or ended relationship, redeliveries, reused ids) leave the same rows, the
same events in the same order and the same dead letters either way."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.feedback.entrypoints.app import MIGRATIONS
from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps, on_meeting_completed
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from services.feedback.settings import FeedbackSettings
from shared.clock import ProgramClock
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.db import create_database, create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from shared.waves import wave_end

pytestmark = pytest.mark.integration
NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
# r0, r1: active in program g1 (defaults); r2: active in g2 (a short term, configured); r3: ended; r4: unknown.
RELATIONSHIPS = ("r0", "r1", "r2", "r3", "r4")
SCHEMA = "feedback"


class FrozenClock(ProgramClock):
    """Both paths see the same time, so their rows can be compared whole."""

    def now(self) -> datetime:
        return NOW


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


async def seed(pool) -> None:
    """What the feedback service knew before the batch: pairs, a configured program, health, goal
    progress, answers given before their meeting was reported, an overdue request, earlier outcomes."""
    async with pool.acquire() as conn:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'", SCHEMA)]
        await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        for i, rid in enumerate(RELATIONSHIPS[:4]):
            await conn.execute(
                "INSERT INTO pairs (relationship_id, program_id, mentor_id, mentee_id, established_at, goals, status, "
                "ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                rid, "g2" if rid == "r2" else "g1", f"mentor{i}", f"mentee{i}", NOW - timedelta(days=40),
                ["negotiation", "public speaking"], "ended" if rid == "r3" else "active",
                NOW - timedelta(days=1) if rid == "r3" else None, "completed" if rid == "r3" else None)
        await conn.execute("INSERT INTO programs (program_id, name, term_days, configured_at) "
                           "VALUES ('g2', 'Short', 60, $1)", NOW)
        await conn.execute(
            "INSERT INTO relationship_health (relationship_id, score, state, reasons, reason_codes, assessed_at) "
            "VALUES ('r1', 30, 'at_risk', '{low}', '[{\"code\": \"ratings_low\", \"params\": {\"average\": 1.5}}]', $1),"
            " ('r3', 80, 'healthy', '{}', '[]', $1)", NOW - timedelta(days=2))
        await conn.execute("INSERT INTO goal_progress (relationship_id, goal, progress, updated_at) "
                           "VALUES ('r2', 'negotiation', 10, $1)", NOW - timedelta(days=3))
        await conn.executemany(
            "INSERT INTO feedback (feedback_id, relationship_id, participant_id, meeting_id, rating, progress, "
            "submitted_at, kind, fit) VALUES ($1, $2, $3, $4, $5, $6, $7, 'meeting', $8)",
            [("f0", "r0", "mentee0", "r0-m1", 5, 4, NOW - timedelta(days=1), None),
             ("f1", "r1", "mentor1", "r1-m0", 1, None, NOW - timedelta(days=5), "not_good"),
             ("f2", "r1", "mentee1", "r1-m2", 2, 1, NOW - timedelta(days=4), "good")])
        await conn.execute(
            "INSERT INTO feedback_requests (request_id, relationship_id, meeting_id, participant_id, role, "
            "requested_at, due_at, kind) VALUES ('old', 'r0', 'r0-old', 'mentor0', 'mentor', $1, $2, 'meeting')",
            NOW - timedelta(days=20), NOW - timedelta(days=13))
        await conn.execute(
            "INSERT INTO meeting_outcomes (meeting_id, relationship_id, held, recorded_at, starts_at) VALUES "
            "('r2-old1', 'r2', false, $1, $1), ('r2-old2', 'r2', false, $2, $2)",
            NOW - timedelta(days=14), NOW - timedelta(days=7))


def event_of(kind: str, rid: str, k: int, start: int):
    i = RELATIONSHIPS.index(rid)
    # k == 3: a meeting id that two relationships' events name (wrong, but it must not break a wave).
    meeting_id = "shared" if k == 3 else f"{rid}-m{k}"
    fields = dict(meeting_id=meeting_id, relationship_id=rid, program_id="g2" if rid == "r2" else "g1",
                  mentor_id=f"mentor{i}", mentee_id=f"mentee{i}", occurrence=k + 1,
                  start=NOW - timedelta(days=4 - start), end=NOW - timedelta(days=4 - start, minutes=-45))
    if kind == "completed":
        return "meeting.completed", ev.MeetingCompleted(**fields)
    if kind == "missed":
        return "meeting.missed", ev.MeetingMissed(**fields, absent=[f"mentee{i}"])
    return "meeting.scheduled", ev.MeetingScheduled(**fields, ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")


step = st.one_of(
    st.tuples(st.sampled_from(["completed"] * 6 + ["missed", "scheduled"]), st.sampled_from(RELATIONSHIPS[:4]),
              st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("completed"), st.just("r4"), st.integers(0, 2), st.just(0)),  # not established here
    st.tuples(st.just("again"), st.integers(0, 50), st.just(0), st.just(0)),  # an earlier record again
    st.tuples(st.just("reuse"), st.integers(0, 50), st.integers(0, 2), st.just(0)),  # an earlier id, another event
)


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []  # (key, value)
    for n, (kind, who, k, start) in enumerate(steps):
        if kind in ("again", "reuse") and made:
            key, value = made[who % len(made)]
            if kind == "again":
                made.append((key, value))
            else:
                event_type, data = event_of("completed", RELATIONSHIPS[k], 0, 1)
                made.append((data.relationship_id, new_envelope(
                    type=event_type, source="/scheduling", data=data, time=NOW, id=orjson.loads(value)["id"]).to_json()))
            continue
        if kind in ("again", "reuse"):
            kind, who, k = "completed", "r0", 0
        event_type, data = event_of(kind, who, k, start)
        made.append((who, new_envelope(type=event_type, source="/scheduling", data=data,
                                       time=NOW - timedelta(minutes=len(steps) - n), id=f"e-{n}").to_json()))
    return [ConsumerRecord(topics.MEETINGS, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


async def state(pool) -> dict:
    """Every row of the schema (but times Postgres stamps itself), and the events in the outbox's order."""
    async with pool.acquire() as conn:
        columns: dict[str, list[str]] = {}
        for r in await conn.fetch(
                """SELECT c.table_name, c.column_name FROM information_schema.columns c
                   JOIN pg_tables t ON t.tablename = c.table_name AND t.schemaname = c.table_schema
                   WHERE c.table_schema = $1 AND c.table_name NOT IN ('schema_migrations', 'outbox')
                     AND coalesce(c.column_default, '') NOT LIKE '%now()%'
                   ORDER BY c.table_name, c.ordinal_position""", SCHEMA):
            columns.setdefault(r["table_name"], []).append(f'"{r["column_name"]}"')
        tables = {table: sorted(tuple(row) for row in await conn.fetch(f"SELECT {', '.join(names)} FROM {table}"))
                  for table, names in columns.items()}
        events = []
        for r in await conn.fetch("SELECT topic, key, payload FROM outbox ORDER BY id"):
            payload = orjson.loads(r["payload"])
            events.append((r["topic"], r["key"], payload["type"], payload["subject"], payload["time"], payload["data"]))
        return {"tables": tables, "events": events}


@contextlib.asynccontextmanager
async def feedback_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "fbwaves"), SCHEMA, size=2)
    try:
        await migrate(pool, SCHEMA, MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
        yield pool
    finally:
        await pool.close()


async def apply(pool, records, *, set_wise: bool, batch: int) -> tuple[list[str], list[tuple[int, str]]]:
    clock = FrozenClock(NOW)
    letters = DeadLetters()
    runtime = Runtime(name="feedback", topic_prefix="", producer=letters,  # type: ignore[arg-type]
                      transaction=lambda: unit_of_work(pool, source="/tandem/feedback", clock=clock, schema=SCHEMA,
                                                       cls=FeedbackUnitOfWork),
                      deps=FeedbackDeps(FeedbackSettings()),
                      limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    consumer = Consumer("feedback", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list[str] = []
    for i in range(0, len(records), batch):
        outcomes += await consumer.dispatch_batch(runtime, topics.MEETINGS, records[i:i + batch])
    return outcomes, sorted(letters.letters)


@pytest.fixture
async def databases(database_url):
    async with feedback_database(database_url) as one, feedback_database(database_url) as many:
        yield one, many


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30), batch=st.sampled_from([1, 6, 200]))
# Every relationship once (answered before asked, ended, at risk, overdue, short term), then each again.
@example(steps=[("completed", r, 1, 2) for r in RELATIONSHIPS[:4]] + [("completed", r, 2, 3) for r in RELATIONSHIPS[:4]],
         batch=200)
# The same meeting reported twice in one wave's reach; one meeting id named by two relationships.
@example(steps=[("completed", "r0", 1, 0), ("completed", "r1", 3, 0), ("completed", "r0", 1, 0),
                ("completed", "r2", 3, 1), ("completed", "r3", 0, 0)], batch=200)
# A wave that waits on an unknown relationship, a redelivery and a reused id inside it.
@example(steps=[("completed", "r0", 0, 0), ("completed", "r4", 0, 0), ("completed", "r1", 0, 0),
                ("again", 0, 0, 0), ("reuse", 2, 2, 0), ("missed", "r2", 1, 3), ("completed", "r2", 2, 3)], batch=6)
async def test_waves_leave_what_the_one_event_path_leaves(databases, steps, batch):
    one, many = databases
    records = records_of(steps)
    await seed(one)
    await seed(many)
    reference = await apply(one, records, set_wise=False, batch=batch)
    waves = await apply(many, records, set_wise=True, batch=batch)
    assert waves == reference
    assert await state(many) == await state(one)


async def test_a_batch_of_held_meetings_is_applied_as_one_wave(databases):
    """The fast path is taken: four held meetings of four relationships are one wave, applied once;
    the same relationship again starts the next wave."""
    one, _ = databases
    steps = [("completed", r, 1, 2) for r in RELATIONSHIPS[:4]] + [("completed", "r0", 2, 3)]
    records = records_of(steps)
    data = [ev.MeetingCompleted.model_validate(orjson.loads(r.value)["data"]) for r in records]
    handlers = [on_meeting_completed] * 5
    assert wave_end(handlers, data, [True] * 5, 0) == 4 and wave_end(handlers, data, [True] * 5, 4) == 5
    await seed(one)
    calls = []
    many = on_meeting_completed.many

    async def counted(wave, uow, deps):
        calls.append(len(wave))
        await many(wave, uow, deps)

    on_meeting_completed.many = counted
    try:
        assert (await apply(one, records, set_wise=True, batch=200))[0] == ["handled"] * 5
    finally:
        on_meeting_completed.many = many
    assert calls == [4]  # the fifth, alone, goes the one-event way
    assert await one.fetchval("SELECT count(*) FROM feedback.feedback_requests WHERE meeting_id LIKE '%-m_'") == 10
