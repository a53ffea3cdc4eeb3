"""Time-driven work on the program clock: firing reminders, and planning the next meeting of each
series once the previous one is over.

Reminders are rows in Postgres taken with FOR UPDATE SKIP LOCKED, rather than jobs in a queue
library (pgqueuer, procrastinate): they must be created, moved and dropped in the same transaction
as their meeting, be dropped (not fired) once the meeting has begun, and fire in batches of
thousands; a job library adds its own tables, a job per row and a second transaction boundary,
and gives none of those three for free. SKIP LOCKED lets several replicas share the work, and the
status change commits with the outbox row of reminder.due, so each fires exactly once.
"""

from __future__ import annotations

import asyncio
import logging

from services.scheduling import metrics
from services.scheduling.adapters import repository as repo
from services.scheduling.service_layer import meetings
from services.scheduling.settings import SchedulingSettings
from shared.contracts import events as ev
from shared.service import Service

log = logging.getLogger(__name__)


async def fire_reminders(service: Service, settings: SchedulingSettings) -> int:
    """Fire one batch of due reminders; returns how many were taken."""
    async with service.transaction() as uow:
        now = uow.clock.now()
        rows = await repo.fire_due_reminders(uow.conn, now, settings.reminder_batch)
        fired = late = 0
        for r in rows:
            lateness = (now - r["due_at"]).total_seconds() / service.clock.speed
            metrics.REMINDER_LATENESS.observe(max(lateness, 0.0))
            if r["status"] == "late":
                late += 1
                continue
            fired += 1
            uow.emit(ev.ReminderDue(
                reminder_id=r["reminder_id"], meeting_id=r["meeting_id"], relationship_id=r["relationship_id"],
                participant_ids=list(r["participant_ids"]), meeting_start=r["meeting_start"],
                minutes_before=r["minutes_before"],
            ), event_id=r["reminder_id"])  # a re-published reminder keeps its id, so it is deduped
    metrics.REMINDERS_FIRED.inc(fired)
    metrics.REMINDERS_LATE.inc(late)
    if late:
        log.warning("dropped %d reminders whose meeting had already begun", late)
    return len(rows)


async def reminder_loop(service: Service, settings: SchedulingSettings, wake: asyncio.Event) -> None:
    while True:
        taken = await fire_reminders(service, settings)
        if taken >= settings.reminder_batch:
            continue
        wake.clear()
        async with service.pool.acquire() as conn:
            due = await repo.next_reminder_due(conn)
        timeout = 1.0 if due is None else min(1.0, service.clock.real_seconds_until(due))
        try:
            await asyncio.wait_for(wake.wait(), max(timeout, 0.005))
        except TimeoutError:
            pass


async def series_loop(service: Service, settings: SchedulingSettings, interval: float = 0.5) -> None:
    """Plan occurrence k+1 for every active pair whose latest meeting is over."""
    while True:
        async with service.pool.acquire() as conn:
            due = await repo.due_for_next(conn, service.clock.now(), settings.series_occurrences)
        for relationship_id in due:
            async with service.transaction() as uow:
                rel = await repo.relationship(uow.conn, relationship_id, lock=True)
                last = await repo.last_meeting(uow.conn, relationship_id)
                if rel["status"] != "active" or last is None or last["ends_at"] > uow.clock.now():
                    continue
                await meetings.plan_occurrence(uow, settings, rel, last["occurrence"] + 1)
        await asyncio.sleep(interval)
