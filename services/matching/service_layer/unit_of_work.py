"""Matching's unit of work: one transaction and the repositories its handlers use."""

from __future__ import annotations

import asyncpg

from services.matching.adapters.repository import (
    CommitmentQueries,
    KeptApartRepository,
    ProgramRepository,
    ProposalRepository,
    RelationshipRepository,
)
from shared.replica import ParticipantDirectory
from shared.programs import ProgramDirectory
from shared.unit_of_work import UnitOfWork


class MatchingUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    programs: ProgramRepository
    proposals: ProposalRepository
    relationships: RelationshipRepository
    commitments: CommitmentQueries
    kept_apart: KeptApartRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn)
        self.program_settings = ProgramDirectory(conn)
        self.programs = ProgramRepository(conn)
        self.proposals = ProposalRepository(conn)
        self.relationships = RelationshipRepository(conn)
        self.commitments = CommitmentQueries(conn)
        self.kept_apart = KeptApartRepository(conn)
