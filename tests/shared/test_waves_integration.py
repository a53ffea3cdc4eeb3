"""Set-wise waves against the one-event path, on a real PostgreSQL: random batches of the participant
events every service keeps (duplicates, reused ids, the same person twice, erasures, choices before
a profile) leave the same rows, the same events and the same dead letters either way."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared import replica
from shared.clock import ProgramClock
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.db import create_database, create_pool, migrate
from shared.unit_of_work import UnitOfWork, unit_of_work
from shared.waves import set_wise, wave_end
from tests.support.people import person

pytestmark = pytest.mark.integration
PEOPLE = ("ana", "bo", "chen", "dee")
START = datetime(2027, 1, 4, 9, tzinfo=UTC)


class ReplicaUnitOfWork(UnitOfWork):
    def bind(self, conn) -> None:
        self.participants = replica.ParticipantDirectory(conn)


SUBSCRIPTIONS = {**replica.PARTICIPANT_SUBSCRIPTIONS, ev.ParticipantErased: replica.erasure_handler("waves")}


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


def event_of(kind: str, who: str, variant: int, at: int):
    if kind in ("onboarded", "updated"):
        model = ev.ParticipantOnboarded if kind == "onboarded" else ev.ParticipantUpdated
        return model.model_validate(person(who, seniority=1 + variant % 9, skills=("negotiation",) * (variant % 2),
                                           goals=("leadership",), country=("NL", "JP", "BR")[variant % 3]))
    if kind == "offboarded":
        return ev.ParticipantOffboarded(participant_id=who, program_id="prog-1")
    if kind == "erased":
        return ev.ParticipantErased(participant_id=who, program_id="prog-1", requested_at=START + timedelta(minutes=at))
    return ev.ParticipantPreferencesChanged(participant_id=who, program_id="prog-1", channel="email",
                                            style=("direct", "indirect")[variant % 2], changed_at=START + timedelta(minutes=at))


step = st.one_of(
    st.tuples(st.sampled_from(["onboarded"] * 5 + ["updated"] * 3 + ["offboarded", "erased", "preferences"]),
              st.sampled_from(PEOPLE), st.integers(0, 5)),
    st.tuples(st.just("again"), st.integers(0, 50), st.just(0)),  # an earlier record delivered again
    st.tuples(st.just("reuse"), st.integers(0, 50), st.integers(0, 5)),  # an earlier id, another event
)


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []  # (key, value)
    for n, (kind, who, variant) in enumerate(steps):
        if kind == "again" and made:
            made.append(made[who % len(made)])
            continue
        if kind == "reuse" and made:
            key, value = made[who % len(made)]
            envelope = orjson.loads(value)
            data = event_of("onboarded", key, variant + 10, n)
            made.append((key, new_envelope(type="participant.onboarded", source="/hris", data=data, time=START,
                                           id=envelope["id"]).to_json()))
            continue
        if kind in ("again", "reuse"):
            kind, who = "onboarded", PEOPLE[who % len(PEOPLE)]
        data = event_of(kind, who, variant, n)
        event_type = {"onboarded": "participant.onboarded", "updated": "participant.updated",
                      "offboarded": "participant.offboarded", "erased": "participant.erased",
                      "preferences": "participant.preferences.changed"}[kind]
        made.append((who, new_envelope(type=event_type, source="/hris", data=data, time=START, id=f"e-{n}").to_json()))
    return [ConsumerRecord(topics.PARTICIPANTS, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


async def state(pool) -> dict:
    async with pool.acquire() as conn:
        people = [dict(r) for r in await conn.fetch("SELECT * FROM participants ORDER BY participant_id")]
        for row in people:
            row.pop("updated_at")
        events = [(r["topic"], r["key"], orjson.loads(r["payload"])["type"], orjson.loads(r["payload"])["data"])
                  for r in await conn.fetch("SELECT topic, key, payload FROM outbox ORDER BY id")]
        return {
            "participants": people,
            "erased": [r[0] for r in await conn.fetch("SELECT participant_id FROM erased_participants ORDER BY 1")],
            "inbox": [tuple(r) for r in await conn.fetch("SELECT event_id, event_type FROM inbox ORDER BY 1")],
            "events": [(t, k, ty, {f: v for f, v in d.items() if f != "completed_at"}) for t, k, ty, d in events],
        }


@contextlib.asynccontextmanager
async def replica_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "waves"), "waves", size=2)
    try:
        from pathlib import Path

        await migrate(pool, "waves", Path(__file__).parent / "plumbing_migrations",
                      replicas=[replica.PARTICIPANTS_TRACK, replica.PAIRS_TRACK])
        yield pool
    finally:
        await pool.close()


async def apply(pool, records, *, set_wise: bool, batch: int) -> tuple[list[str], list[tuple[int, str]]]:
    clock = ProgramClock()
    letters = DeadLetters()
    runtime = Runtime(name="waves", topic_prefix="", producer=letters,  # type: ignore[arg-type]
                      transaction=lambda: unit_of_work(pool, source="/tandem/waves", clock=clock, schema="waves",
                                                       cls=ReplicaUnitOfWork),
                      limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    consumer = Consumer("waves", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list[str] = []
    for i in range(0, len(records), batch):
        outcomes += await consumer.dispatch_batch(runtime, topics.PARTICIPANTS, records[i:i + batch])
    return outcomes, sorted(letters.letters)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40), batch=st.sampled_from([1, 7, 200]))
# Erased before their profile, inside a wave of others; a person twice; choices before a profile.
@example(steps=[("erased", "ana", 0), ("onboarded", "bo", 1), ("onboarded", "ana", 2), ("onboarded", "chen", 1)], batch=200)
@example(steps=[("onboarded", "ana", 0), ("updated", "ana", 1), ("onboarded", "bo", 2), ("again", 1, 0)], batch=200)
@example(steps=[("preferences", "ana", 0), ("onboarded", "ana", 1), ("reuse", 1, 3), ("onboarded", "dee", 1)], batch=7)
async def test_waves_leave_what_the_one_event_path_leaves(database_url, steps, batch):
    records = records_of(steps)
    async with replica_database(database_url) as one, replica_database(database_url) as many:
        reference = await apply(one, records, set_wise=False, batch=batch)
        waves = await apply(many, records, set_wise=True, batch=batch)
        assert waves == reference
        assert await state(many) == await state(one)


async def test_a_batch_of_new_people_is_saved_in_waves_of_distinct_people(database_url):
    """The fast path is taken: 8 onboardings of 4 people make 2 waves, not 8 one-event applications."""
    records = records_of([("onboarded", PEOPLE[i % 4], i) for i in range(8)])
    handlers = [replica.on_participant_profile] * 8
    data = [ev.ParticipantOnboarded.model_validate(orjson.loads(r.value)["data"]) for r in records]
    assert wave_end(handlers, data, [True] * 8, 0) == 4 and wave_end(handlers, data, [True] * 8, 4) == 8
    async with replica_database(database_url) as pool:
        assert (await apply(pool, records, set_wise=True, batch=200))[0] == ["handled"] * 8
        assert await pool.fetchval("SELECT count(*) FROM participants") == 4


class FlakyWaves:
    """A set-wise handler whose wave form fails the first time it is called (the reference never does)."""

    def __init__(self) -> None:
        self.calls = 0
        self.applied: list[str] = []

        async def together(wave, uow, deps) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("the wave form failed once")
            for applied in wave:
                await one(applied.data, uow, deps)

        @set_wise(together)
        async def one(event: ev.ParticipantOffboarded, uow, deps) -> None:
            uow.after_commit(lambda pid=event.participant_id: self.applied.append(pid))

        self.handler = one


async def test_a_failed_wave_is_applied_one_at_a_time_and_the_rest_of_the_batch_still_goes(database_url):
    flaky = FlakyWaves()
    events = [ev.ParticipantOffboarded(participant_id=p, program_id="prog-1") for p in ("ana", "bo", "chen", "dee")]
    records = [
        ConsumerRecord(topics.PARTICIPANTS, 0, i, 0, 0, e.participant_id.encode(),
                       new_envelope(type="participant.offboarded", source="/hris", data=e, time=START).to_json(),
                       None, 0, 0, ())
        for i, e in enumerate(events)
    ]
    # ana and bo: a wave (fails, then one at a time); bo again: the wave ends; chen, dee: the next wave.
    records.insert(2, dataclasses.replace(records[1], offset=9))
    async with replica_database(database_url) as pool:
        runtime = Runtime(name="waves", topic_prefix="", producer=None,
                          transaction=lambda: unit_of_work(pool, source="/t", clock=ProgramClock(), schema="waves"))
        consumer = Consumer("waves", {ev.ParticipantOffboarded: flaky.handler})
        outcomes = await consumer.dispatch_batch(runtime, topics.PARTICIPANTS, records)
    assert outcomes == ["handled", "handled", "duplicate", "handled", "handled"]
    assert sorted(flaky.applied) == ["ana", "bo", "chen", "dee"]  # each once: nothing lost, nothing twice
    assert flaky.calls == 2  # the failed wave, then chen and dee's
