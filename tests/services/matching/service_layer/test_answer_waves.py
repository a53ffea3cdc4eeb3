"""Proposal answers applied a wave at a time against one event at a time, on two real PostgreSQL
databases; both leave the same rows, the same events (the rematches' proposals too) and the same
dead letters.

Where they arrive (`on_proposal_answers`: their proposals read at once, each checked and queued):
random batches of accepts and declines over two programs, answers from someone other than the
mentor, unknown proposals, the same answer twice, an accept after a decline, redeliveries.

Where the program's consumer applies them (match-work.v1's `on_match_work`): the queued answers
among the program's requests and profile stamps, as they alternate there; a decline asks the next
mentor for a mentee whose request comes before or after it, and an accept fills a mentor's place."""

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
from tests.services.matching.service_layer.test_request_waves import (
    MENTEES,
    MENTORS,
    NEW,
    START,
    WORK,
    Spy,
    apply,
    databases,
    program_of,
    state,
)

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
    """The fast path is taken: answers to proposals of two programs go in one wave, which succeeds and
    queues each for its program."""
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
    said = [(e[0], e[1], e[3]["answer"]) for e in (await state(many))["events"]]
    assert said == [(WORK, "prog-1", "accepted"), (WORK, "prog-2", "declined"), (WORK, "prog-1", "declined"),
                    (WORK, "prog-2", "accepted")]


work_step = st.one_of(
    st.tuples(st.sampled_from(["accepted", "declined"]), st.sampled_from([*sorted(PENDING)]), st.booleans()),
    st.tuples(st.just("request"), st.sampled_from(sorted(MENTEES)), st.just(True)),
    st.tuples(st.just("profile"), st.sampled_from([*sorted(MENTORS), NEW, "e-0", "f-0"]), st.just(True)),
    st.tuples(st.just("again"), st.integers(0, 40), st.just(True)),
)


def work_records_of(steps) -> list[ConsumerRecord]:
    """match-work.v1 as the first hops queue it: answers (as queued, unchecked: the program's consumer
    checks again), requests and profile stamps."""
    made: list[tuple[str, str, bytes]] = []
    for n, (what, a, by_mentor) in enumerate(steps):
        if what == "again":
            if made:
                made.append(made[a % len(made)])
            continue
        data: ev.EventData
        if what == "request":
            data = ev.MatchRequestQueued(program_id=program_of(a), mentee_id=a, request_id=f"r-{n}")
        elif what == "profile":
            data = ev.ProfileChangeQueued(program_id=program_of(a), participant_id=a)
        else:
            program, _, mentor = PENDING[a]
            data = ev.ProposalAnswerQueued(program_id=program, proposal_id=a,
                                           participant_id=mentor if by_mentor else "e-3", answer=what,
                                           reason="busy" if what == "declined" else None, answer_id=f"a-{n}")
        _, event_type = topic_of(type(data))
        made.append((data.key_value(), event_type, new_envelope(type=event_type, source="/tandem/matching", data=data,
                                                                time=START, id=f"x-{n}").to_json()))
    return [ConsumerRecord(WORK, 0, offset, 0, 0, key.encode(), value, None, 0, len(value), ())
            for offset, (key, _, value) in enumerate(made)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(work_step, min_size=1, max_size=30), batch=st.sampled_from([1, 4, 9, 200]))
# A decline between requests: its mentee is asked for again before and after it; the mentor freed is proposed next.
@example(steps=[("request", "e-0", True), ("declined", "p-0", True), ("request", "e-0", True),
                ("request", "e-6", True), ("accepted", "p-1", True), ("request", "e-3", True),
                ("declined", "p-3", True), ("profile", "m-x", True), ("request", "f-2", True)], batch=200)
# Answers twice, from someone else, an accept after a decline; the record changes behind the index (second batch).
@example(steps=[("declined", "p-2", True), ("again", 0, True), ("accepted", "p-2", True), ("accepted", "p-0", False),
                ("request", "e-1", True), ("declined", "p-waiting", True), ("request", "e-2", True),
                ("request", "e-late", True), ("profile", NEW, True), ("declined", "p-0", True)], batch=3)
# Accepts in a row go together; one of them from someone else fails the wave, one twice starts another.
@example(steps=[("accepted", "p-0", True), ("accepted", "p-1", True), ("accepted", "p-3", True),
                ("accepted", "p-0", True), ("accepted", "p-4", False), ("accepted", "p-2", True),
                ("request", "e-0", True), ("accepted", "p-waiting", True), ("again", 1, True)], batch=200)
async def test_queued_answers_among_requests_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    records = work_records_of(steps)
    spy = Spy(monkeypatch)
    reference = await apply(one, records, set_wise=False, batch=batch, seed=seed)
    assert spy.waves == 0
    waves = await apply(many, records, set_wise=True, batch=batch, seed=seed)
    assert waves == reference
    assert await state(many) == await state(one)


async def test_answers_requests_and_stamps_of_a_program_are_one_wave(databases, monkeypatch):
    """The fast path is taken: a program's queued answers, requests and stamps, as they alternate, are
    one wave, which succeeds."""
    one, many = databases
    records = work_records_of([("request", "e-6", True), ("declined", "p-0", True), ("profile", "m-c", True),
                               ("accepted", "p-1", True), ("request", "e-3", True), ("accepted", "p-3", True),
                               ("declined", "p-4", True), ("request", "f-2", True)])
    waves: list[int] = []
    original = handlers.on_match_work

    async def spied(wave, uow, deps):
        await original(wave, uow, deps)
        waves.append(len(wave))

    for handler in (handlers.on_match_request_queued, handlers.on_profile_change_queued,
                    handlers.on_proposal_answer_queued):
        monkeypatch.setattr(handler, "many", spied)
    applied = await apply(many, records, set_wise=True, batch=200, seed=seed)
    assert waves == [8] and applied[0] == ["handled"] * 8
    assert applied == await apply(one, records, set_wise=False, batch=200, seed=seed)
    assert await state(many) == await state(one)
    said = [(e[2], e[3].get("mentee_id")) for e in (await state(many))["events"]]
    assert said.count(("match.established", "e-1")) == 1 and said.count(("match.established", "f-0")) == 1
    assert ("match.declined", "e-0") in said and ("match.declined", "f-1") in said
    # The next mentor asked at once, in the same wave: prog-1's other mentors are full (m-b waits for an
    # answer, m-c has a mentee and p-1).
    assert said[said.index(("match.declined", "e-0")) + 1] == ("match.unavailable", "e-0")
