"""Proposal answers applied a wave at a time (`on_proposal_answers`: the programs of all their
proposals locked at once, then each answer by its handler) against one event at a time, on two real
PostgreSQL databases: random batches of accepts and declines over two programs, answers from someone
other than the mentor, unknown proposals, the same answer twice, an accept after a decline and
redeliveries leave the same rows, the same events (the rematches' proposals too) and the same dead
letters."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.matching.service_layer import handlers
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from tests.services.matching.service_layer.test_request_waves import START, apply, databases, state

pytestmark = pytest.mark.integration
RESPONSES, _ = topic_of(ev.ProposalAccepted)
# Pending proposals seeded on top of test_request_waves' people: proposal -> (program, mentee, mentor).
PENDING = {"p-0": ("prog-1", "e-0", "m-a"), "p-1": ("prog-1", "e-1", "m-c"), "p-2": ("prog-1", "e-2", "m-a"),
           "p-3": ("prog-2", "f-0", "m-x"), "p-4": ("prog-2", "f-1", "m-y"), "p-waiting": ("prog-1", "e-4", "m-b")}
__all__ = ["databases"]  # the fixture, shared

step = st.one_of(
    st.tuples(st.sampled_from(["accepted", "declined"]), st.sampled_from([*sorted(PENDING), "p-unknown"]),
              st.booleans()),  # True: answered by its mentor
    st.tuples(st.just("again"), st.integers(0, 40), st.just(True)),
)


def records_of(steps) -> list[ConsumerRecord]:
    made: list[tuple[str, bytes]] = []
    for n, (what, a, by_mentor) in enumerate(steps):
        if what == "again":
            if made:
                made.append(made[a % len(made)])
            continue
        by = PENDING.get(a, ("prog-1", "e-0", "m-a"))[2] if by_mentor else "e-3"
        data: ev.EventData = (ev.ProposalAccepted(proposal_id=a, participant_id=by) if what == "accepted" else
                              ev.ProposalDeclined(proposal_id=a, participant_id=by, reason="busy"))
        made.append((by, new_envelope(type=f"proposal.{what}", source="/tandem/portal", data=data, time=START,
                                      id=f"x-{n}").to_json()))
    return [ConsumerRecord(RESPONSES, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, value) in enumerate(made)]


async def seed(pool) -> None:
    explanation = orjson.dumps({"summary": "seeded"}).decode()
    for proposal_id, (program, mentee, mentor) in PENDING.items():
        await pool.execute(
            """INSERT INTO matching.proposals (proposal_id, program_id, mentee_id, mentor_id, score, explanation,
                                               created_at, expires_at, status)
               VALUES ($1, $2, $3, $4, 1, $5::jsonb, $6::timestamptz, $6::timestamptz + interval '3 days', 'pending')
               ON CONFLICT DO NOTHING""", proposal_id, program, mentee, mentor, explanation, START)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30), batch=st.sampled_from([1, 4, 200]))
@example(steps=[("accepted", "p-0", True), ("declined", "p-3", True), ("accepted", "p-1", False),
                ("declined", "p-2", True), ("accepted", "p-unknown", True), ("accepted", "p-4", True),
                ("again", 0, True), ("accepted", "p-0", True), ("accepted", "p-3", True)], batch=200)
async def test_waves_of_answers_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = records_of(steps)
    reference = await apply(one, records, set_wise=False, batch=batch, topic=RESPONSES, seed=seed)
    waves = await apply(many, records, set_wise=True, batch=batch, topic=RESPONSES, seed=seed)
    assert waves == reference
    assert await state(many) == await state(one)


async def test_valid_answers_to_two_programs_are_one_wave(databases, monkeypatch):
    """The fast path is taken: answers to proposals of two programs go in one wave, which succeeds."""
    one, many = databases
    records = records_of([("accepted", "p-0", True), ("declined", "p-3", True), ("declined", "p-1", True),
                          ("accepted", "p-4", True)])
    waves: list[int] = []
    original = handlers.on_proposal_answers

    async def spied(wave, uow, deps):
        await original(wave, uow, deps)
        waves.append(len(wave))

    for handler in (handlers.on_proposal_accepted, handlers.on_proposal_declined):
        monkeypatch.setattr(handler, "many", spied)
    answered = await apply(many, records, set_wise=True, batch=200, topic=RESPONSES, seed=seed)
    assert waves == [4] and answered[0] == ["handled"] * 4
    assert answered == await apply(one, records, set_wise=False, batch=200, topic=RESPONSES, seed=seed)
    assert await state(many) == await state(one)
    said = [e[2] for e in (await state(many))["events"]]
    assert said.count("match.established") == 2 and said.count("match.declined") == 2
