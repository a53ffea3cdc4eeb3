"""match.unavailable applied a wave at a time (program_team.on_matches_unavailable) against one event
at a time (program_team.on_match_unavailable, the reference), on two real PostgreSQL databases: random
batches of matches.v1 naming mentees in several languages and tones, someone who left, someone
forgotten, someone not known yet (who must wait), the same mentee twice, the codes that are not
"unmatched" (already_matched, awaiting_answer), a proposal in between that ends a stretch of waiting,
and redeliveries leave the same digest items, waiting stretches, deliveries (mail bytes included),
inbox and dead letters either way."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.notifications.service_layer import program_team
from services.notifications.service_layer.handlers import SUBSCRIPTIONS, NotificationsDeps
from services.notifications.settings import NotificationSettings
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from shared.errors import NotYetKnown
from shared.loops import Wakeup
from shared.people import Participant
from shared.waves import wave_end
from tests.services.notifications.service_layer.test_waves_integration import (
    GHOST,
    NOW,
    PEOPLE,
    DeadLetters,
    notifications_database,
    transaction,
)
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
TOPIC = topic_of(ev.MatchUnavailable)[0]
CODES = ["mentors_at_capacity", "no_shared_language", "no_mentors", "already_matched", "awaiting_answer", "new_code"]
MENTEES = ["ana", "chen", "eve", "finn", "gus", GHOST]  # eve forgotten, finn left, ghost never onboarded
TABLES = ("deliveries", "digest_items", "waiting_mentees", "proposals")

mentee = st.sampled_from(MENTEES)
step = st.one_of(
    st.tuples(st.just("unavailable"), mentee, st.sampled_from(CODES)),
    st.tuples(st.just("proposed"), mentee, st.just("")),  # ends the mentee's stretch of waiting
    st.tuples(st.just("again"), st.integers(0, 60), st.just("")),  # an earlier record again
)


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []
    for n, (kind, who, code) in enumerate(steps):
        if kind == "again":
            if made:
                made.append(made[who % len(made)])
            continue
        if kind == "proposed":
            data: ev.EventData = ev.MatchProposed(
                proposal_id=f"p-{n}",
                program_id="prog-1",
                mentee_id=who,
                mentor_id="dana",
                score=0.8,
                explanation={},
                expires_at=NOW + timedelta(days=3),
            )
        else:
            data = ev.MatchUnavailable(
                program_id="prog-1",
                mentee_id=who,
                reason="(the team's English)",
                reason_code=code,
                reason_params={"compatible": 2} if code == CODES[0] else {},
            )
        event_type = topic_of(type(data))[1]
        made.append(
            (
                data.key_value(),
                new_envelope(type=event_type, source="/test", data=data, time=NOW, id=f"x-{n}").to_json(),
            )
        )
    return [
        ConsumerRecord(TOPIC, 0, i, 0, 0, key.encode(), value, None, 0, len(value), ())
        for i, (key, value) in enumerate(made)
    ]


async def state(pool) -> dict:
    found = {}
    for table in TABLES:
        rows = [dict(r) for r in await pool.fetch(f"SELECT * FROM notifications.{table}")]
        for row in rows:
            row.pop("created_at", None)
        found[table] = sorted(rows, key=repr)
    found["outbox"] = [tuple(r) for r in await pool.fetch("SELECT topic, key, payload FROM notifications.outbox")]
    found["inbox"] = [
        tuple(r) for r in await pool.fetch("SELECT topic, event_id, event_type FROM notifications.inbox ORDER BY 1, 2")
    ]
    return found


async def reset(pool, clock: FixedClock) -> None:
    await pool.execute(
        "TRUNCATE notifications.deliveries, notifications.digest_items, notifications.waiting_mentees, "
        "notifications.proposals, notifications.participants, notifications.erased_participants, "
        "notifications.inbox, notifications.outbox, notifications.dead_lettered"
    )
    async with transaction(pool, clock)() as uow:
        for pid, profile in PEOPLE.items():
            await uow.participants.save(
                Participant.from_profile(onboarded(pid=pid, name=f"{pid.title()} Example", **profile))
            )
        await uow.participants.deactivate("finn")
        await uow.participants.erase("eve")


class Spy:
    """How many waves ran, and what they raised: only where the reference stops too."""

    def __init__(self, monkeypatch) -> None:
        self.waves, self.raised = 0, []
        handler = program_team.on_match_unavailable
        many = handler.many

        async def spied(wave, uow, deps):
            self.waves += 1
            try:
                return await many(wave, uow, deps)
            except Exception as exc:
                self.raised.append(exc)
                raise

        monkeypatch.setattr(handler, "many", spied)


async def apply(pool, records, *, set_wise: bool, batch: int) -> tuple[list, list]:
    clock = FixedClock(NOW)
    await reset(pool, clock)
    letters = DeadLetters()
    runtime = Runtime(
        name="notifications",
        topic_prefix="",
        producer=letters,  # type: ignore[arg-type]
        transaction=transaction(pool, clock),
        deps=NotificationsDeps(NotificationSettings(), wake=Wakeup()),
        limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002),
    )
    consumer = Consumer("notifications", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list = []
    for i in range(0, len(records), batch):
        outcomes += await consumer.dispatch_batch(runtime, TOPIC, records[i : i + batch])
    return outcomes, sorted(letters.letters)


@pytest.fixture
async def databases(database_url):
    async with notifications_database(database_url) as one, notifications_database(database_url) as many:
        yield one, many


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30), batch=st.sampled_from([1, 4, 200]))
# Everyone, every code; the same mentee again after a proposal; someone unknown; redeliveries.
@example(
    steps=[
        ("unavailable", "ana", CODES[0]),
        ("unavailable", "chen", CODES[1]),
        ("unavailable", "gus", CODES[2]),
        ("unavailable", "eve", CODES[0]),
        ("unavailable", "finn", CODES[5]),
        ("unavailable", "ana", CODES[1]),
        ("unavailable", "chen", CODES[3]),
        ("proposed", "ana", ""),
        ("unavailable", "ana", CODES[0]),
        ("unavailable", GHOST, CODES[0]),
        ("again", 0, ""),
        ("unavailable", "gus", CODES[4]),
        ("again", 8, ""),
    ],
    batch=200,
)
@example(
    steps=[("unavailable", GHOST, CODES[3]), ("unavailable", GHOST, CODES[0]), ("unavailable", "ana", CODES[0])],
    batch=4,
)
async def test_waves_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
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


async def test_a_batch_of_unavailabilities_is_one_wave(databases, monkeypatch):
    """A round's unmatched mentees are one wave: each is told once in their language, each is in the
    digest, and the codes that are not "unmatched" tell nobody, as one at a time."""
    one, many = databases
    steps = [
        ("unavailable", m, c)
        for m, c in zip(
            ["ana", "chen", "gus", "bram", "finn"], [CODES[0], CODES[1], CODES[2], CODES[3], CODES[5]], strict=True
        )
    ]
    records = records_of(steps)
    data = [ev.MatchUnavailable.model_validate(orjson.loads(r.value)["data"]) for r in records]
    assert wave_end([program_team.on_match_unavailable] * 5, data, [True] * 5, 0) == 5
    spy = Spy(monkeypatch)
    waves = await apply(many, records, set_wise=True, batch=200)
    assert waves[0] == ["handled"] * 5 and spy.waves == 1 and not spy.raised
    reference = await apply(one, records, set_wise=False, batch=200)
    assert waves == reference and await state(many) == await state(one)
    told = await many.fetch("SELECT recipient_id, language, mime FROM notifications.deliveries ORDER BY 1")
    assert [(r["recipient_id"], r["language"]) for r in told] == [("ana", "pt-BR"), ("chen", "de"), ("gus", "ja")]
    assert all(r["mime"] for r in told)
    items = await many.fetch("SELECT details->>'mentee_id' AS mentee FROM notifications.digest_items ORDER BY 1")
    assert [r["mentee"] for r in items] == ["ana", "chen", "finn", "gus"]
    assert {r["mentee_id"] for r in await many.fetch("SELECT mentee_id FROM notifications.waiting_mentees")} == {
        "ana",
        "chen",
        "gus",
    }
