"""Matching's unit of work: one transaction and the repositories its handlers use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg

from services.matching.adapters.repository import (
    CommitmentQueries,
    KeptApartRepository,
    ProgramRepository,
    ProposalRepository,
    RelationshipRepository,
)
from shared.programs import ProgramDirectory
from shared.replica import ParticipantDirectory
from shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from services.matching.service_layer.indexes import ProgramView, ReadAhead


class MatchingUnitOfWork(UnitOfWork):
    participants: ParticipantDirectory
    program_settings: ProgramDirectory
    programs: ProgramRepository
    proposals: ProposalRepository
    relationships: RelationshipRepository
    commitments: CommitmentQueries
    kept_apart: KeptApartRepository
    # Each program's index as this transaction caught it up, under the program's lock
    # (`ProgramIndexes.current`): later events of the batch reuse it without reading the stamp again.
    views: dict[str, ProgramView]
    # People a wave's profile stamps name, read ahead with their loads (`ProgramIndexes.read_ahead`).
    read_ahead: dict[str, ReadAhead]

    def bind(self, conn: asyncpg.Connection) -> None:
        self.participants = ParticipantDirectory(conn)
        self.program_settings = ProgramDirectory(conn)
        self.programs = ProgramRepository(conn)
        self.proposals = ProposalRepository(conn)
        self.relationships = RelationshipRepository(conn)
        self.commitments = CommitmentQueries(conn)
        self.kept_apart = KeptApartRepository(conn)
        self.views = {}
        self.read_ahead = {}
        self._on_stamped: list[Callable[[dict[str, int]], None]] = []

    def on_stamped(self, callback: Callable[[dict[str, int]], None]) -> None:
        """Run with {program: version} once the programs this transaction touched are stamped,
        just before it commits."""
        self._on_stamped.append(callback)

    async def _flush(self) -> None:
        # The index stamps first, once per program for the whole transaction, then the outbox.
        stamped = await self.programs.stamp()
        for callback in self._on_stamped:
            callback(stamped)
        await super()._flush()
