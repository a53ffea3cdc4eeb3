"""Scheduling's repositories in memory, for handler unit tests.

They store copies, so a handler that forgets to save loses its change as it would on Postgres, and
`FakeMeetings.busy` refuses to answer for people whose calendars were not locked first.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.scheduling.domain.agreements import Agreement
from services.scheduling.domain.model import Meeting, Reminder, Series
from shared.availability import Interval, to_epoch
from shared.errors import NotYetKnown
from tests.support.fakes import FakePairDirectory, FakeUnitOfWork


@dataclass
class SchedulingTables:
    series: dict[str, Series] = field(default_factory=dict)
    meetings: dict[str, Meeting] = field(default_factory=dict)
    reminders: dict[str, Reminder] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)


class FakeLocks:
    def __init__(self) -> None:
        self.people_locked: set[str] = set()

    async def people(self, *participant_ids: str) -> None:
        self.people_locked.update(participant_ids)


class FakeSeries:
    def __init__(self, pairs: FakePairDirectory, tables: SchedulingTables) -> None:
        self.pairs, self.t = pairs, tables

    async def add(self, series: Series) -> bool:
        if series.relationship_id in self.t.series:
            return False
        self.t.series[series.relationship_id] = replace(series)
        return True

    async def get(self, relationship_id: str, *, lock: bool = False) -> Series | None:
        found = self.t.series.get(relationship_id)
        # As the SQL join does: the pair as the replica has it now.
        return None if found is None else replace(found, pair=self.pairs.pairs[relationship_id])

    async def require(self, relationship_id: str, *, lock: bool = False) -> Series:
        found = await self.get(relationship_id)
        if found is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return found

    async def save(self, series: Series) -> None:
        self.t.series[series.relationship_id] = replace(series)

    async def claim_due(self, now: datetime) -> Series | None:
        due = sorted((s for s in self.t.series.values() if s.is_due(now)), key=lambda s: s.plan_next_at)
        return await self.get(due[0].relationship_id) if due else None

    async def next_due(self) -> datetime | None:
        return min((s.plan_next_at for s in self.t.series.values() if s.active and s.plan_next_at), default=None)


class FakeMeetings:
    def __init__(self, tables: SchedulingTables, locks: FakeLocks) -> None:
        self.t, self.locks = tables, locks

    async def add(self, meeting: Meeting) -> bool:
        if meeting.meeting_id in self.t.meetings:
            return False
        self.t.meetings[meeting.meeting_id] = replace(meeting)
        return True

    async def get(self, meeting_id: str, *, lock: bool = False) -> Meeting | None:
        found = self.t.meetings.get(meeting_id)
        return None if found is None else replace(found)

    async def save(self, meeting: Meeting) -> None:
        self.t.meetings[meeting.meeting_id] = replace(meeting)

    async def first_placed(self, relationship_id: str, cadence_days: int) -> Meeting | None:
        placed = sorted((m for m in self.t.meetings.values()
                         if m.relationship_id == relationship_id and m.status != "unplaceable"),
                        key=lambda m: m.occurrence)
        other = [m.occurrence for m in placed if m.cadence_days != cadence_days]
        placed = [m for m in placed if m.occurrence >= max(other, default=0)]
        return replace(placed[0]) if placed else None

    async def scheduled_after(self, relationship_id: str, moment: datetime, *, lock: bool = False) -> list[Meeting]:
        return [replace(m) for m in sorted(self.t.meetings.values(), key=lambda m: m.occurrence)
                if m.relationship_id == relationship_id and m.status == "scheduled" and m.start > moment]

    async def busy(self, participant_ids, lo: datetime, hi: datetime, *,
                   except_meeting: str | None = None) -> dict[str, list[Interval]]:
        unlocked = set(participant_ids) - self.locks.people_locked
        assert not unlocked, f"busy times of {sorted(unlocked)} read without locking them first"
        found: dict[str, list[Interval]] = defaultdict(list)
        for m in self.t.meetings.values():
            if m.holds_time and m.meeting_id != except_meeting and m.start < hi and m.end > lo:
                for pid in m.participant_ids:
                    if pid in participant_ids:
                        found[pid].append((to_epoch(m.start), to_epoch(m.end)))
        return {pid: sorted(items) for pid, items in found.items()}


class FakeAgreements:
    def __init__(self, tables: SchedulingTables, pairs: FakePairDirectory) -> None:
        self.t, self.pairs = tables, pairs

    async def record(self, agreement: Agreement) -> bool:
        if agreement.relationship_id not in self.t.series:
            raise AssertionError("an agreement row needs its series")  # the foreign key
        stored = self.t.agreements.get(agreement.relationship_id)
        if stored is not None and stored.recorded_at >= agreement.recorded_at:
            return False
        self.t.agreements[agreement.relationship_id] = agreement
        return True

    async def get(self, relationship_id: str) -> Agreement | None:
        return self.t.agreements.get(relationship_id)

    async def forget_places(self, participant_id: str) -> None:
        for rid, agreement in list(self.t.agreements.items()):
            if participant_id in self.pairs.pairs[rid].members:
                self.t.agreements[rid] = replace(agreement, place_details=None)
        for mid, m in list(self.t.meetings.items()):
            if participant_id in m.participant_ids and m.place != "video":
                self.t.meetings[mid] = replace(m, location=None)


class FakeReminders:
    def __init__(self, tables: SchedulingTables) -> None:
        self.t = tables

    async def add(self, reminders: list[Reminder]) -> None:
        for r in reminders:
            self.t.reminders.setdefault(r.reminder_id, r)

    async def cancel_for(self, meeting_id: str) -> int:
        pending = [r for r in self.t.reminders.values() if r.meeting_id == meeting_id and r.status == "pending"]
        for r in pending:
            self.t.reminders[r.reminder_id] = replace(r, status="cancelled")
        return len(pending)

    async def fire_due(self, now: datetime, limit: int) -> list[Reminder]:
        due = sorted((r for r in self.t.reminders.values() if r.status == "pending" and r.due_at <= now),
                     key=lambda r: r.due_at)[:limit]
        fired = [replace(r, status="late" if r.meeting_start <= now else "fired") for r in due]
        for r in fired:
            self.t.reminders[r.reminder_id] = r
        return fired

    async def next_due(self) -> datetime | None:
        return min((r.due_at for r in self.t.reminders.values() if r.status == "pending"), default=None)


class FakeSchedulingUnitOfWork(FakeUnitOfWork):
    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.tables = SchedulingTables()
        self.locks = FakeLocks()
        self.series = FakeSeries(self.pairs, self.tables)
        self.meetings = FakeMeetings(self.tables, self.locks)
        self.reminders = FakeReminders(self.tables)
        self.agreements = FakeAgreements(self.tables, self.pairs)

    def transaction(self):
        """What loops get from the service: each call is a new transaction on the same tables."""
        @asynccontextmanager
        async def begin():
            self.locks.people_locked.clear()  # advisory locks end with their transaction
            yield self
        return begin()

    def pending_reminders(self, meeting_id: str | None = None) -> list[Reminder]:
        return sorted((r for r in self.tables.reminders.values() if r.status == "pending"
                       and (meeting_id is None or r.meeting_id == meeting_id)), key=lambda r: r.due_at)
