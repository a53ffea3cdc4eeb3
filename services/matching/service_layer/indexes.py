"""The on-demand index of each program, kept current in every replica.

`MatchIndex` ranks a program's mentors in about a millisecond, so it lives in process memory. With
several replicas each has its own copy, and the record in Postgres says what is current: every
change to a person or a mentor's load stamps the program with a new version, in the same
transaction and under the program's lock (`ProgramRepository.touch`). Before answering, a handler
that holds the program's lock asks `ProgramIndexes.current()`: one indexed read of the stamp, and
when another replica changed something, a read of just the people changed since. Any replica
therefore answers from the same committed state, and a profile change is seen by the next request
whichever replica takes it.

A transaction may read its own uncommitted changes (a batch of requests: the second sees the load
the first added). If it is then rolled back, the people it changed are refreshed from the record
on the next use, so the index never keeps what was not committed.
"""

from __future__ import annotations

from services.matching.domain import MatchIndex, MatchSettings, ScoreWeights
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from shared.programs import ProgramDefaults, ProgramSettings


def match_settings(program: ProgramSettings) -> MatchSettings:
    """The matching engine's settings for a program: its overlap rule and score weights."""
    return MatchSettings(min_overlap_hours=program.min_overlap_hours, weights=ScoreWeights(**program.matching_weights))


class ProgramIndexes:
    def __init__(self, defaults: ProgramDefaults) -> None:
        self.defaults = defaults
        self._indexes: dict[str, MatchIndex] = {}
        self._versions: dict[str, int] = {}
        self._stale: dict[str, set[str]] = {}  # people to re-read after a rolled-back transaction

    async def current(self, uow: MatchingUnitOfWork, program_id: str) -> MatchIndex:
        """The program's index, caught up with the record. The caller holds the program's lock."""
        version = await uow.programs.version(program_id)
        settings = match_settings(await uow.program_settings.get(program_id, self.defaults))
        index = self._indexes.get(program_id)
        if index is None or index.settings != settings:  # new, or the program team changed the settings
            index = await self._build(uow, program_id, settings)
        elif version != self._versions.get(program_id) or self._stale.get(program_id):
            changed = set(await uow.programs.changed_since(program_id, self._versions.get(program_id, 0)))
            await self._refresh(uow, index, program_id, changed | self._stale.pop(program_id, set()))
        self._versions[program_id] = version
        uow.after_rollback(lambda: self._forget_uncommitted(uow, program_id))
        return index

    def _forget_uncommitted(self, uow: MatchingUnitOfWork, program_id: str) -> None:
        touched = uow.programs.touched.get(program_id)
        if touched:
            self._stale.setdefault(program_id, set()).update(touched)

    async def _build(self, uow: MatchingUnitOfWork, program_id: str, settings: MatchSettings) -> MatchIndex:
        index = self._indexes[program_id] = MatchIndex(settings)
        self._stale.pop(program_id, None)
        people = await uow.participants.in_program(program_id)
        for person in people:
            index.upsert(person)
        loads = await uow.commitments.mentor_loads([p.participant_id for p in people if p.is_mentor])
        for mentor_id, held in loads.items():
            index.set_load(mentor_id, held)
        return index

    async def _refresh(self, uow: MatchingUnitOfWork, index: MatchIndex, program_id: str, ids: set[str]) -> None:
        if not ids:
            return
        wanted = sorted(ids)
        people = await uow.participants.many(wanted)
        loads = await uow.commitments.mentor_loads(wanted)
        for pid in wanted:
            person = people.get(pid)
            if person is None or not person.active or person.erased or person.program_id != program_id:
                index.remove(pid)
                continue
            index.upsert(person)
            index.set_load(pid, loads.get(pid, 0))

    def forget(self, program_id: str) -> None:
        """Drop a program's index (it is rebuilt on next use)."""
        self._indexes.pop(program_id, None)
        self._versions.pop(program_id, None)
        self._stale.pop(program_id, None)


async def warm_up(service) -> None:
    """Build every program's index at start-up, so the first request is as fast as the rest."""
    async with service.transaction() as uow:
        programs = await uow.conn.fetch("SELECT DISTINCT program_id FROM participants WHERE active")
    for row in programs:
        async with service.transaction() as uow:
            await uow.programs.lock(row["program_id"])
            await service.deps.indexes.current(uow, row["program_id"])
