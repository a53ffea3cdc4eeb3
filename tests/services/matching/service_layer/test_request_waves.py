"""On-demand requests applied a wave at a time against one event at a time (the reference), on two
real PostgreSQL databases.

match.request.queued (`matchmaking.propose_to_many` against `propose_next`): random batches of
requests over three programs, mentees asked for twice, asked for in the wrong program, already
matched, waiting for an answer or gone; mentors filling up; a program without mentors (so
match.unavailable); profile stamps in between; redeliveries. Between the first and the second
batch the record changes behind the index's back (a mentor's capacity lowered, a mentee added
without a stamp), so the record refuses a mentor the index offers and the index lacks a mentee: the
paths where a wave must write what it chose so far and go on from a read, as one at a time would.

match.requested (the first hop, `on_match_requests`): unknown, wrong and gone mentees among known
ones, in waves; the queued events, dead letters and waits are the same either way.

Both leave the same rows, the same events in the same order (proposal ids compared by order of
appearance) and the same dead letters."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.matching.entrypoints.app import MIGRATIONS
from services.matching.service_layer import handlers
from services.matching.service_layer.handlers import SUBSCRIPTIONS
from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from services.matching.settings import MatchingSettings
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from shared.db import create_database, create_pool, migrate
from shared.errors import NotYetKnown, PermanentError
from shared.people import Participant
from shared.programs import PROGRAMS_TRACK
from shared.replica import PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # Monday
WORK, QUEUED = topic_of(ev.MatchRequestQueued)
REQUESTS, REQUESTED = topic_of(ev.MatchRequested)
SPEAKING, NEGOTIATION = ("public speaking",), ("negotiation",)
MENTORS = {"m-a": ("prog-1", 3, SPEAKING), "m-b": ("prog-1", 1, NEGOTIATION), "m-c": ("prog-1", 2, SPEAKING + NEGOTIATION),
           "m-x": ("prog-2", 1, SPEAKING), "m-y": ("prog-2", 2, NEGOTIATION)}
GOALS = {"e-1": NEGOTIATION, "e-3": NEGOTIATION, "f-1": NEGOTIATION}  # the others: public speaking
MENTEES = {"e-0": "prog-1", "e-1": "prog-1", "e-2": "prog-1", "e-3": "prog-1", "e-4": "prog-1", "e-5": "prog-1",
           "e-6": "prog-1",
           "e-ja": "prog-1", "f-0": "prog-2", "f-1": "prog-2", "f-2": "prog-2", "g-0": "prog-3",
           "e-gone": "prog-1", "e-late": "prog-1"}
MATCHED, WAITING = "e-5", "e-4"  # already in a relationship (with m-c), waiting for m-b's answer
LATE = "e-late"  # added to the record after the first batch, without a stamp: not in the index
SHRUNK = "m-a"  # its capacity lowered to 1 in the record after the first batch, without a stamp
NEW = "m-new"  # a mentor of prog-1 added to the record after the first batch, without a stamp
PEOPLE = [*sorted(MENTEES), "m-a", "ghost"]  # a mentor asked for as a mentee; someone never onboarded
TABLES = ("proposals", "relationships")


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


step = st.one_of(
    st.tuples(st.just("request"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("wrong"), st.sampled_from(sorted(MENTEES))),  # asked for in another program
    st.tuples(st.just("profile"), st.sampled_from([*sorted(MENTORS), NEW, *sorted(MENTEES)])),  # a stamp in between
    st.tuples(st.just("again"), st.integers(0, 60)),  # an earlier record delivered again
)


def program_of(pid: str) -> str:
    return MENTORS[pid][0] if pid in MENTORS else MENTEES.get(pid, "prog-1")  # NEW: prog-1


def records_of(steps, *, first_hop: bool = False) -> list[ConsumerRecord]:
    topic, kind = (REQUESTS, REQUESTED) if first_hop else (WORK, QUEUED)
    made: list[tuple[str, bytes]] = []
    for n, (what, a) in enumerate(steps):
        if what == "again":
            if made:
                made.append(made[a % len(made)])
            continue
        if what == "profile":
            if first_hop:
                continue
            data: ev.EventData = ev.ProfileChangeQueued(program_id=program_of(a), participant_id=a)
            event_type = "profile.change.queued"
        else:
            program = program_of(a) if what == "request" else ("prog-2" if program_of(a) == "prog-1" else "prog-1")
            event_type = kind
            data = (ev.MatchRequested(mentee_id=a, program_id=program) if first_hop else
                    ev.MatchRequestQueued(program_id=program, mentee_id=a, request_id=f"r-{n}"))
        made.append((data.key_value(), new_envelope(type=event_type, source="/tandem/matching", data=data,
                                                    time=START, id=f"x-{n}").to_json()))
    return [ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


def transaction(pool, clock):
    return unit_of_work(pool, source="/tandem/matching", clock=clock, schema="matching", cls=MatchingUnitOfWork)


async def reset(pool, clock: FixedClock) -> None:
    await pool.execute("TRUNCATE matching.relationships, matching.proposals, matching.participants, "
                       "matching.program_versions, matching.index_changes, matching.inbox, matching.outbox, "
                       "matching.dead_lettered")
    async with transaction(pool, clock) as uow:
        for pid, (program, capacity, skills) in MENTORS.items():
            await uow.participants.save(Participant.from_profile(onboarded(
                pid=pid, roles=("mentor",), seniority=8, capacity=capacity, skills=skills, program_id=program)))
        for pid, program in MENTEES.items():
            if pid != LATE:
                await uow.participants.save(Participant.from_profile(onboarded(
                    pid=pid, seniority=2, goals=GOALS.get(pid, SPEAKING), program_id=program,
                    languages=("ja",) if pid == "e-ja" else ("en",))))
        await uow.participants.deactivate("e-gone")
    explanation = orjson.dumps({"summary": "seeded"}).decode()
    await pool.execute(
        f"""INSERT INTO matching.proposals (proposal_id, program_id, mentee_id, mentor_id, score, explanation,
                                            created_at, expires_at, status)
            VALUES ('p-matched', 'prog-1', '{MATCHED}', 'm-c', 1, '{explanation}', $1::timestamptz, $1::timestamptz + interval '3 days',
                    'accepted'),
                   ('p-waiting', 'prog-1', '{WAITING}', 'm-b', 1, '{explanation}', $1::timestamptz, $1::timestamptz + interval '3 days',
                    'pending')""", START)
    await pool.execute(
        f"""INSERT INTO matching.relationships (relationship_id, proposal_id, program_id, mentee_id, mentor_id,
                                                established_at)
            VALUES ('r-matched', 'p-matched', 'prog-1', '{MATCHED}', 'm-c', $1)""", START)


async def behind_the_index(pool, clock: FixedClock) -> None:
    """The record changes without a stamp: the index offers a mentor the record refuses, lacks a mentee,
    and lacks a mentor until their stamp comes."""
    await pool.execute("UPDATE matching.participants SET mentor_capacity = 1 WHERE participant_id = $1", SHRUNK)
    async with transaction(pool, clock) as uow:
        await uow.participants.save(Participant.from_profile(onboarded(
            pid=LATE, seniority=2, goals=SPEAKING, program_id=MENTEES[LATE])))
        await uow.participants.save(Participant.from_profile(onboarded(
            pid=NEW, roles=("mentor",), seniority=9, capacity=2, skills=SPEAKING + NEGOTIATION, program_id="prog-1")))


class Spy:
    """What each wave of queued requests raised (nothing, ever: their checks are in the first hop)."""

    def __init__(self, monkeypatch) -> None:
        self.waves, self.raised = 0, []
        original = handlers.propose_to_many

        async def spied(uow, deps, requests):
            self.waves += 1
            try:
                return await original(uow, deps, requests)
            except Exception as exc:
                self.raised.append(exc)
                raise

        monkeypatch.setattr(handlers, "propose_to_many", spied)


async def apply(pool, records, *, set_wise: bool, batch: int, topic: str = WORK, seed=None):
    clock = FixedClock(START)
    await reset(pool, clock)
    if seed is not None:
        await seed(pool)
    letters = DeadLetters()
    runtime = Runtime(name="matching", topic_prefix="", producer=letters,  # type: ignore[arg-type]
                      transaction=lambda: transaction(pool, clock),
                      deps=MatchingDeps.from_settings(MatchingSettings(response_window_hours=72)),
                      limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    consumer = Consumer("matching", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list[str] = []
    for n, i in enumerate(range(0, len(records), batch)):
        if n == 1:
            await behind_the_index(pool, clock)
        outcomes += await consumer.dispatch_batch(runtime, topic, records[i:i + batch])
    return outcomes, sorted(letters.letters)


async def state(pool) -> dict:
    """The rows and events, proposal ids named by the order their match.proposed was emitted."""
    outbox = await pool.fetch("SELECT topic, key, payload FROM matching.outbox ORDER BY id")
    names: dict[str, str] = {}
    events = []
    for row in outbox:
        payload = orjson.loads(row["payload"])
        data = payload["data"]
        if "proposal_id" in data:
            data["proposal_id"] = names.setdefault(data["proposal_id"], f"proposal-{len(names)}")
        events.append((row["topic"], row["key"], payload["type"], data,
                       payload["id"] if payload["type"] == "match.request.queued" else None))
    found: dict = {"events": events}
    for table in TABLES:
        rows = [dict(r) for r in await pool.fetch(f"SELECT * FROM matching.{table}")]
        for row in rows:
            row["proposal_id"] = names.get(row["proposal_id"], row["proposal_id"])
            row.pop("made", None)
        found[table] = sorted(rows, key=repr)
    found["inbox"] = [tuple(r) for r in await pool.fetch("SELECT event_id, event_type FROM matching.inbox ORDER BY 1")]
    found["stamped"] = sorted(tuple(r) for r in await pool.fetch(
        "SELECT program_id, participant_id FROM matching.index_changes"))
    return found


@contextlib.asynccontextmanager
async def matching_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "waves"), "matching", size=4)
    try:
        await migrate(pool, "matching", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK))
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def databases(database_url):
    async with matching_database(database_url) as one, matching_database(database_url) as many:
        yield one, many


FILLING = [("request", m) for m in ("e-0", "e-1", "e-2", "e-3", "e-4", "e-5", "e-ja", "g-0", "f-0", "f-1",
                                    "f-2", "m-a", "e-gone")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40), batch=st.sampled_from([1, 5, 9, 200]))
# Every kind of mentee in one wave, over three programs; mentors fill up; no mentor in prog-3.
@example(steps=FILLING, batch=200)
# After the first batch the record refuses the shrunk mentor and the index lacks the late mentee.
@example(steps=[("request", "e-0"), ("request", "e-1"), ("request", "e-2"), ("request", LATE), ("request", "e-3"),
                ("wrong", "f-0"), ("request", "f-0"), ("request", "f-1"), ("request", "f-2"), ("again", 3)], batch=2)
# The record refuses the shrunk mentor after a choice made before it in the same wave, and a choice after it
# is dropped and made again.
@example(steps=[("request", "e-0"), ("again", 0), ("again", 0), ("again", 0), ("request", "e-1"), ("request", "e-2"),
                ("request", "e-3"), ("request", "e-6")], batch=4)
@example(steps=[("request", "e-0"), ("request", "e-1"), ("request", "e-2"), ("request", "e-3"), ("request", LATE),
                ("profile", "m-b"), ("request", "e-ja"), ("request", "e-0"), ("again", 0)], batch=3)
# A mentor proposed to, then stamped, in one wave: read back (ahead of the wave) with the place just taken.
@example(steps=[("request", "f-0"), ("profile", "m-x"), ("request", "f-2"), ("profile", "m-y"), ("request", "f-1")],
         batch=200)
# A refused choice (the shrunk mentor, second batch) before a stamp of another program and after one of its own.
@example(steps=[("request", "e-1"), ("request", "e-6"), ("profile", "m-a"), ("request", "e-0"), ("profile", "m-x"),
                ("request", "f-0"), ("request", "e-2"), ("profile", "m-a"), ("request", "e-3")], batch=2)
# After a request answered without the new mentor, their stamp, then a choice the record refuses before both:
# going back to it must not answer the first request again seeing the new mentor.
@example(steps=[("request", "e-0"), ("request", "e-1"), ("request", "e-2"), ("profile", NEW), ("request", "e-3")],
         batch=2)
# The index is built in the first batch, before the shrunk mentor's capacity is lowered behind it.
@example(steps=[("request", "e-1"), ("request", "e-0")], batch=1)
# Nothing in the first batch needs an index (a mentee waiting, one matched): the first read of the program is
# after the record changed behind it, and the shrunk mentor's free places are told as the record has them.
@example(steps=[("request", WAITING)] * 4 + [("request", MATCHED), ("request", "e-0")], batch=5)
async def test_waves_of_queued_requests_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = records_of(steps)
    spy = Spy(monkeypatch)
    reference = await apply(one, records, set_wise=False, batch=batch)
    assert spy.waves == 0
    waves = await apply(many, records, set_wise=True, batch=batch)
    assert waves == reference
    assert await state(many) == await state(one)
    assert not spy.raised, f"a wave failed: {spy.raised!r}"


async def test_a_batch_of_requests_of_several_programs_is_one_wave(databases, monkeypatch):
    """The fast path is taken: one wave proposes for every mentee it can, in every program."""
    one, many = databases
    records = records_of(FILLING)
    spy = Spy(monkeypatch)
    waves = await apply(many, records, set_wise=True, batch=200)
    assert spy.waves == 1 and not spy.raised
    reference = await apply(one, records, set_wise=False, batch=200)
    assert waves == reference and await state(many) == await state(one)
    said = {e[3]["mentee_id"]: e[2] for e in (await state(many))["events"]}
    assert said["e-0"] == "match.proposed" and said["g-0"] == "match.unavailable" and said["e-ja"] == "match.unavailable"
    assert said[MATCHED] == said[WAITING] == "match.unavailable"  # already matched, waiting for an answer
    assert "e-gone" not in said and "m-a" not in said
    codes = {e[3]["mentee_id"]: e[3].get("reason_code") for e in (await state(many))["events"]}
    assert (codes[MATCHED], codes[WAITING]) == ("already_matched", "awaiting_answer")


async def test_a_proposal_tells_the_free_places_the_record_has(databases, monkeypatch):
    """The program's index is built in the first batch; then the shrunk mentor's capacity is lowered to
    1 behind its back. A proposal to that mentor tells the one free place the record has, not the three
    the index had (the record refuses what it does not have, and the mentor is read back): one event at
    a time and a wave at a time alike."""
    one, many = databases
    records = records_of([("request", "e-1"), ("again", 0), ("request", "e-0"), ("request", "e-3")])
    spy = Spy(monkeypatch)
    for pool, set_wise in ((one, False), (many, True)):
        await apply(pool, records, set_wise=set_wise, batch=2)
        told = await pool.fetchrow("SELECT mentor_id, explanation FROM matching.proposals WHERE mentee_id = 'e-0'")
        assert told["mentor_id"] == SHRUNK and told["explanation"]["facts"]["mentor_free_places"] == 1
    assert spy.waves == 1 and not spy.raised  # e-0 and e-3, a wave
    assert await state(many) == await state(one)


first_hop_step = st.one_of(
    st.tuples(st.just("request"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("wrong"), st.sampled_from(sorted(MENTEES))),
    st.tuples(st.just("again"), st.integers(0, 60)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(first_hop_step, min_size=1, max_size=30), batch=st.sampled_from([1, 7, 200]))
@example(steps=[("request", "e-0"), ("request", "ghost"), ("request", "m-a"), ("wrong", "e-1"), ("request", "e-gone"),
                ("request", "f-0"), ("again", 0), ("request", "e-0")], batch=200)
async def test_waves_of_match_requests_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = records_of(steps, first_hop=True)
    raised: list[Exception] = []
    original = handlers.on_match_requests

    async def spied(wave, uow, deps):
        try:
            return await original(wave, uow, deps)
        except Exception as exc:
            raised.append(exc)
            raise

    monkeypatch.setattr(handlers.on_match_requested, "many", spied)
    reference = await apply(one, records, set_wise=False, batch=batch, topic=REQUESTS)
    waves = await apply(many, records, set_wise=True, batch=batch, topic=REQUESTS)
    assert waves == reference
    assert await state(many) == await state(one)
    unexpected = [exc for exc in raised if not isinstance(exc, NotYetKnown | PermanentError)]
    assert not unexpected, f"a wave failed where the reference did not: {unexpected!r}"
