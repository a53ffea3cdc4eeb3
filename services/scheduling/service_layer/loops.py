"""Scheduling's time-driven work on the program clock, as `shared.loops.run_loop` steps that are
safe with any number of replicas:

- `reminder_loop`: fires due reminders (reminder.due), and drops those whose meeting has begun;
- `series_loop`: plans each series' next occurrence once its latest one is over.

Reminders are rows in Postgres taken with FOR UPDATE SKIP LOCKED, rather than jobs in a queue
library (pgqueuer, procrastinate): they must be created, moved and dropped in the same transaction
as their meeting, be dropped (not fired) once the meeting has begun, and fire in batches of
thousands; a job library adds its own tables, a job per row and a second transaction boundary,
and gives none of those three for free. SKIP LOCKED lets several replicas share the work, and the
status change commits with the outbox row of reminder.due, so each fires exactly once.

The series loop claims one due series per transaction with FOR NO KEY UPDATE SKIP LOCKED, so
replicas share the work and never take the same series; it re-checks the series under that lock
and plans with the same code and the same locks as the match handler (planning.py,
adapters/locks.py). One series per transaction, because each takes its people's advisory locks
until commit, and a second pair's people taken after them would break the lock order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.scheduling import metrics
from services.scheduling.service_layer.handlers import SchedulingDeps
from services.scheduling.service_layer.planning import plan_occurrence
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from shared.loops import Pass, run_loop
from shared.service import Service

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[SchedulingUnitOfWork]]
REMINDER_POLL_SECONDS = 1.0
SERIES_POLL_SECONDS = 0.5
SERIES_BATCH = 100  # series planned per pass before the loop yields


class Clock(Protocol):
    speed: float

    def real_seconds_until(self, moment) -> float: ...


async def reminder_loop(service: Service) -> None:
    deps: SchedulingDeps = service.deps
    await run_loop(
        "scheduling reminders",
        lambda: fire_due_reminders(service.transaction, deps, service.clock),
        poll=REMINDER_POLL_SECONDS,
        wake=deps.wake_reminders,
    )


async def series_loop(service: Service) -> None:
    deps: SchedulingDeps = service.deps
    await run_loop(
        "scheduling series", lambda: plan_due_series(service.transaction, deps, service.clock), poll=SERIES_POLL_SECONDS
    )


async def fire_due_reminders(transaction: Transaction, deps: SchedulingDeps, clock: Clock) -> Pass:
    """Fire one batch of due reminders."""
    batch = deps.settings.reminder_batch
    async with transaction() as uow:
        now = uow.now()
        taken = await uow.reminders.fire_due(now, batch)
        for reminder in taken:
            metrics.REMINDER_LATENESS.observe(max((now - reminder.due_at).total_seconds() / clock.speed, 0.0))
            if reminder.status == "fired":
                # A re-published reminder keeps its id, so consumers drop the copy.
                uow.emit(reminder.due(), event_id=reminder.reminder_id)
        next_due = await uow.reminders.next_due()
    late = sum(1 for r in taken if r.status == "late")
    metrics.REMINDERS_FIRED.inc(len(taken) - late)
    metrics.REMINDERS_LATE.inc(late)
    if late:
        log.warning("dropped %d reminders whose meeting had already begun", late)
    return Pass(more=len(taken) >= batch, due_in=None if next_due is None else clock.real_seconds_until(next_due))


async def plan_due_series(
    transaction: Transaction, deps: SchedulingDeps, clock: Clock, *, limit: int = SERIES_BATCH
) -> Pass:
    """Plan the next occurrence of up to `limit` due series, one per transaction."""
    for _ in range(limit):
        async with transaction() as uow:
            series = await uow.series.claim_due(uow.now())
            if series is None:
                next_due = await uow.series.next_due()
                return Pass(due_in=None if next_due is None else clock.real_seconds_until(next_due))
            # Re-checked under the lock: the row is the latest committed version.
            if (
                series.is_due(uow.now())
                and await plan_occurrence(uow, deps.settings, series, series.planned + 1) is not None
            ):
                uow.after_commit(deps.wake_reminders.set)
    return Pass(more=True)
