"""Matching's subscription table on a fake unit of work: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.service_layer.loops import expire_due
from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from tests.services.matching.fakes import FakeMatchingUnitOfWork, MatchingTables, apply
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday


def mentor(pid: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, **{**dict(roles=("mentor",), seniority=8, capacity=1,
                                        skills=("public speaking", "negotiation")), **kw})


def mentee(pid: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, **{**dict(seniority=2, goals=("public speaking",)), **kw})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def deps() -> MatchingDeps:
    return MatchingDeps.from_settings(MatchingSettings(response_window_hours=72))


@pytest.fixture
def uow(clock) -> FakeMatchingUnitOfWork:
    return FakeMatchingUnitOfWork(clock)


async def given(uow, deps, *events) -> None:
    await apply(uow, deps, *events)


async def test_a_request_proposes_the_best_mentor_and_the_answers_drive_the_life_cycle(uow, deps):
    await given(uow, deps, mentor("best"), mentor("second", skills=("negotiation",)), mentee("ana"))
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    (first,) = uow.of_type(ev.MatchProposed)
    assert first.mentor_id == "best" and first.expires_at == NOW + timedelta(hours=72)

    with pytest.raises(PermanentError, match="only its mentor can"):
        await given(uow, deps, ev.ProposalAccepted(proposal_id=first.proposal_id, participant_id="ana"))
    await given(uow, deps, ev.ProposalDeclined(proposal_id=first.proposal_id, participant_id="best", reason="busy"))
    assert [d.reason for d in uow.of_type(ev.MatchDeclined)] == ["busy"]
    second = uow.of_type(ev.MatchProposed)[1]
    assert second.mentor_id == "second"

    await given(uow, deps, ev.ProposalAccepted(proposal_id=second.proposal_id, participant_id="second"))
    await given(uow, deps, ev.ProposalAccepted(proposal_id=second.proposal_id, participant_id="second"))  # again
    (established,) = uow.of_type(ev.MatchEstablished)
    assert established.mentee_id == "ana" and established.goals == ["public speaking"]
    with pytest.raises(PermanentError, match="is declined; it can no longer be accepted"):
        await given(uow, deps, ev.ProposalAccepted(proposal_id=first.proposal_id, participant_id="best"))
    with pytest.raises(PermanentError, match="unknown proposal nope"):
        await given(uow, deps, ev.ProposalDeclined(proposal_id="nope", participant_id="best"))


async def test_requests_for_unknown_or_wrong_people_are_refused_or_waited_for(uow, deps):
    await given(uow, deps, mentor("m1"), mentee("ana"), mentee("eve", program_id="other"))
    with pytest.raises(NotYetKnown, match="no profile yet for ghost"):
        await given(uow, deps, ev.MatchRequested(mentee_id="ghost", program_id="prog-1"))
    with pytest.raises(PermanentError, match="m1 is not a mentee"):
        await given(uow, deps, ev.MatchRequested(mentee_id="m1", program_id="prog-1"))
    with pytest.raises(PermanentError, match="eve belongs to program other, not prog-1"):
        await given(uow, deps, ev.MatchRequested(mentee_id="eve", program_id="prog-1"))
    await given(uow, deps, ev.ParticipantOffboarded(participant_id="ana", program_id="prog-1"))
    with pytest.raises(PermanentError, match="ana has left the program"):
        await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))


async def test_no_mentor_left_is_said_in_plain_words(uow, deps):
    await given(uow, deps, mentor("m1"), mentee("ana"), mentee("bo"))
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"),
                ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
    (unavailable,) = uow.of_type(ev.MatchUnavailable)
    assert unavailable.mentee_id == "bo" and unavailable.reason_code == "mentors_at_capacity"


async def test_a_leaving_mentor_ends_relationships_withdraws_proposals_and_the_mentees_are_rematched(uow, deps):
    await given(uow, deps, mentor("m1", capacity=2), mentor("m2", capacity=2, skills=("negotiation",)),
                mentee("ana"), mentee("bo"))
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    first = uow.of_type(ev.MatchProposed)[0]
    await given(uow, deps, ev.ProposalAccepted(proposal_id=first.proposal_id, participant_id="m1"))
    await given(uow, deps, ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
    assert uow.of_type(ev.MatchProposed)[1].mentor_id == "m1"

    await given(uow, deps, ev.ParticipantOffboarded(participant_id="m1", program_id="prog-1", reason="left"))
    (ended,) = uow.of_type(ev.MatchEnded)
    assert (ended.mentee_id, ended.reason) == ("ana", "left")
    (withdrawn,) = uow.of_type(ev.MatchDeclined)
    assert withdrawn.mentee_id == "bo" and withdrawn.reason == "withdrawn: the mentor left the program"
    rematched = {p.mentee_id: p.mentor_id for p in uow.of_type(ev.MatchProposed)[2:]}
    assert rematched == {"ana": "m2", "bo": "m2"}


async def test_a_cohort_round_proposes_to_everyone_it_can_and_explains_the_rest(uow, deps):
    await given(uow, deps, mentor("m1", capacity=2), mentee("ana"), mentee("bo"), mentee("cy"),
                mentee("dee", languages=("ja",)))
    await given(uow, deps, ev.CohortRoundRequested(program_id="prog-1", round_id="r1"))
    assert sorted(p.mentee_id for p in uow.of_type(ev.MatchProposed)) in (["ana", "bo"], ["ana", "cy"], ["bo", "cy"])
    assert all(p.round_id == "r1" for p in uow.of_type(ev.MatchProposed))
    reasons = {u.mentee_id: u.reason_code for u in uow.of_type(ev.MatchUnavailable)}
    assert reasons["dee"] == "no_shared_language" and len(reasons) == 2


async def test_unanswered_proposals_expire_and_the_next_mentor_is_asked(clock, deps):
    tables = MatchingTables()
    uow = FakeMatchingUnitOfWork(clock, tables)
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"),
                ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    clock.advance(hours=73)

    class OneProcess:  # what the loop needs of its service
        def __init__(self) -> None:
            self.deps, self.clock, self.uows = deps, clock, []

        def transaction(self):
            service = self

            class Context:
                async def __aenter__(self):
                    service.uows.append(FakeMatchingUnitOfWork(clock, tables))
                    return service.uows[-1]

                async def __aexit__(self, *exc):
                    await service.uows[-1].commit()
                    return False
            return Context()

    service = OneProcess()
    await expire_due(service)
    emitted = [e for u in service.uows for e in u.emitted]
    assert [type(e).__name__ for e in emitted] == ["MatchExpired", "MatchProposed"]
    assert emitted[1].mentor_id == "m2"
    assert (await expire_due(service)).more is False  # nothing expires twice


async def test_replicas_answer_from_the_same_committed_state(clock):
    """Two processes, one record: what one replica learns, the other's index sees before answering."""
    tables = MatchingTables()
    replica_a = MatchingDeps.from_settings(MatchingSettings())
    replica_b = MatchingDeps.from_settings(MatchingSettings())
    a, b = FakeMatchingUnitOfWork(clock, tables), FakeMatchingUnitOfWork(clock, tables)
    await given(a, replica_a, mentor("m1"), mentee("ana"), mentee("bo"), mentee("cy"))
    await given(a, replica_a, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))  # A builds its index
    assert a.of_type(ev.MatchProposed)[0].mentor_id == "m1"

    await given(b, replica_b, mentor("m2"))  # only B takes the new mentor's profile
    await given(b, replica_b, ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
    assert b.of_type(ev.MatchProposed)[0].mentor_id == "m2"  # B's index: m1 is full (A's proposal)

    await given(a, replica_a, ev.MatchRequested(mentee_id="cy", program_id="prog-1"))
    # A never saw m2's profile event nor B's proposal, yet answers from the same state: nobody is free.
    (unavailable,) = a.of_type(ev.MatchUnavailable)
    assert unavailable.reason_code == "mentors_at_capacity"
    await given(b, replica_b, ev.ParticipantUpdated.model_validate(mentor("m2", capacity=2).model_dump()))
    await given(a, replica_a, ev.MatchRequested(mentee_id="cy", program_id="prog-1"))
    assert a.of_type(ev.MatchProposed)[-1].mentor_id == "m2"


async def test_the_programs_own_settings_apply_to_the_next_proposal(uow, deps):
    await given(uow, deps, mentor("m1"), mentee("ana"), mentee("bo"))
    await given(uow, deps, ev.ProgramConfigured(program_id="prog-1", name="Pilot", response_window_hours=24))
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    assert uow.of_type(ev.MatchProposed)[0].expires_at == NOW + timedelta(hours=24)
    # The team now asks for 60 shared hours a week: nobody can meet that.
    await given(uow, deps, mentor("m2"), ev.ProgramConfigured(program_id="prog-1", name="Pilot", min_overlap_hours=60))
    await given(uow, deps, ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
    (unavailable,) = uow.of_type(ev.MatchUnavailable)
    assert unavailable.reason_code == "no_overlap" and "60" in unavailable.reason


# --- relationship.end.requested ------------------------------------------------------------------

def end(rid: str, **kw) -> ev.RelationshipEndRequested:
    return ev.RelationshipEndRequested(relationship_id=rid, requested_by="ops:sanne",
                                       reason=kw.pop("reason", "the pair asked for a fresh start"), **kw)


async def matched(uow, deps, mentee_id: str, mentor_id: str) -> str:
    """Ask for a mentor for this mentee and have `mentor_id` accept; the relationship's id."""
    await given(uow, deps, ev.MatchRequested(mentee_id=mentee_id, program_id="prog-1"))
    proposal = uow.of_type(ev.MatchProposed)[-1]
    assert (proposal.mentee_id, proposal.mentor_id) == (mentee_id, mentor_id)
    await given(uow, deps, ev.ProposalAccepted(proposal_id=proposal.proposal_id, participant_id=mentor_id))
    return uow.of_type(ev.MatchEstablished)[-1].relationship_id


async def test_ending_on_request_frees_the_mentors_place_and_rematches_the_mentee_with_someone_else(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"), mentee("bo"))
    rid = await matched(uow, deps, "ana", "m1")
    uow.programs.touched.clear()
    await given(uow, deps, end(rid, rematch=True))
    (ended,) = uow.of_type(ev.MatchEnded)
    assert (ended.relationship_id, ended.reason_code, ended.requested_by) == (rid, "ended_on_request", "ops:sanne")
    assert ended.reason == "the pair asked for a fresh start" and ended.ended_at == NOW
    assert "m1" in uow.programs.touched["prog-1"]  # every replica's index sees the free place
    assert uow.tables.relationships[rid].status == "ended"
    rematch = uow.of_type(ev.MatchProposed)[-1]
    assert (rematch.mentee_id, rematch.mentor_id) == ("ana", "m2")  # the best mentor, m1, was just left
    # m1's place goes to the next mentee who asks.
    await given(uow, deps, ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
    assert (uow.of_type(ev.MatchProposed)[-1].mentee_id, uow.of_type(ev.MatchProposed)[-1].mentor_id) == ("bo", "m1")


async def test_the_rematch_never_circles_back_to_the_mentor_just_left_but_a_later_one_may(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"))
    first = await matched(uow, deps, "ana", "m1")
    await given(uow, deps, end(first, rematch=True))
    second = uow.of_type(ev.MatchProposed)[-1]
    await given(uow, deps, ev.ProposalDeclined(proposal_id=second.proposal_id, participant_id="m2"))
    # m2 said no and m1 was just left: nobody is proposed.
    assert len(uow.of_type(ev.MatchProposed)) == 2
    assert uow.of_type(ev.MatchUnavailable)[-1].reason_code == "previously_paired"
    # Once Ana has had a newer relationship, m1 (ended without `do_not_pair_again`) may be proposed again.
    await given(uow, deps, mentor("m3", skills=("negotiation",)))
    third = await matched(uow, deps, "ana", "m3")
    await given(uow, deps, end(third, rematch=True))
    assert uow.of_type(ev.MatchProposed)[-1].mentor_id == "m1"


async def test_do_not_pair_again_keeps_the_two_apart_on_demand_in_rounds_and_in_both_roles(uow, deps):
    await given(uow, deps, mentor("m1", roles=("mentor", "mentee")), mentor("m2", skills=("negotiation",)),
                mentee("ana", roles=("mentee", "mentor")))
    first = await matched(uow, deps, "ana", "m1")
    await given(uow, deps, end(first, do_not_pair_again=True, rematch=True))
    second = uow.of_type(ev.MatchProposed)[-1]
    assert second.mentor_id == "m2"
    await given(uow, deps, ev.ProposalAccepted(proposal_id=second.proposal_id, participant_id="m2"))
    await given(uow, deps, end(uow.of_type(ev.MatchEstablished)[-1].relationship_id))  # no rematch unless asked
    assert len(uow.of_type(ev.MatchProposed)) == 2
    # m2 was Ana's latest partner, and m1 (free, and the best fit) is kept apart from her for good.
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    await given(uow, deps, ev.CohortRoundRequested(program_id="prog-1", round_id="r1", mentee_ids=["ana"]))
    assert len(uow.of_type(ev.MatchProposed)) == 2
    assert [u.reason_code for u in uow.of_type(ev.MatchUnavailable)] == ["previously_paired"] * 2
    # Years later Ana is the senior one and m1 looks for a mentor on public speaking: Ana's skill, yet
    # m2 is proposed.
    await given(uow, deps, ev.ParticipantUpdated.model_validate(
        mentee("ana", roles=("mentee", "mentor"), seniority=9, capacity=1, skills=("public speaking",)).model_dump()),
        ev.ParticipantUpdated.model_validate(mentor("m1", roles=("mentor", "mentee"), seniority=1,
                                                    goals=("public speaking",)).model_dump()))
    assert "ana" in await uow.commitments.excluded_mentors("m1")
    await given(uow, deps, ev.MatchRequested(mentee_id="m1", program_id="prog-1"))
    last = uow.of_type(ev.MatchProposed)[-1]
    assert (last.mentee_id, last.mentor_id) == ("m1", "m2")


async def test_an_unknown_relationship_is_refused_and_an_ended_one_is_left_as_it_is(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"))
    with pytest.raises(PermanentError, match="^unknown relationship rel-nope$"):
        await given(uow, deps, end("rel-nope"))
    rid = await matched(uow, deps, "ana", "m1")
    await given(uow, deps, ev.ParticipantOffboarded(participant_id="m1", program_id="prog-1", reason="left"))
    emitted = len(uow.emitted)
    await given(uow, deps, end(rid, rematch=True))  # it ended before the command arrived
    await given(uow, deps, end(rid, rematch=True))  # and the same again
    assert len(uow.emitted) == emitted  # no second match.ended, no second proposal
    (ended,) = uow.of_type(ev.MatchEnded)
    assert (ended.reason_code, ended.requested_by, ended.leaver_id) == ("participant_left", None, "m1")
    # "Never again" still stands, however the relationship ended.
    await given(uow, deps, end(rid, do_not_pair_again=True))
    assert ("ana", "m1") in uow.tables.kept_apart and len(uow.emitted) == emitted


async def test_a_declines_reason_code_travels_on_to_match_declined(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"))
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    first = uow.of_type(ev.MatchProposed)[-1]
    await given(uow, deps, ev.ProposalDeclined(proposal_id=first.proposal_id, participant_id="m1",
                                               reason_code="outside_expertise"))
    second = uow.of_type(ev.MatchProposed)[-1]
    await given(uow, deps, ev.ProposalDeclined(proposal_id=second.proposal_id, participant_id="m2", reason="busy"))
    assert [(d.mentor_id, d.reason, d.reason_code) for d in uow.of_type(ev.MatchDeclined)] == \
        [("m1", "declined by the mentor", "outside_expertise"), ("m2", "busy", None)]


# --- ended by one of the pair --------------------------------------------------------------------

def end_by(rid: str, who: str, **kw) -> ev.RelationshipEndRequested:
    return ev.RelationshipEndRequested(relationship_id=rid, requested_by=who, reason="ended early from a message",
                                       **kw)


async def test_the_mentee_can_end_early_ask_for_a_new_mentor_and_keep_the_two_apart(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"))
    rid = await matched(uow, deps, "ana", "m1")
    await given(uow, deps, end_by(rid, "ana", rematch=True, do_not_pair_again=True, reason_code="not_a_good_fit"))
    (ended,) = uow.of_type(ev.MatchEnded)
    assert (ended.reason_code, ended.requested_by, ended.leaver_id) == ("ended_on_request", "ana", None)
    assert uow.of_type(ev.MatchProposed)[-1].mentor_id == "m2"
    kept = uow.tables.kept_apart[("ana", "m1")]
    assert kept.decided_by == "ana"


async def test_a_mentor_ending_early_cannot_ask_a_new_mentor_for_the_mentee_but_can_keep_the_two_apart(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"))
    rid = await matched(uow, deps, "ana", "m1")
    proposed = len(uow.of_type(ev.MatchProposed))
    await given(uow, deps, end_by(rid, "m1", rematch=True, do_not_pair_again=True, reason_code="no_time"))
    (ended,) = uow.of_type(ev.MatchEnded)
    assert (ended.reason_code, ended.requested_by) == ("ended_on_request", "m1")
    assert "m1" in uow.programs.touched["prog-1"]  # the mentor's place is free all the same
    assert len(uow.of_type(ev.MatchProposed)) == proposed and not uow.of_type(ev.MatchUnavailable)
    assert uow.tables.kept_apart[("ana", "m1")].decided_by == "m1"
    # The mentee asks herself: m1 is kept apart, m2 is proposed.
    await given(uow, deps, ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
    assert uow.of_type(ev.MatchProposed)[-1].mentor_id == "m2"


async def test_a_participant_outside_the_pair_cannot_end_it(uow, deps):
    await given(uow, deps, mentor("m1"), mentor("m2", skills=("negotiation",)), mentee("ana"), mentee("bo"))
    rid = await matched(uow, deps, "ana", "m1")
    emitted = len(uow.emitted)
    for outsider in ("m2", "bo"):
        with pytest.raises(PermanentError, match=f"^{outsider} is not part of relationship {rid}$"):
            await given(uow, deps, end_by(rid, outsider, do_not_pair_again=True))
    assert uow.tables.relationships[rid].status == "active" and not uow.tables.kept_apart
    assert len(uow.emitted) == emitted
