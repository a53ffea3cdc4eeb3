"""The check-in loop, on the program clock and safe with any number of replicas (the claims in
adapters/checkins.py take their rows with SKIP LOCKED in the transaction that acts on them).

Each pass, one transaction each:
1. asks the check-ins that fell due (feedback.requested kind=checkin, to both people), with the
   program's settings in force, and plans the next one;
2. reminds, once, a check-in that fell due unanswered: the same request again with `reminder`
   true and a new due date `checkin_reminder_days` later;
3. counts a reminded check-in still unanswered at its new due date against the relationship's
   health (`checkins_unanswered`), and reassesses it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Protocol

from services.feedback.domain.checkins import CheckinCadence
from services.feedback.service_layer.assessment import reassess
from services.feedback.service_layer.deps import FeedbackDeps
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.loops import Pass, run_loop

Transaction = Callable[[], AbstractAsyncContextManager[FeedbackUnitOfWork]]
BATCH = 100


class Clock(Protocol):
    def real_seconds_until(self, moment) -> float: ...


async def checkin_loop(service) -> None:
    deps: FeedbackDeps = service.deps
    await run_loop(
        "feedback check-ins",
        lambda: checkin_pass(service.transaction, deps, service.clock),
        poll=deps.settings.checkin_check_seconds,
        wake=deps.wake_checkins,
        min_sleep=0.05,
    )


async def checkin_pass(transaction: Transaction, deps: FeedbackDeps, clock: Clock) -> Pass:
    full = [
        await ask_due(transaction, deps),
        await remind_unanswered(transaction, deps),
        await count_unanswered(transaction, deps),
    ]
    if any(full):
        return Pass(more=True)
    async with transaction() as uow:
        next_due = await uow.checkins.next_due()
    return Pass(due_in=None if next_due is None else clock.real_seconds_until(next_due))


async def ask_due(transaction: Transaction, deps: FeedbackDeps) -> bool:
    """Step 1; True when it stopped at its batch size."""
    settings = deps.settings
    async with transaction() as uow:
        now = uow.now()
        due = await uow.checkins.claim_due(now, BATCH)
        cadences: dict[str, CheckinCadence] = {}
        for schedule, program_id in due:
            if program_id not in cadences:
                cadences[program_id] = CheckinCadence.of(await uow.program_settings.get(program_id, settings))
            number = schedule.take_due(
                cadences[program_id], now=now, fresh_for=timedelta(days=settings.feedback_due_days)
            )
            await uow.checkins.save(schedule)
            if number is None:
                continue
            relationship = await uow.relationships.require(schedule.relationship_id)
            for request in relationship.ask_checkin(number, now=now, due_days=settings.feedback_due_days):
                if await uow.requests.add(request):
                    uow.emit(request.requested())
    return len(due) >= BATCH


async def remind_unanswered(transaction: Transaction, deps: FeedbackDeps) -> bool:
    """Step 2."""
    async with transaction() as uow:
        now = uow.now()
        taken = await uow.checkins.claim_to_remind(now, BATCH)
        for request in taken:
            reminder = request.remind(now=now, grace_days=deps.settings.checkin_reminder_days)
            if reminder is not None:
                await uow.requests.save(request)
                uow.emit(reminder)
    return len(taken) >= BATCH


async def count_unanswered(transaction: Transaction, deps: FeedbackDeps) -> bool:
    """Step 3."""
    async with transaction() as uow:
        now = uow.now()
        taken = await uow.checkins.claim_to_count(now, BATCH)
        counted = set()
        for request in taken:
            if request.count_overdue(now=now):
                await uow.requests.save(request)
                counted.add(request.relationship_id)
        for relationship_id in sorted(counted):  # their pairs are locked by the claim
            await reassess(uow, deps, await uow.relationships.require(relationship_id, lock=True))
    return len(taken) >= BATCH


LOOPS = [checkin_loop]
