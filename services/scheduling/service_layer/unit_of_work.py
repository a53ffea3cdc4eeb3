"""Scheduling's unit of work: one transaction, the repositories its handlers and loops use, and
the locks that keep anyone from being booked twice (adapters/locks.py)."""

from __future__ import annotations

import asyncpg

from services.scheduling.adapters.locks import Locks
from services.scheduling.adapters.repository import (
    AgreementRepository,
    MeetingRepository,
    ReminderRepository,
    SeriesRepository,
)
from shared.programs import ProgramDirectory
from shared.replica import PairDirectory, ParticipantDirectory
from shared.unit_of_work import UnitOfWork


class SchedulingUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    pairs: PairDirectory
    locks: Locks
    series: SeriesRepository
    meetings: MeetingRepository
    reminders: ReminderRepository
    agreements: AgreementRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn)
        self.program_settings = ProgramDirectory(conn)
        self.pairs = PairDirectory(conn)
        self.locks = Locks(conn, f"{self.schema}.person", lambda: self.cause)
        self.series = SeriesRepository(conn, self.locks)
        self.meetings = MeetingRepository(conn, self.locks)
        self.reminders = ReminderRepository(conn)
        self.agreements = AgreementRepository(conn)
