"""Matching: keeps profiles, answers match requests and cohort rounds with proposals, turns answers
into relationships, and re-matches when a proposal fails or someone leaves.
"""

from __future__ import annotations

import asyncio
import logging

from services.matching.adapters import repository as repo
from services.matching.service_layer.matcher import Matcher, relationship_id_for
from services.matching.settings import MatchingSettings
from shared.consumer import EventRouter
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.errors import NotYetKnown, PermanentError
from shared.service import Service
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def close_and_rematch(uow: UnitOfWork, matcher: Matcher, proposal, status: str, reason: str | None) -> bool:
    """Close a pending proposal (declined/expired/withdrawn), say so, and propose the next mentor."""
    now = uow.clock.now()
    if not await repo.close_proposal(uow.conn, proposal["proposal_id"], status, now, reason):
        return False
    common = dict(proposal_id=proposal["proposal_id"], program_id=proposal["program_id"],
                  mentee_id=proposal["mentee_id"], mentor_id=proposal["mentor_id"])
    if status == "expired":
        uow.emit(ev.MatchExpired(**common, expired_at=now))
    else:
        uow.emit(ev.MatchDeclined(**common, reason=reason))
    await matcher.refresh_loads(uow, [proposal["mentor_id"]])
    await matcher.propose_next(uow, proposal["mentee_id"], proposal["program_id"])
    return True


