"""Participant profiles in matching applied a wave at a time against one event at a time (the
reference), on two real PostgreSQL databases: random batches of onboardings, updates, moves between
programs, departures, erasures (before a profile too), redeliveries and reused ids leave the same
rows, the same profile stamps queued on match-work.v1 (their ids derived from their causes) and the
same dead letters."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.matching.service_layer import handlers
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from tests.services.matching.service_layer.test_request_waves import START, apply, matching_database
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
PEOPLE = ("ana", "bo", "chen", "dee")
PROGRAMS = ("prog-1", "prog-2")


def event_of(kind: str, who: str, variant: int, at: int):
    if kind in ("onboarded", "updated"):
        model = ev.ParticipantOnboarded if kind == "onboarded" else ev.ParticipantUpdated
        profile = onboarded(pid=who, roles=("mentor",) if who in ("ana", "bo") else ("mentee",),
                            seniority=1 + variant % 9, program_id=PROGRAMS[variant % 2])  # a move, now and then
        return model.model_validate(profile.model_dump())
    if kind == "offboarded":
        return ev.ParticipantOffboarded(participant_id=who, program_id="prog-1")
    return ev.ParticipantErased(participant_id=who, program_id="prog-1", requested_at=START + timedelta(minutes=at))


step = st.one_of(
    st.tuples(st.sampled_from(["onboarded"] * 5 + ["updated"] * 3 + ["offboarded", "erased"]),
              st.sampled_from(PEOPLE), st.integers(0, 5)),
    st.tuples(st.just("again"), st.integers(0, 50), st.just(0)),  # an earlier record delivered again
    st.tuples(st.just("reuse"), st.integers(0, 50), st.integers(0, 5)),  # an earlier id, another event
)
TYPES = {"onboarded": "participant.onboarded", "updated": "participant.updated",
         "offboarded": "participant.offboarded", "erased": "participant.erased"}


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []  # (key, value)
    for n, (kind, who, variant) in enumerate(steps):
        if kind == "again" and made:
            made.append(made[who % len(made)])
            continue
        if kind == "reuse" and made:
            key, value = made[who % len(made)]
            data = event_of("onboarded", key, variant + 1, n)
            made.append((key, new_envelope(type="participant.onboarded", source="/hris", data=data, time=START,
                                           id=orjson.loads(value)["id"]).to_json()))
            continue
        if kind in ("again", "reuse"):
            kind, who = "onboarded", PEOPLE[who % len(PEOPLE)]
        made.append((who, new_envelope(type=TYPES[kind], source="/hris", data=event_of(kind, who, variant, n),
                                       time=START, id=f"e-{n}").to_json()))
    return [ConsumerRecord(topics.PARTICIPANTS, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


async def state(pool) -> dict:
    people = [dict(r) for r in await pool.fetch("SELECT * FROM matching.participants ORDER BY participant_id")]
    for row in people:
        row.pop("updated_at")
    events = []
    for r in await pool.fetch("SELECT topic, key, payload FROM matching.outbox ORDER BY id"):
        payload = orjson.loads(r["payload"])
        data = {f: v for f, v in payload["data"].items() if f != "completed_at"}
        events.append((r["topic"], r["key"], payload["type"], data,
                       payload["id"] if payload["type"] == "profile.change.queued" else None))
    return {"participants": people, "events": events,
            "erased": [r[0] for r in await pool.fetch("SELECT participant_id FROM matching.erased_participants")],
            "inbox": [tuple(r) for r in await pool.fetch("SELECT event_id, event_type FROM matching.inbox ORDER BY 1")]}


def spy_on_waves(monkeypatch) -> list[int]:
    """The size of each wave of profiles applied together, in order."""
    waves: list[int] = []
    original = handlers.on_participant_profiles

    async def spied(wave, uow, deps):
        waves.append(len(wave))
        return await original(wave, uow, deps)

    monkeypatch.setattr(handlers.on_participant_profile, "many", spied)
    return waves


@pytest.fixture
async def databases(database_url):
    async with matching_database(database_url) as one, matching_database(database_url) as many:
        yield one, many


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30), batch=st.sampled_from([1, 7, 200]))
# A move between programs (a stamp for each), an update, then an erasure inside a wave and a profile after it.
@example(steps=[("onboarded", "ana", 0), ("onboarded", "chen", 1), ("updated", "ana", 1), ("onboarded", "bo", 2),
                ("erased", "bo", 0), ("onboarded", "dee", 0), ("onboarded", "bo", 3), ("again", 1, 0)], batch=200)
async def test_waves_of_profiles_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = records_of(steps)
    waves = spy_on_waves(monkeypatch)
    reference = await apply(one, records, set_wise=False, batch=batch, topic=topics.PARTICIPANTS)
    assert not waves
    together = await apply(many, records, set_wise=True, batch=batch, topic=topics.PARTICIPANTS)
    assert together == reference
    assert await state(many) == await state(one)


async def test_a_batch_of_profiles_is_one_wave(databases, monkeypatch):
    _, many = databases
    records = records_of([("onboarded", who, n) for n, who in enumerate(PEOPLE)])
    waves = spy_on_waves(monkeypatch)
    outcomes, letters = await apply(many, records, set_wise=True, batch=200, topic=topics.PARTICIPANTS)
    assert outcomes == ["handled"] * 4 and not letters and waves == [4]
    stamps = [e for e in (await state(many))["events"] if e[2] == "profile.change.queued"]
    assert [e[3]["participant_id"] for e in stamps] == list(PEOPLE)
