"""Matching's background loops, on the program clock:

- proposal expiry: proposals unanswered within the response window expire (match.expired) and the
  mentee's next mentor is asked;
- terms: a week before a relationship's term ends both are told (relationship.end.scheduled, once);
  at `term_days` after establishment it ends (match.ended, `term_completed`) and the mentor's place
  is free again. The term is the program's setting in force when the loop looks.

Safe with N replicas: each proposal or relationship is re-read under its program's lock and row
lock, and only one still pending (active) and past its deadline changes, so two replicas never
expire a proposal or end a relationship twice; the heads-up is stamped on the relationship in the
same transaction as its event, so it goes out once.
"""

from __future__ import annotations

from services.matching.domain.model import END_NOTICE
from services.matching.service_layer.matchmaking import MatchingDeps, close_and_rematch
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from shared.loops import Pass, run_loop
from shared.service import Service

BATCH = 200


async def expire_due(service: Service[MatchingDeps, MatchingUnitOfWork]) -> Pass:
    deps = service.deps
    async with service.transaction() as uow:
        due = await uow.proposals.due_to_expire(uow.now(), BATCH)
    for found in due:
        async with service.transaction() as uow:
            await uow.programs.lock(found.program_id)
            proposal = await uow.proposals.get(found.proposal_id, lock=True)
            if proposal is None:
                continue
            await close_and_rematch(uow, deps, proposal, proposal.expire(now=uow.now()))
    if len(due) >= BATCH:
        return Pass(more=True)
    async with service.transaction() as uow:
        upcoming = await uow.proposals.next_expiry()
    return Pass(due_in=None if upcoming is None else service.clock.real_seconds_until(upcoming))


async def follow_terms(service: Service[MatchingDeps, MatchingUnitOfWork]) -> Pass:
    """Announce the term ends a week ahead, and end the relationships whose term is over."""
    deps = service.deps
    default_term = deps.settings.term_days
    async with service.transaction() as uow:
        due = await uow.relationships.term_tasks_due(
            uow.now(), default_term_days=default_term, notice=END_NOTICE, limit=BATCH
        )
    for relationship_id, program_id in due:
        async with service.transaction() as uow:
            await uow.programs.lock(program_id)  # the program lock first, as everywhere
            relationship = await uow.relationships.get(relationship_id, lock=True)
            if relationship is None:
                continue
            program = await uow.program_settings.get(program_id, deps.settings)
            changes = relationship.follow_term(term_days=program.term_days, now=uow.now())
            if not changes:
                continue  # another replica was first, or it ended some other way
            await uow.relationships.save(relationship)
            for change in changes:
                uow.emit(change)
            if not relationship.active:
                deps.indexes.loads_changed(uow, program_id, {relationship.mentor_id: -1})  # the mentor's place is free
    if len(due) >= BATCH:
        return Pass(more=True)
    async with service.transaction() as uow:
        upcoming = await uow.relationships.next_term_task(default_term_days=default_term, notice=END_NOTICE)
    return Pass(due_in=None if upcoming is None else service.clock.real_seconds_until(upcoming))


async def expiry_loop(service: Service[MatchingDeps, MatchingUnitOfWork]) -> None:
    await run_loop("proposal expiry", lambda: expire_due(service), poll=service.deps.settings.expiry_check_seconds)


async def term_loop(service: Service[MatchingDeps, MatchingUnitOfWork]) -> None:
    await run_loop("relationship terms", lambda: follow_terms(service), poll=service.deps.settings.term_check_seconds)


LOOPS = [expiry_loop, term_loop]
