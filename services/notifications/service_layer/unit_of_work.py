"""Notifications' unit of work: one transaction and the repositories its handlers and loops use."""

from __future__ import annotations

import asyncpg

from services.notifications.adapters.repository import (
    DeliveryRepository,
    DigestRepository,
    RiskAlertRepository,
)
from services.notifications.adapters.stored_invites import StoredInvites
from services.notifications.adapters.subjects import SubjectRepository
from shared.programs import ProgramDirectory
from shared.replica import PairDirectory, ParticipantDirectory
from shared.unit_of_work import UnitOfWork


class NotificationsUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    pairs: PairDirectory
    deliveries: DeliveryRepository
    risk_alerts: RiskAlertRepository
    digests: DigestRepository
    subjects: SubjectRepository  # what action links are about, and the acts done through them
    invites: StoredInvites  # the invites in the delivery log, as an erasure rebuilds them

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn)
        self.program_settings = ProgramDirectory(conn)
        self.pairs = PairDirectory(conn)
        self.deliveries = DeliveryRepository(conn)
        self.risk_alerts = RiskAlertRepository(conn)
        self.digests = DigestRepository(conn)
        self.subjects = SubjectRepository(conn)
        self.invites = StoredInvites(conn)
