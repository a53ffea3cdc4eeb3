"""Notifications' unit of work: one transaction and the repositories its handlers and loops use;
and `one_statement_at_a_time`, the same repositories outside a transaction, for the delivery loop,
whose every step is one statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from services.notifications.adapters.repository import (
    Announcement,
    DeliveryRepository,
    DigestRepository,
    RiskAlertRepository,
)
from services.notifications.adapters.stored_invites import StoredInvites
from services.notifications.adapters.subjects import SubjectRepository
from services.notifications.adapters.waiting import WaitingMentees
from services.notifications.domain.delivery import Delivery
from shared.clock import ProgramClock
from shared.contracts.events import EventData
from shared.programs import ProgramDirectory
from shared.replica import PairDirectory, ParticipantDirectory
from shared.unit_of_work import UnitOfWork, outbox_channel


class NotificationsUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    pairs: PairDirectory
    deliveries: DeliveryRepository
    risk_alerts: RiskAlertRepository
    digests: DigestRepository
    subjects: SubjectRepository  # what action links are about, and the acts done through them
    invites: StoredInvites  # the invites in the delivery log, as an erasure rebuilds them
    waiting: WaitingMentees  # mentees told no mentor fits right now, in their current stretch of waiting

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn, hold_what_is_read=True)  # what is read becomes mail
        self.program_settings = ProgramDirectory(conn)
        self.pairs = PairDirectory(conn)
        self.deliveries = DeliveryRepository(conn)
        self.risk_alerts = RiskAlertRepository(conn)
        self.digests = DigestRepository(conn)
        self.subjects = SubjectRepository(conn)
        self.invites = StoredInvites(conn)
        self.waiting = WaitingMentees(conn)

    async def record_outcomes(self, outcomes: Sequence[tuple[Delivery, EventData | None]]) -> set[str]:
        """Deliveries' changes and, for each one saved, the event that tells of it, in one statement
        (`DeliveryRepository.record`): inside a transaction or outside one, they are written together
        or not at all. The ids of the deliveries saved."""
        announcements: list[Announcement] = []
        for delivery, event in outcomes:
            if event is not None:
                self.emit(event)
                announcements.append((delivery.delivery_id, *self._outgoing.pop()))  # written below, not at commit
        saved = await self.deliveries.record(
            [d for d, _ in outcomes],
            announcements,
            notify=outbox_channel(self.schema) if self.wake_relay is None else None,
        )
        if self.wake_relay is not None and any(a[0] in saved for a in announcements):
            self.after_commit(self.wake_relay)
        return saved

    @property
    def unwritten_events(self) -> int:
        """Events emitted and waiting for the commit to write them."""
        return len(self._outgoing)


@asynccontextmanager
async def one_statement_at_a_time(
    pool: asyncpg.Pool, *, source: str, clock: ProgramClock, schema: str
) -> AsyncIterator[NotificationsUnitOfWork]:
    """The repositories on a pooled connection outside any transaction: each statement commits on its
    own, with no BEGIN and COMMIT around it (two round trips fewer). Only for work that is one
    statement at a time, such as the delivery loop's (a claim, a batch of outcomes with their events:
    `record_outcomes`). Events are written only by `record_outcomes` here: one emitted otherwise
    would have no commit to write it, so that is refused."""
    async with pool.acquire() as conn:
        uow = NotificationsUnitOfWork(conn, source=source, clock=clock, schema=schema)
        yield uow
        if uow.unwritten_events:
            raise RuntimeError("events emitted outside a transaction would be lost; use a transaction")
