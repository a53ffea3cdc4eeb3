"""Matching's repositories in memory, for handler unit tests. One `MatchingTables` can back
several fake units of work, as one database backs several replicas."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.matching.adapters.repository import MenteeStanding
from services.matching.domain.model import KeptApart, Proposal, Relationship
from services.matching.service_layer.handlers import SUBSCRIPTIONS
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.events import topic_of
from tests.support.fakes import (
    FakeParticipantDirectory,
    FakeProgramDirectory,
    FakeUnitOfWork,
    deliver,
)


@dataclass
class MatchingTables:
    people: FakeParticipantDirectory = field(default_factory=FakeParticipantDirectory)
    programs: FakeProgramDirectory = field(default_factory=FakeProgramDirectory)
    proposals: dict[str, Proposal] = field(default_factory=dict)
    relationships: dict[str, Relationship] = field(default_factory=dict)
    kept_apart: dict[tuple[str, str], KeptApart] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    sequence: itertools.count = field(default_factory=lambda: itertools.count(1))


class FakePrograms:
    """As `ProgramRepository`: touches are gathered per transaction and stamped at its commit."""

    def __init__(self, t: MatchingTables) -> None:
        self.t = t
        self.touched: dict[str, set[str]] = {}  # every program -> people touched through this unit of work
        self.unapplied: dict[str, set[str]] = {}
        self.stamped: dict[str, int] = {}
        self.locked: list[str] = []
        self.reads: Counter[str] = Counter()  # what was read of the stamps: version, changed_since
        self._pending: dict[str, set[str]] = {}

    async def lock(self, *program_ids: str) -> None:
        self.locked += sorted(set(program_ids))

    async def version(self, program_id: str) -> int:
        self.reads["version"] += 1
        return self.t.versions.get(program_id, 0)

    def touch(self, program_id: str, participant_ids, *, applied: bool = False) -> None:
        ids = set(participant_ids)
        if not ids:
            return
        self.touched.setdefault(program_id, set()).update(ids)
        self._pending.setdefault(program_id, set()).update(ids)
        if not applied:
            self.unapplied.setdefault(program_id, set()).update(ids)

    async def stamp(self) -> dict[str, int]:
        unlocked = set(self._pending) - set(self.locked)
        assert not unlocked, f"index changes of {sorted(unlocked)} without their program lock"
        self.stamped = {}
        for program_id, ids in sorted(self._pending.items()):
            version = self.stamped[program_id] = self.t.versions[program_id] = next(self.t.sequence)
            for pid in ids:
                self.t.changes[(program_id, pid)] = version
        self._pending = {}
        return self.stamped

    async def changed_since(self, program_id: str, version: int) -> list[str]:
        self.reads["changed_since"] += 1
        return [pid for (prog, pid), v in self.t.changes.items() if prog == program_id and v > version]


class FakeProposals:
    def __init__(self, t: MatchingTables) -> None:
        self.t = t

    async def add(self, proposals: list[Proposal]) -> None:
        for p in proposals:
            self.t.proposals[p.proposal_id] = replace(p)

    async def add_within_capacity(self, proposal: Proposal) -> bool:
        mentor = self.t.people.people.get(proposal.mentor_id)
        if (mentor is None or not mentor.active or mentor.erased or not mentor.is_mentor
                or mentor.program_id != proposal.program_id):
            return False
        held = sum(1 for r in self.t.relationships.values() if r.mentor_id == mentor.participant_id and r.active)
        held += sum(1 for p in self.t.proposals.values() if p.mentor_id == mentor.participant_id and p.pending)
        free = mentor.mentor_capacity - held
        told = proposal.explanation.get("facts", {}).get("mentor_free_places")
        if free <= 0 or told not in (None, free):  # as the record checks it (ProposalRepository)
            return False
        await self.add([proposal])
        return True

    async def get(self, proposal_id: str, *, lock: bool = False) -> Proposal | None:
        found = self.t.proposals.get(proposal_id)
        return replace(found) if found else None

    async def save(self, proposal: Proposal) -> None:
        self.t.proposals[proposal.proposal_id] = replace(proposal)

    async def due_to_expire(self, now: datetime, limit: int = 200) -> list[Proposal]:
        due = sorted((p for p in self.t.proposals.values() if p.pending and p.expires_at <= now),
                     key=lambda p: p.expires_at)
        return [replace(p) for p in due[:limit]]

    async def next_expiry(self) -> datetime | None:
        return min((p.expires_at for p in self.t.proposals.values() if p.pending), default=None)

    async def pending_of(self, participant_id: str) -> list[Proposal]:
        return [replace(p) for p in self.t.proposals.values()
                if p.pending and participant_id in (p.mentor_id, p.mentee_id)]


class FakeRelationships:
    def __init__(self, t: MatchingTables) -> None:
        self.t = t

    async def add(self, relationship: Relationship) -> None:
        assert relationship.relationship_id not in self.t.relationships
        self.t.relationships[relationship.relationship_id] = replace(relationship)

    async def get(self, relationship_id: str, *, lock: bool = False) -> Relationship | None:
        found = self.t.relationships.get(relationship_id)
        return replace(found) if found else None

    async def active_of(self, participant_id: str) -> list[Relationship]:
        return [replace(r) for r in self.t.relationships.values()
                if r.status == "active" and participant_id in (r.mentor_id, r.mentee_id)]

    async def save(self, relationship: Relationship) -> None:
        self.t.relationships[relationship.relationship_id] = replace(relationship)

    def _term_tasks(self, default_term_days: int, notice: timedelta) -> list[tuple[datetime, str, str]]:
        tasks = []
        for r in self.t.relationships.values():
            if r.status != "active":
                continue
            configured = self.t.programs.programs.get(r.program_id)
            term = configured.term_days if configured and configured.term_days else default_term_days
            due = r.established_at + timedelta(days=term) - (notice if r.end_notice_at is None else timedelta(0))
            tasks.append((due, r.relationship_id, r.program_id))
        return sorted(tasks)

    async def term_tasks_due(self, now: datetime, *, default_term_days: int, notice: timedelta,
                             limit: int = 200) -> list[tuple[str, str]]:
        return [(rid, pid) for due, rid, pid in self._term_tasks(default_term_days, notice) if due <= now][:limit]

    async def next_term_task(self, *, default_term_days: int, notice: timedelta) -> datetime | None:
        return min((due for due, _, _ in self._term_tasks(default_term_days, notice)), default=None)


class FakeCommitments:
    def __init__(self, t: MatchingTables) -> None:
        self.t = t
        self.load_reads = 0

    async def mentor_loads(self, mentor_ids: list[str] | None = None) -> Counter:
        self.load_reads += 1
        held = Counter(r.mentor_id for r in self.t.relationships.values() if r.status == "active")
        held.update(p.mentor_id for p in self.t.proposals.values() if p.pending)
        return Counter({m: n for m, n in held.items() if mentor_ids is None or m in mentor_ids})

    async def mentee_engagements(self, mentee_id: str) -> tuple[int, int]:
        active = sum(1 for r in self.t.relationships.values() if r.mentee_id == mentee_id and r.status == "active")
        pending = sum(1 for p in self.t.proposals.values() if p.mentee_id == mentee_id and p.pending)
        return active, pending

    async def mentee_standing(self, mentee_id: str, program_id: str) -> MenteeStanding:
        found = self.t.people.people.get(mentee_id)
        eligible = (found is not None and found.active and not found.erased and found.is_mentee
                    and found.program_id == program_id)
        active, pending = await self.mentee_engagements(mentee_id)
        return MenteeStanding(eligible, active, pending, frozenset(await self.excluded_mentors(mentee_id)))

    async def busy_mentees(self, program_id: str, max_matches: int) -> set[str]:
        busy = {p.mentee_id for p in self.t.proposals.values() if p.program_id == program_id and p.pending}
        active = Counter(r.mentee_id for r in self.t.relationships.values()
                         if r.program_id == program_id and r.status == "active")
        return busy | {m for m, n in active.items() if n >= max_matches}

    def _latest(self, mentee_id: str) -> Relationship | None:
        theirs = [r for r in self.t.relationships.values() if r.mentee_id == mentee_id]  # in the order made
        return theirs[-1] if theirs else None

    def _kept_apart_from(self, pid: str) -> set[str]:
        return {k.mentor_id if k.mentee_id == pid else k.mentee_id for k in self.t.kept_apart.values()
                if pid in (k.mentee_id, k.mentor_id)}

    async def excluded_mentors(self, mentee_id: str) -> set[str]:
        latest = self._latest(mentee_id)
        return ({r.mentor_id for r in self.t.relationships.values() if r.mentee_id == mentee_id and r.active}
                | ({latest.mentor_id} if latest else set())
                | {p.mentor_id for p in self.t.proposals.values()
                   if p.mentee_id == mentee_id and p.status in ("declined", "expired", "pending")}
                | self._kept_apart_from(mentee_id))

    async def excluded_pairs(self, program_id: str) -> set[tuple[str, str]]:
        mentees = {r.mentee_id for r in self.t.relationships.values() if r.program_id == program_id}
        return ({(r.mentee_id, r.mentor_id) for r in self.t.relationships.values()
                 if r.program_id == program_id and r.active}
                | {(m, self._latest(m).mentor_id) for m in mentees}
                | {(p.mentee_id, p.mentor_id) for p in self.t.proposals.values()
                   if p.program_id == program_id and p.status in ("declined", "expired")}
                | {(k.mentee_id, k.mentor_id) for k in self.t.kept_apart.values()}
                | {(k.mentor_id, k.mentee_id) for k in self.t.kept_apart.values()})


class FakeKeptApart:
    def __init__(self, t: MatchingTables) -> None:
        self.t = t

    async def add(self, kept: KeptApart) -> bool:
        if (kept.mentee_id, kept.mentor_id) in self.t.kept_apart:
            return False
        self.t.kept_apart[(kept.mentee_id, kept.mentor_id)] = kept
        return True


class FakeMatchingUnitOfWork(FakeUnitOfWork):
    def __init__(self, clock, tables: MatchingTables | None = None) -> None:
        super().__init__(clock)
        self.tables = tables or MatchingTables()
        self.participants = self.tables.people
        self.program_settings = self.tables.programs
        self.programs = FakePrograms(self.tables)
        self.proposals = FakeProposals(self.tables)
        self.relationships = FakeRelationships(self.tables)
        self.commitments = FakeCommitments(self.tables)
        self.kept_apart = FakeKeptApart(self.tables)
        self.views: dict = {}
        self.read_ahead: dict = {}
        self._on_stamped: list = []

    def on_stamped(self, callback) -> None:
        self._on_stamped.append(callback)

    async def commit(self) -> None:
        """The end of one transaction: the stamps, then a fresh start for the next one."""
        stamped = await self.programs.stamp()
        for callback in self._on_stamped:
            callback(stamped)
        self.views, self._on_stamped = {}, []
        self.programs.unapplied, self.programs.stamped, self.programs.locked = {}, {}, []


async def apply(uow: FakeMatchingUnitOfWork, deps, *events: ev.EventData) -> None:
    """Deliver each event in a transaction of its own, as the consumer would, and what it queued on
    match-work.v1 after it (the program's consumer taking it)."""
    for event in events:
        before = len(uow.emitted)
        try:
            await deliver(SUBSCRIPTIONS, event, uow, deps)
        finally:
            await uow.commit()
        queued = [e for e in uow.emitted[before:] if topic_of(type(e))[0] == topics.MATCH_WORK]
        await apply(uow, deps, *queued)
