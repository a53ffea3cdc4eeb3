"""On-demand requests are owned per program: checked where they arrive (keyed by mentee), queued on
match-work.v1 keyed by program, and proposed by the one consumer of that program, from an index it
keeps current itself (fake units of work: no database, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.domain.model import Proposal
from services.matching.service_layer.handlers import SUBSCRIPTIONS
from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.people import Participant
from tests.services.matching.fakes import FakeMatchingUnitOfWork, MatchingTables, apply
from tests.support.fakes import FixedClock, deliver
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


def mentor(pid: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, **{"roles": ("mentor",), "seniority": 8, "capacity": 1,
                                 "skills": ("public speaking", "negotiation"), **kw})


def mentee(pid: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, **{"seniority": 2, "goals": ("public speaking",), **kw})


def queued(mentee_id: str, n: int = 0) -> ev.MatchRequestQueued:
    return ev.MatchRequestQueued(program_id="prog-1", mentee_id=mentee_id, request_id=f"req-{mentee_id}-{n}")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def deps() -> MatchingDeps:
    return MatchingDeps.from_settings(MatchingSettings(response_window_hours=72))


@pytest.fixture
def uow(clock) -> FakeMatchingUnitOfWork:
    return FakeMatchingUnitOfWork(clock)


async def test_a_profile_is_stored_where_it_arrives_and_stamped_by_its_programs_consumer(uow, deps):
    await deliver(SUBSCRIPTIONS, mentor("m1"), uow, deps)
    await deliver(SUBSCRIPTIONS, ev.ParticipantUpdated.model_validate(mentor("m1", program_id="prog-2").model_dump()),
                  uow, deps)
    assert uow.programs.locked == [] and not uow.programs.touched  # no program lock where profiles arrive
    queued = uow.emitted
    assert [(q.program_id, q.participant_id, q.key_value()) for q in queued] == [
        ("prog-1", "m1", "prog-1"), ("prog-1", "m1", "prog-1"), ("prog-2", "m1", "prog-2")]  # the move: both
    await uow.commit()
    await apply(uow, deps, *queued)
    assert uow.programs.touched == {"prog-1": {"m1"}, "prog-2": {"m1"}}
    assert set(uow.tables.changes) == {("prog-1", "m1"), ("prog-2", "m1")}


async def test_a_request_is_checked_where_it_arrives_then_queued_keyed_by_its_program(uow, deps):
    await apply(uow, deps, mentor("m1"), mentee("ana"))
    uow.emitted.clear()
    await deliver(SUBSCRIPTIONS, ev.MatchRequested(mentee_id="ana", program_id="prog-1"), uow, deps, event_id="r-1")
    (forwarded,) = uow.emitted
    assert isinstance(forwarded, ev.MatchRequestQueued)
    assert (forwarded.program_id, forwarded.mentee_id, forwarded.request_id) == ("prog-1", "ana", "r-1")
    assert forwarded.key_value() == "prog-1"  # one partition, so one consumer, per program
    assert uow.programs.locked == []  # nothing decided here: no program lock taken
    await uow.commit()

    await deliver(SUBSCRIPTIONS, forwarded, uow, deps)
    (proposed,) = uow.of_type(ev.MatchProposed)
    assert (proposed.mentee_id, proposed.mentor_id) == ("ana", "m1")
    assert uow.programs.locked == ["prog-1"]


async def test_a_queued_request_proposes_nothing_once_its_mentee_left_or_is_waiting_for_an_answer(uow, deps):
    await apply(uow, deps, mentor("m1", capacity=3), mentee("ana"), mentee("bo"))
    await apply(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    await apply(uow, deps, queued("ana", 2))  # the same mentee again: waiting for the mentor's answer
    await apply(uow, deps, ev.ParticipantOffboarded(participant_id="bo", program_id="prog-1"))
    await apply(uow, deps, queued("bo"))  # left between the request and its turn
    assert [p.mentee_id for p in uow.of_type(ev.MatchProposed)] == ["ana"]
    # The second request is answered (not "unmatched": a mentor is considering ana); bo's, nobody's to read.
    assert [(u.mentee_id, u.reason_code) for u in uow.of_type(ev.MatchUnavailable)] == [("ana", "awaiting_answer")]


async def test_a_request_for_a_matched_mentee_is_answered_already_matched(uow, deps):
    await apply(uow, deps, mentor("m1", capacity=3), mentee("ana"))
    await apply(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    (proposal,) = uow.of_type(ev.MatchProposed)
    await apply(uow, deps, ev.ProposalAccepted(proposal_id=proposal.proposal_id, participant_id="m1"))
    assert uow.of_type(ev.MatchEstablished)
    await apply(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    assert len(uow.of_type(ev.MatchProposed)) == 1
    (answer,) = uow.of_type(ev.MatchUnavailable)
    assert (answer.mentee_id, answer.reason_code, answer.reason) == ("ana", "already_matched",
                                                                     "the mentee already has a mentor")


async def test_a_batch_reads_the_stamp_once_per_program_and_never_what_it_wrote_itself(clock, deps):
    tables = MatchingTables()
    uow = FakeMatchingUnitOfWork(clock, tables)
    await apply(uow, deps, *[mentor(f"m{i}", capacity=2) for i in range(3)],
                *[mentee(f"e{i}") for i in range(6)])
    batch = FakeMatchingUnitOfWork(clock, tables)  # one transaction: three requests of one program
    for i in range(3):
        await deliver(SUBSCRIPTIONS, queued(f"e{i}"), batch, deps)
    await batch.commit()
    assert batch.programs.reads == {"version": 1}  # the index was built: nothing changed since to read
    assert batch.commitments.load_reads == 1  # the build's; each proposal moved a load in memory

    after = FakeMatchingUnitOfWork(clock, tables)  # the next batch: the stamp is its own, known already
    for i in range(3, 6):
        await deliver(SUBSCRIPTIONS, queued(f"e{i}"), after, deps)
    await after.commit()
    assert after.programs.reads == {"version": 1} and after.commitments.load_reads == 0
    held = {}
    for p in [*batch.of_type(ev.MatchProposed), *after.of_type(ev.MatchProposed)]:
        held[p.mentor_id] = held.get(p.mentor_id, 0) + 1
    assert held == {"m0": 2, "m1": 2, "m2": 2}  # loads kept in memory, never oversold
    assert set(tables.versions) == {"prog-1"} and tables.versions["prog-1"] == next(tables.sequence) - 1


async def test_what_another_replica_changed_is_read_before_the_next_batch(clock):
    tables = MatchingTables()
    a = MatchingDeps.from_settings(MatchingSettings())
    b = MatchingDeps.from_settings(MatchingSettings())
    await apply(FakeMatchingUnitOfWork(clock, tables), a, mentor("m1", capacity=2), mentee("ana"), mentee("bo"))
    await apply(FakeMatchingUnitOfWork(clock, tables), a, queued("ana"))  # A's index: m1 holds one
    await apply(FakeMatchingUnitOfWork(clock, tables), b, mentor("m2", capacity=0))  # B only: m2 has no place
    other = FakeMatchingUnitOfWork(clock, tables)
    proposal = next(iter(tables.proposals.values()))
    await apply(other, b, ev.ProposalDeclined(proposal_id=proposal.proposal_id, participant_id="m1"))
    # B freed m1's place and asked nobody new (ana declined by m1; m2 full); A has seen none of it.
    uow = FakeMatchingUnitOfWork(clock, tables)
    await apply(uow, a, queued("bo"))
    assert uow.programs.reads == {"version": 1, "changed_since": 1}
    (proposed,) = uow.of_type(ev.MatchProposed)
    assert proposed.mentor_id == "m1"


async def test_the_record_has_the_last_word_when_the_index_is_behind(uow, deps):
    await apply(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"), mentee("bo"),
                mentee("zed"))
    await apply(uow, deps, queued("ana"))
    assert uow.of_type(ev.MatchProposed)[0].mentor_id == "m1"
    # m2's only place is taken behind the index's back (no stamp): the index still shows it free.
    uow.tables.proposals["sneaked"] = Proposal(
        proposal_id="sneaked", program_id="prog-1", mentee_id="zed", mentor_id="m2", score=0.5, explanation={},
        created_at=NOW, expires_at=NOW + timedelta(days=3), round_id=None, status="pending", closed_at=None,
        close_reason=None)
    await apply(uow, deps, queued("bo"))
    assert [p.mentee_id for p in uow.of_type(ev.MatchProposed)] == ["ana"]  # m2 was not oversold
    (unavailable,) = uow.of_type(ev.MatchUnavailable)
    assert (unavailable.mentee_id, unavailable.reason_code) == ("bo", "mentors_at_capacity")  # m2 read back


async def test_a_mentee_the_index_has_not_seen_yet_is_read_back_not_refused(uow, deps):
    await apply(uow, deps, mentor("m1"), mentee("ana"))
    await apply(uow, deps, queued("ana"))  # the index is built
    # Bo's profile is in the record without a stamp (as if copied in): the index does not know Bo.
    await uow.participants.save(Participant.from_profile(mentee("bo")))
    await apply(uow, deps, mentor("m2", skills=("negotiation",)))
    await apply(uow, deps, queued("bo"))
    assert [(p.mentee_id, p.mentor_id) for p in uow.of_type(ev.MatchProposed)] == [("ana", "m1"), ("bo", "m2")]
