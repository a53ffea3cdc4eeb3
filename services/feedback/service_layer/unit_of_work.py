"""Feedback's unit of work: one transaction and the repositories its handlers use."""

from __future__ import annotations

import asyncpg

from services.feedback.adapters.analytics import AnalyticsRepository
from services.feedback.adapters.checkins import CheckinRepository
from services.feedback.adapters.repository import (
    ConclusionRepository,
    FeedbackRepository,
    OutcomeRepository,
    RelationshipRepository,
    RequestRepository,
)
from shared.programs import ProgramDirectory
from shared.replica import PairDirectory, ParticipantDirectory
from shared.unit_of_work import UnitOfWork


class FeedbackUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    pairs: PairDirectory
    relationships: RelationshipRepository
    outcomes: OutcomeRepository
    requests: RequestRepository
    feedback: FeedbackRepository
    checkins: CheckinRepository
    conclusions: ConclusionRepository
    analytics: AnalyticsRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn)
        self.program_settings = ProgramDirectory(conn)
        self.pairs = PairDirectory(conn)
        self.relationships = RelationshipRepository(conn, self.pairs)
        self.outcomes = OutcomeRepository(conn)
        self.requests = RequestRepository(conn)
        self.feedback = FeedbackRepository(conn)
        self.checkins = CheckinRepository(conn)
        self.conclusions = ConclusionRepository(conn)
        self.analytics = AnalyticsRepository(conn)
