"""The digest loop: once a local day, from 08:00 in each program's time zone (program clock), the
program's ops contacts get what its digest items say, when they say anything. The deployment's
administrators (TANDEM_ADMIN_CONTACTS) get theirs the same way, at 08:00 in the deployment's zone:
the dead letters that name no program (admins.py).

Each pass (`DigestSchedule.step`, run by `shared.loops.run_loop`) looks at every configured program
(one nobody configured has no ops contacts) and, where that day's 08:00 has come, claims the
(program, local day) digest row, takes every item not yet in a digest and writes the messages to
the delivery log, all in one transaction. With N replicas exactly one claims a day's digest; items
that arrive while it is composed wait for the next one. It then sleeps until the next 08:00 of any
program, or until a program's settings change (`deps.wake_digests`), or `digest_poll_seconds` (a
replica that did not take the settings event notices them this way).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import date, datetime

from services.notifications.admins import ADMINS
from services.notifications.domain import digest
from services.notifications.service_layer import enqueue
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.clock import ProgramClock
from shared.loops import Pass, run_loop
from shared.programs import ProgramSettings
from shared.service import Service

Transaction = Callable[[], AbstractAsyncContextManager[NotificationsUnitOfWork]]
CAUSE_TYPE = "daily.digest"  # what caused a digest's deliveries (their cause id: `digest.digest_id`)


class DigestSchedule:
    def __init__(self, transaction: Transaction, clock: ProgramClock, deps: NotificationsDeps) -> None:
        self.transaction = transaction
        self.clock = clock
        self.deps = deps

    async def step(self) -> Pass:
        async with self.transaction() as uow:
            configured = await uow.program_settings.all()
        now = self.clock.now()
        upcoming: list[datetime] = []
        programs = [
            ProgramSettings.resolve(found.program_id, found, self.deps.settings)
            for found in configured
            if found.program_id != ADMINS
        ]  # reserved: its items are the administrators'
        if self.deps.admins:
            programs.append(admins_digest(self.deps))
        for program in programs:
            day = digest.due_day(now, program.timezone)
            if day is not None:
                async with self.transaction() as uow:
                    await send_digest(uow, self.deps, program, day)
            upcoming.append(digest.next_digest_at(now, program.timezone))
        return Pass(due_in=self.clock.real_seconds_until(min(upcoming)) if upcoming else None)


async def send_digest(
    uow: NotificationsUnitOfWork, deps: NotificationsDeps, program: ProgramSettings, day: date
) -> bool:
    """This program's digest for this local day, unless it was sent; False when there was none to send."""
    if await uow.digests.taken(program.program_id, day):
        return False  # the usual case on every pass after 08:00; the claim below settles a race
    if not await uow.digests.claim(program.program_id, day, at=uow.now()):
        return False
    items = await uow.digests.take_items(program.program_id, day)
    people = await uow.participants.many(sorted({pid for item in items for pid in item.people}))
    messages = digest.compose(
        items,
        program,
        day,
        people,
        dashboard_url=deps.settings.dashboard_url,
        whole_dashboard=program.program_id == ADMINS,
    )
    await enqueue.for_team(
        uow, deps, messages, program, cause_id=digest.digest_id(program.program_id, day), cause_type=CAUSE_TYPE
    )
    return bool(messages)


def admins_digest(deps: NotificationsDeps) -> ProgramSettings:
    """The administrators' digest as a program's: their contacts, at 08:00 in the deployment's zone."""
    defaults = ProgramSettings.resolve(ADMINS, None, deps.settings)
    return replace(defaults, name="Tandem", ops_contacts=deps.admins)


async def send_digests(service: Service) -> None:
    deps: NotificationsDeps = service.deps
    schedule = DigestSchedule(service.transaction, service.clock, deps)
    await run_loop("daily digests", schedule.step, poll=deps.settings.digest_poll_seconds, wake=deps.wake_digests)
