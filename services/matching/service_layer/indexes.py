"""The on-demand index of each program, kept current in every replica.

`MatchIndex` ranks a program's mentors in about a millisecond, so it lives in process memory. With
several replicas each has its own copy, and the record in Postgres says what is current: every
change to a person or a mentor's load stamps the program with a new version, under the program's
lock, once per transaction as it commits (`ProgramRepository.touch` / `stamp`).

A transaction that holds a program's lock asks `ProgramIndexes.current()` for the program's view:
the first time, one indexed read of the stamp (and of the program's settings), and when another
replica changed something, a read of just the people changed since. Later events of the same
transaction (a batch) reuse that view: nobody else can stamp the program while the lock is held.
Any replica therefore answers from the same committed state, and a profile change is seen by the
next request whichever replica takes it.

This process keeps the index current itself where it knows the change exactly: a proposal made,
declined or expired moves its mentor's load by one (`loads_changed`), without a read. Other changes
(someone leaving, a profile) are read back for the people they name before the view is used again.
When the transaction commits, its own stamp is taken as the version the index shows, so the next
batch does not read back what this one wrote. If it is rolled back instead, the people it changed
are read from the record on next use, so the index never keeps what was not committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from services.matching.domain import MatchIndex, MatchSettings, ScoreWeights
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from shared.people import Participant
from shared.programs import ProgramDefaults, ProgramSettings


def match_settings(program: ProgramSettings) -> MatchSettings:
    """The matching engine's settings for a program: its overlap rule (weekly hours, and one stretch
    as long as the program's meetings, which scheduling books at that length) and score weights."""
    return MatchSettings(
        min_overlap_hours=program.min_overlap_hours,
        meeting_minutes=program.duration_minutes,
        weights=ScoreWeights(**program.matching_weights),
    )


@dataclass
class ReadAhead:
    """A person as the record has them, read ahead of the index's need, and the places they hold:
    as read, plus the changes this transaction made since (`loads_changed`)."""

    person: Participant | None
    load: int


@dataclass
class ProgramView:
    """A program's index and settings as one transaction sees them, under the program's lock."""

    index: MatchIndex
    program: ProgramSettings
    version: int  # the stamp the index was caught up with when the transaction took the view