def build_router(settings: MatchingSettings, matcher: Matcher) -> EventRouter:
    router = EventRouter("matching")

    @router.on(topics.PARTICIPANTS, "participant.onboarded")
    @router.on(topics.PARTICIPANTS, "participant.updated")
    async def profile(envelope: Envelope, data: ev.ParticipantOnboarded, uow: UnitOfWork) -> None:
        # New availability, capacity and skills count for future matching; active pairs stay as they are.
        profile = ev.ParticipantProfile.model_validate(data.model_dump())
        await repo.upsert_participant(uow.conn, profile)
        uow.after_commit(lambda: matcher.upsert(profile))

    @router.on(topics.PARTICIPANTS, "participant.offboarded")
    async def offboarded(envelope: Envelope, data: ev.ParticipantOffboarded, uow: UnitOfWork) -> None:
        await repo.lock_program(uow.conn, data.program_id)
        if not await repo.deactivate_participant(uow.conn, data.participant_id):
            return
        uow.after_commit(lambda: matcher.remove(data.participant_id))
        now = uow.clock.now()
        to_rematch: set[str] = set()
        for rel in await repo.active_relationships_of(uow.conn, data.participant_id):
            await repo.end_relationship(uow.conn, rel["relationship_id"], now, data.reason)
            uow.emit(ev.MatchEnded(relationship_id=rel["relationship_id"], program_id=rel["program_id"],
                                   mentee_id=rel["mentee_id"], mentor_id=rel["mentor_id"], reason=data.reason,
                                   ended_at=now))
            if rel["mentor_id"] == data.participant_id:
                to_rematch.add(rel["mentee_id"])
        for proposal in await repo.pending_of(uow.conn, data.participant_id):
            role = "mentor" if proposal["mentor_id"] == data.participant_id else "mentee"
            await repo.close_proposal(uow.conn, proposal["proposal_id"], "withdrawn", now, f"the {role} left the program")
            uow.emit(ev.MatchDeclined(proposal_id=proposal["proposal_id"], program_id=proposal["program_id"],
                                      mentee_id=proposal["mentee_id"], mentor_id=proposal["mentor_id"],
                                      reason=f"withdrawn: the {role} left the program"))
            if role == "mentor":
                to_rematch.add(proposal["mentee_id"])
        await matcher.refresh_loads(uow, [data.participant_id])
        for mentee_id in sorted(to_rematch):
            # The index forgets the leaver only after commit; keep them out of these proposals.
            await matcher.propose_next(uow, mentee_id, data.program_id, also_exclude={data.participant_id})

    @router.on(topics.MATCH_REQUESTS, "match.requested")
    async def requested(envelope: Envelope, data: ev.MatchRequested, uow: UnitOfWork) -> None:
        found = await repo.participant(uow.conn, data.mentee_id)
        if found is None:
            raise NotYetKnown(f"no profile yet for {data.mentee_id}")
        profile, active = found
        if not profile.is_mentee:
            raise PermanentError(f"{data.mentee_id} is not a mentee")
        if not active:
            raise PermanentError(f"{data.mentee_id} has left the program")
        if profile.program_id != data.program_id:
            raise PermanentError(f"{data.mentee_id} belongs to program {profile.program_id}, not {data.program_id}")
        await repo.lock_program(uow.conn, data.program_id)
        await matcher.propose_next(uow, data.mentee_id, data.program_id)

    @router.on(topics.MATCH_REQUESTS, "cohort.round.requested")
    async def cohort(envelope: Envelope, data: ev.CohortRoundRequested, uow: UnitOfWork) -> None:
        await repo.lock_program(uow.conn, data.program_id)
        proposed, unmatched = await matcher.cohort_round(uow, data.program_id, data.round_id or envelope.id,
                                                         data.mentee_ids)
        log.info("cohort round for %s: %d proposals, %d unmatched", data.program_id, proposed, unmatched)

    async def open_proposal(uow: UnitOfWork, proposal_id: str, participant_id: str):
        proposal = await repo.proposal(uow.conn, proposal_id)
        if proposal is None:
            raise PermanentError(f"unknown proposal {proposal_id}")
        if participant_id != proposal["mentor_id"]:
            raise PermanentError(f"{participant_id} cannot answer proposal {proposal_id}; only its mentor can")
        await repo.lock_program(uow.conn, proposal["program_id"])
        return await repo.proposal(uow.conn, proposal_id, lock=True)

    @router.on(topics.MATCH_RESPONSES, "match.accepted")
    async def accepted(envelope: Envelope, data: ev.ProposalAccepted, uow: UnitOfWork) -> None:
        proposal = await open_proposal(uow, data.proposal_id, data.participant_id)
        if proposal["status"] == "accepted":
            return  # the same answer again
        if proposal["status"] != "pending":
            raise PermanentError(f"proposal {data.proposal_id} is {proposal['status']}; it can no longer be accepted")
        now = uow.clock.now()
        await repo.close_proposal(uow.conn, data.proposal_id, "accepted", now)
        relationship_id = relationship_id_for(data.proposal_id)
        await repo.add_relationship(uow.conn, relationship_id=relationship_id, proposal=proposal, at=now)
        mentee = await repo.participant(uow.conn, proposal["mentee_id"])
        uow.emit(ev.MatchEstablished(
            relationship_id=relationship_id, proposal_id=data.proposal_id, program_id=proposal["program_id"],
            mentee_id=proposal["mentee_id"], mentor_id=proposal["mentor_id"], established_at=now,
            goals=list(mentee[0].goals) if mentee else [],
        ))

    @router.on(topics.MATCH_RESPONSES, "match.declined")
    async def declined(envelope: Envelope, data: ev.ProposalDeclined, uow: UnitOfWork) -> None:
        proposal = await open_proposal(uow, data.proposal_id, data.participant_id)
        if proposal["status"] == "declined":
            return
        if proposal["status"] != "pending":
            raise PermanentError(f"proposal {data.proposal_id} is {proposal['status']}; it can no longer be declined")
        await close_and_rematch(uow, matcher, proposal, "declined", data.reason or "declined by the mentor")

    return router


async def expiry_loop(service: Service, matcher: Matcher, settings: MatchingSettings) -> None:
    """Proposals unanswered within the response window (program clock) expire; the next mentor is asked."""
    while True:
        async with service.pool.acquire() as conn:
            due = await repo.expired_proposals(conn, service.clock.now())
        for proposal in due:
            async with service.transaction() as uow:
                await repo.lock_program(uow.conn, proposal["program_id"])
                current = await repo.proposal(uow.conn, proposal["proposal_id"], lock=True)
                if current["status"] == "pending":
                    await close_and_rematch(uow, matcher, current, "expired", "no answer within the response window")
        await asyncio.sleep(settings.expiry_check_seconds)