class ProgramIndexes:
    def __init__(self, defaults: ProgramDefaults) -> None:
        self.defaults = defaults
        self._indexes: dict[str, MatchIndex] = {}
        self._loads: dict[str, dict[str, int]] = {}  # program -> mentor -> places held, as the index has them
        self._versions: dict[str, int] = {}
        self._stale: dict[str, set[str]] = {}  # people to re-read after a rolled-back transaction

    async def current(self, uow: MatchingUnitOfWork, program_id: str) -> ProgramView:
        """The program's view, caught up with the record (and with this transaction's own changes).
        The caller holds the program's lock."""
        view = uow.views.get(program_id)
        if view is None:
            view = await self._open(
                uow,
                program_id,
                await uow.programs.version(program_id),
                await uow.program_settings.get(program_id, self.defaults),
            )
        unapplied = uow.programs.unapplied.pop(program_id, None)
        if unapplied:  # this transaction changed them in ways the index does not know: read them back
            await self._refresh(uow, view.index, program_id, unapplied)
        return view

    async def prepare(self, uow: MatchingUnitOfWork, program_ids: Iterable[str]) -> None:
        """Catch up the views of several programs a wave is about to use (`current` then reads
        nothing more for them): the stamps and the settings of all of them in one statement each.
        The caller holds their locks."""
        missing = sorted(set(program_ids) - set(uow.views))
        if not missing:
            return
        versions = await uow.programs.versions(missing)
        programs = await uow.program_settings.get_many(missing, self.defaults)
        for program_id in missing:
            await self._open(uow, program_id, versions.get(program_id, 0), programs[program_id])

    async def _open(
        self, uow: MatchingUnitOfWork, program_id: str, version: int, program: ProgramSettings
    ) -> ProgramView:
        view = uow.views[program_id] = await self._catch_up(uow, program_id, version, program)
        uow.on_stamped(lambda stamped: self._stamped(uow, program_id, stamped))
        uow.after_rollback(lambda: self._forget_uncommitted(uow, program_id))
        return view

    async def _catch_up(
        self, uow: MatchingUnitOfWork, program_id: str, version: int, program: ProgramSettings
    ) -> ProgramView:
        settings = match_settings(program)
        index = self._indexes.get(program_id)
        if index is None or index.settings != settings:  # new, or the program team changed the settings
            index = await self._build(uow, program_id, settings)
        elif version != self._versions.get(program_id) or self._stale.get(program_id):
            changed = set(await uow.programs.changed_since(program_id, self._versions.get(program_id, 0)))
            await self._refresh(uow, index, program_id, changed | self._stale.pop(program_id, set()))
        self._versions[program_id] = version
        return ProgramView(index, program, version)

    async def read_ahead(self, uow: MatchingUnitOfWork, people: Iterable[str]) -> None:
        """Read these people and their loads now, in two statements, for the index to read back from
        memory when it needs them in this wave (`_refresh`): a wave's profile stamps name one or two
        people each. The caller clears `uow.read_ahead` at the end of the wave."""
        wanted = sorted(set(people) - set(uow.read_ahead))
        if not wanted:
            return
        found = await uow.participants.many(wanted)
        loads = await uow.commitments.mentor_loads(wanted)
        for pid in wanted:
            uow.read_ahead[pid] = ReadAhead(found.get(pid), loads.get(pid, 0))

    def loads_changed(self, uow: MatchingUnitOfWork, program_id: str, deltas: dict[str, int]) -> None:
        """Mentors' places held changed by these amounts in this transaction: the index follows
        without a read when the transaction has the program's view, and the change is stamped."""
        for mentor_id, delta in deltas.items():
            if (ahead := uow.read_ahead.get(mentor_id)) is not None:
                ahead.load += delta
        view = uow.views.get(program_id)
        if view is None:
            uow.programs.touch(program_id, deltas)
            return
        loads = self._loads.setdefault(program_id, {})
        for mentor_id, delta in deltas.items():
            loads[mentor_id] = max(0, loads.get(mentor_id, 0) + delta)
            view.index.set_load(mentor_id, loads[mentor_id])
        uow.programs.touch(program_id, deltas, applied=True)

    def rank_as_if_held(self, uow: MatchingUnitOfWork, program_id: str, mentor_id: str, extra: int) -> None:
        """Rank this mentor as if `extra` more places were held than the index knows: proposals a
        wave has chosen but not written yet (0 puts it back). Neither recorded nor stamped."""
        held = self._loads.get(program_id, {}).get(mentor_id, 0)
        uow.views[program_id].index.set_load(mentor_id, held + extra)

    def reread(self, uow: MatchingUnitOfWork, program_id: str, participant_ids) -> None:
        """The record disagrees with the index about these people: read them back before next use."""
        uow.programs.unapplied.setdefault(program_id, set()).update(participant_ids)

    def _stamped(self, uow: MatchingUnitOfWork, program_id: str, stamped: dict[str, int]) -> None:
        """This transaction stamped the program under the lock it held since it took the view: the
        stamp is the version the index now shows (once it commits)."""
        version = stamped.get(program_id)
        if version is None:
            return
        self._versions[program_id] = version
        left = uow.programs.unapplied.get(program_id)
        if left:  # changed after the view was last used: read back on next use
            self._stale.setdefault(program_id, set()).update(left)

    def _forget_uncommitted(self, uow: MatchingUnitOfWork, program_id: str) -> None:
        view = uow.views.get(program_id)
        if view is not None:
            self._versions[program_id] = view.version  # what the record still says
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
        self._loads[program_id] = dict(loads)
        for mentor_id, held in loads.items():
            index.set_load(mentor_id, held)
        return index

    async def _refresh(self, uow: MatchingUnitOfWork, index: MatchIndex, program_id: str, ids: set[str]) -> None:
        if not ids:
            return
        wanted = sorted(ids)
        ahead = {pid: uow.read_ahead[pid] for pid in wanted if pid in uow.read_ahead}
        unread = [pid for pid in wanted if pid not in ahead]
        people = await uow.participants.many(unread) if unread else {}
        loads = await uow.commitments.mentor_loads(unread) if unread else Counter()
        for pid, known in ahead.items():
            if known.person is not None:
                people[pid] = known.person
            loads[pid] = known.load
        held = self._loads.setdefault(program_id, {})
        for pid in wanted:
            person = people.get(pid)
            if person is None or not person.active or person.erased or person.program_id != program_id:
                index.remove(pid)
                held.pop(pid, None)
                continue
            index.upsert(person)
            held[pid] = loads.get(pid, 0)
            index.set_load(pid, held[pid])

    def forget(self, program_id: str) -> None:
        """Drop a program's index (it is rebuilt on next use)."""
        self._indexes.pop(program_id, None)
        self._loads.pop(program_id, None)
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
