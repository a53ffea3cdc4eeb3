"""Scheduling's repositories on Postgres: domain objects in, domain objects out.

Each works on the caller's connection, inside its transaction (the unit of work). Row locks go
through `Locks` so that they follow the one lock order (adapters/locks.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.scheduling.adapters.locks import Locks
from services.scheduling.domain.agreements import Agreement
from services.scheduling.domain.model import Meeting, Reminder, Series
from shared.availability import Interval, to_epoch
from shared.errors import NotYetKnown
from shared.replica import pair_from_row

# The pair's own columns keep their names (shared.replica.pair_from_row reads them); the series' are renamed.
_SERIES = """SELECT s.occurrences, s.status AS series_status,
                    s.reason AS series_reason, s.planned, s.plan_next_at,
                    p.relationship_id, p.program_id, p.mentor_id, p.mentee_id, p.established_at, p.goals,
                    p.status, p.ended_at, p.end_reason
             FROM series s JOIN pairs p USING (relationship_id)"""


def series_from_row(r: asyncpg.Record) -> Series:
    return Series(pair=pair_from_row(r), occurrences=r["occurrences"], status=r["series_status"], reason=r["series_reason"],
                  planned=r["planned"], plan_next_at=r["plan_next_at"])


class SeriesRepository:
    def __init__(self, conn: asyncpg.Connection, locks: Locks) -> None:
        self.conn = conn
        self.locks = locks

    async def add(self, series: Series) -> bool:
        """False when this pair's series was already known."""
        return await self.conn.fetchval(
            """INSERT INTO series (relationship_id, occurrences, status, reason, planned, plan_next_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            series.relationship_id, series.occurrences, series.status,
            series.reason, series.planned, series.plan_next_at,
        ) is not None

    async def known(self, relationship_ids: Sequence[str]) -> set[str]:
        """Those of these relationships whose series is already followed here."""
        rows = await self.conn.fetch("SELECT relationship_id FROM series WHERE relationship_id = ANY($1::text[])",
                                     list(relationship_ids))
        return {r["relationship_id"] for r in rows}

    async def add_new(self, series: Sequence[Series]) -> None:
        """Series not followed before (`known` said so, after their pairs were inserted in this
        transaction: a concurrent transaction adding one of them was waited for there), as they stand
        once planned: one row each, written once (COPY: see `MeetingRepository.add_new`). Should one
        exist after all, the copy fails (unique key) rather than skip it silently."""
        if series:
            await self.conn.copy_records_to_table(
                "series", columns=_SERIES_COLUMNS,
                records=[(s.relationship_id, s.occurrences, s.status, s.reason, s.planned, s.plan_next_at)
                         for s in series])

    async def get(self, relationship_id: str, *, lock: bool = False) -> Series | None:
        row = await self.conn.fetchrow(
            _SERIES + " WHERE s.relationship_id = $1" + (self.locks.row_clause(of="s") if lock else ""),
            relationship_id)
        return None if row is None else series_from_row(row)

    async def require(self, relationship_id: str, *, lock: bool = False) -> Series:
        found = await self.get(relationship_id, lock=lock)
        if found is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return found

    async def save(self, series: Series) -> None:
        await self.conn.execute(
            "UPDATE series SET status = $2, reason = $3, planned = $4, plan_next_at = $5 WHERE relationship_id = $1",
            series.relationship_id, series.status, series.reason, series.planned, series.plan_next_at,
        )

    async def claim_due(self, now: datetime) -> Series | None:
        """The earliest due series no other transaction holds, locked; None when there is none."""
        row = await self.conn.fetchrow(
            _SERIES + """ WHERE s.status = 'active' AND s.plan_next_at <= $1
                          ORDER BY s.plan_next_at LIMIT 1 FOR NO KEY UPDATE OF s SKIP LOCKED""", now)
        return None if row is None else series_from_row(row)

    async def next_due(self) -> datetime | None:
        return await self.conn.fetchval("SELECT min(plan_next_at) FROM series WHERE status = 'active'")


_SERIES_COLUMNS = ["relationship_id", "occurrences", "status", "reason", "planned", "plan_next_at"]


_MEETING_COLUMNS = ("meeting_id, relationship_id, program_id, mentor_id, mentee_id, occurrence, starts_at, ends_at, "
                    "status, sequence, reason, cadence_days, place, location, organizer, offered")


_MEETING_COPY_COLUMNS = _MEETING_COLUMNS.split(", ")


def meeting_from_row(r: asyncpg.Record) -> Meeting:
    return Meeting(meeting_id=r["meeting_id"], relationship_id=r["relationship_id"], program_id=r["program_id"],
                   mentor_id=r["mentor_id"], mentee_id=r["mentee_id"], occurrence=r["occurrence"],
                   start=r["starts_at"], end=r["ends_at"], status=r["status"], sequence=r["sequence"],
                   reason=r["reason"], cadence_days=r["cadence_days"], place=r["place"], location=r["location"],
                   organizer=r["organizer"], offered=tuple(r["offered"]))


# A person's bookings, found as the exclusion constraint's index orders them (migration 003): by the
# id's hash first, then the id itself.
_BUSY = """SELECT b.participant_id, lower(b.during) AS starts_at, upper(b.during) AS ends_at
           FROM unnest($1::text[]) AS person
           JOIN bookings b ON hashtextextended(b.participant_id, 0) = hashtextextended(person, 0)
                          AND b.participant_id = person AND b.during && tstzrange($2, $3)
           WHERE b.meeting_id IS DISTINCT FROM $4"""
_BUSY_MANY = """SELECT q.i, b.participant_id, lower(b.during) AS starts_at, upper(b.during) AS ends_at
                FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(i, person, lo, hi)
                JOIN bookings b ON hashtextextended(b.participant_id, 0) = hashtextextended(q.person, 0)
                               AND b.participant_id = q.person AND b.during && tstzrange(q.lo, q.hi)"""


class MeetingRepository:
    """Meetings, and the bookings (who is busy when) that go with them."""

    def __init__(self, conn: asyncpg.Connection, locks: Locks) -> None:
        self.conn = conn
        self.locks = locks

    async def add(self, meeting: Meeting) -> bool:
        """False when this occurrence was already planned."""
        added = await self.conn.fetchval(
            f"""INSERT INTO meetings ({_MEETING_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                ON CONFLICT DO NOTHING RETURNING true""",
            meeting.meeting_id, meeting.relationship_id, meeting.program_id, meeting.mentor_id, meeting.mentee_id,
            meeting.occurrence, meeting.start, meeting.end, meeting.status, meeting.sequence, meeting.reason,
            meeting.cadence_days, meeting.place, meeting.location, meeting.organizer, list(meeting.offered),
        ) is not None
        if added:
            await self._book(meeting)
        return added

    async def add_new(self, meetings: Sequence[Meeting]) -> None:
        """`add` for meetings never planned before (the kickoffs of series added in this transaction:
        no meeting row can name a series that did not exist), with their bookings: two COPYs.
        Should one exist after all, the copy fails (unique key) rather than skip it silently.

        COPY, not INSERT ... SELECT FROM unnest($1, ...): the rows go as they are, with no column
        arrays to build, and asyncpg checks no array element (for a text element, two abstract-class
        isinstance calls each); Postgres inserts them without a function scan."""
        if not meetings:
            return
        await self.conn.copy_records_to_table(
            "meetings", columns=_MEETING_COPY_COLUMNS,
            records=[(m.meeting_id, m.relationship_id, m.program_id, m.mentor_id, m.mentee_id, m.occurrence, m.start,
                      m.end, m.status, m.sequence, m.reason, m.cadence_days, m.place, m.location, m.organizer,
                      list(m.offered)) for m in meetings])
        # tstzrange(start, end): lower bound in, upper out, as asyncpg.Range has it by default.
        booked = [(m.meeting_id, person, asyncpg.Range(m.start, m.end)) for m in meetings if m.holds_time
                  for person in sorted(set(m.participant_ids))]
        if booked:
            await self.conn.copy_records_to_table(
                "bookings", columns=["meeting_id", "participant_id", "during"], records=booked)

    async def get(self, meeting_id: str, *, lock: bool = False) -> Meeting | None:
        row = await self.conn.fetchrow(
            f"SELECT {_MEETING_COLUMNS} FROM meetings WHERE meeting_id = $1" + (self.locks.row_clause() if lock else ""),
            meeting_id)
        return None if row is None else meeting_from_row(row)

    async def save(self, meeting: Meeting) -> None:
        await self.conn.execute(
            """UPDATE meetings SET starts_at = $2, ends_at = $3, status = $4, sequence = $5, reason = $6,
                                   offered = $7, updated_at = now()
               WHERE meeting_id = $1""",
            meeting.meeting_id, meeting.start, meeting.end, meeting.status, meeting.sequence, meeting.reason,
            list(meeting.offered),
        )
        await self._book(meeting)

    async def first_placed(self, relationship_id: str, cadence_days: int) -> Meeting | None:
        """The series' anchor for the cadence in force (`Series.aim`): the earliest occurrence that
        got a time, from the latest one placed at another cadence (or at one not known) on."""
        row = await self.conn.fetchrow(
            f"""SELECT {_MEETING_COLUMNS} FROM meetings
                WHERE relationship_id = $1 AND status <> 'unplaceable'
                  AND occurrence >= coalesce((SELECT max(occurrence) FROM meetings
                                              WHERE relationship_id = $1 AND status <> 'unplaceable'
                                                AND cadence_days IS DISTINCT FROM $2), 0)
                ORDER BY occurrence LIMIT 1""", relationship_id, cadence_days)
        return None if row is None else meeting_from_row(row)

    async def scheduled_after(self, relationship_id: str, moment: datetime, *, lock: bool = False) -> list[Meeting]:
        rows = await self.conn.fetch(
            f"""SELECT {_MEETING_COLUMNS} FROM meetings
                WHERE relationship_id = $1 AND status = 'scheduled' AND starts_at > $2 ORDER BY occurrence"""
            + (self.locks.row_clause() if lock else ""), relationship_id, moment)
        return [meeting_from_row(r) for r in rows]

    async def busy(self, participant_ids: tuple[str, ...] | list[str], lo: datetime, hi: datetime, *,
                   except_meeting: str | None = None) -> dict[str, list[Interval]]:
        """Each person's booked time overlapping [lo, hi), as epoch-second intervals.

        Read after `Locks.people` for the same people, or it may miss a booking being made.
        """
        rows = await self.conn.fetch(
            _BUSY, list(participant_ids), lo, hi, except_meeting,
        )
        found: dict[str, list[Interval]] = defaultdict(list)
        for r in rows:
            found[r["participant_id"]].append((to_epoch(r["starts_at"]), to_epoch(r["ends_at"])))
        return {pid: sorted(items) for pid, items in found.items()}

    async def busy_many(self, asks: Sequence[tuple[Sequence[str], datetime, datetime]]
                        ) -> list[dict[str, list[Interval]]]:
        """`busy(people, lo, hi)` for each ask, in one round trip: the same rows, by the same test."""
        index, people, los, his = [], [], [], []
        for i, (participant_ids, lo, hi) in enumerate(asks):
            for pid in participant_ids:
                index.append(i)
                people.append(pid)
                los.append(lo)
                his.append(hi)
        rows = await self.conn.fetch(
            _BUSY_MANY, index, people, los, his)
        found: list[defaultdict[str, list[Interval]]] = [defaultdict(list) for _ in asks]
        for r in rows:
            found[r["i"]][r["participant_id"]].append((to_epoch(r["starts_at"]), to_epoch(r["ends_at"])))
        return [{pid: sorted(items) for pid, items in each.items()} for each in found]

    async def _book(self, meeting: Meeting) -> None:
        if meeting.holds_time:
            await self.conn.execute(
                """INSERT INTO bookings (meeting_id, participant_id, during)
                   SELECT $1, person, tstzrange($3, $4) FROM unnest($2::text[]) AS person
                   ON CONFLICT (meeting_id, participant_id) DO UPDATE SET during = EXCLUDED.during
                   WHERE bookings.during IS DISTINCT FROM EXCLUDED.during""",
                meeting.meeting_id, sorted(set(meeting.participant_ids)), meeting.start, meeting.end,
            )
        else:
            await self.conn.execute("DELETE FROM bookings WHERE meeting_id = $1", meeting.meeting_id)


class AgreementRepository:
    """Each pair's mentoring agreement (domain/agreements.py): the latest recorded one."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record(self, agreement: Agreement) -> bool:
        """Keep it unless the pair's stored one was recorded at the same time or later; False then."""
        return await self.conn.fetchval(
            """INSERT INTO agreements (relationship_id, recorded_by, cadence_days, duration_minutes, place,
                                       place_details, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (relationship_id) DO UPDATE
                  SET recorded_by = EXCLUDED.recorded_by, cadence_days = EXCLUDED.cadence_days,
                      duration_minutes = EXCLUDED.duration_minutes, place = EXCLUDED.place,
                      place_details = EXCLUDED.place_details, recorded_at = EXCLUDED.recorded_at
                WHERE agreements.recorded_at < EXCLUDED.recorded_at
               RETURNING true""",
            agreement.relationship_id, agreement.recorded_by, agreement.cadence_days, agreement.duration_minutes,
            agreement.place, agreement.place_details, agreement.recorded_at,
        ) is not None

    async def get(self, relationship_id: str) -> Agreement | None:
        r = await self.conn.fetchrow(
            """SELECT relationship_id, recorded_by, cadence_days, duration_minutes, place, place_details, recorded_at
               FROM agreements WHERE relationship_id = $1""", relationship_id)
        return None if r is None else Agreement(r["relationship_id"], r["recorded_by"], r["cadence_days"],
                                                r["duration_minutes"], r["place"], r["place_details"],
                                                r["recorded_at"])

    async def get_many(self, relationship_ids: Sequence[str]) -> dict[str, Agreement]:
        rows = await self.conn.fetch(
            """SELECT relationship_id, recorded_by, cadence_days, duration_minutes, place, place_details, recorded_at
               FROM agreements WHERE relationship_id = ANY($1::text[])""", list(relationship_ids))
        return {r["relationship_id"]: Agreement(r["relationship_id"], r["recorded_by"], r["cadence_days"],
                                                r["duration_minutes"], r["place"], r["place_details"],
                                                r["recorded_at"]) for r in rows}

    async def forget_places(self, participant_id: str) -> None:
        """Drop where the pairs of a forgotten person meet (a room, an address, a number): from their
        agreements, and from their meetings other than by video."""
        await self.conn.execute(
            """UPDATE agreements a SET place_details = NULL FROM pairs p
               WHERE p.relationship_id = a.relationship_id AND $1 IN (p.mentor_id, p.mentee_id)
                 AND a.place_details IS NOT NULL""", participant_id)
        await self.conn.execute(
            """UPDATE meetings SET location = NULL
               WHERE $1 IN (mentor_id, mentee_id) AND place IS DISTINCT FROM 'video' AND location IS NOT NULL""",
            participant_id)


_REMINDER_COLUMNS = ("reminder_id, meeting_id, relationship_id, participant_ids, meeting_start, minutes_before, "
                     "due_at, status")


_REMINDER_COPY_COLUMNS = _REMINDER_COLUMNS.split(", ")


def reminder_from_row(r: asyncpg.Record) -> Reminder:
    return Reminder(reminder_id=r["reminder_id"], meeting_id=r["meeting_id"], relationship_id=r["relationship_id"],
                    participant_ids=tuple(r["participant_ids"]), meeting_start=r["meeting_start"],
                    minutes_before=r["minutes_before"], due_at=r["due_at"], status=r["status"])


class ReminderRepository:
    """Reminders are rows fired with FOR UPDATE SKIP LOCKED (service_layer/loops.py says why)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, reminders: list[Reminder]) -> None:
        if reminders:
            await self.conn.executemany(
                f"INSERT INTO reminders ({_REMINDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT DO NOTHING",
                [(r.reminder_id, r.meeting_id, r.relationship_id, list(r.participant_ids), r.meeting_start,
                  r.minutes_before, r.due_at, r.status) for r in reminders],
            )

    async def add_new(self, reminders: Sequence[Reminder]) -> None:
        """`add` for the reminders of meetings stored in this transaction, in one COPY (see
        `MeetingRepository.add_new`). No stored reminder can have their ids (each is made from its
        meeting's id, and the meetings are new); one id twice among them is kept once, as `add` does."""
        if not reminders:
            return
        rows: dict[str, tuple] = {}
        for r in reminders:
            rows.setdefault(r.reminder_id, (r.reminder_id, r.meeting_id, r.relationship_id, list(r.participant_ids),
                                            r.meeting_start, r.minutes_before, r.due_at, r.status))
        await self.conn.copy_records_to_table("reminders", columns=_REMINDER_COPY_COLUMNS, records=list(rows.values()))

    async def cancel_for(self, meeting_id: str) -> int:
        """Drop a meeting's pending reminders (it moved or was cancelled); returns how many."""
        done = await self.conn.execute(
            "UPDATE reminders SET status = 'cancelled' WHERE meeting_id = $1 AND status = 'pending'", meeting_id)
        return int(done.split()[-1])

    async def fire_due(self, now: datetime, limit: int) -> list[Reminder]:
        """Take due reminders (skipping rows another dispatcher holds) and mark them fired, or late when
        their meeting has already begun; the caller emits the events in the same transaction."""
        rows = await self.conn.fetch(
            f"""WITH due AS (
                    SELECT reminder_id FROM reminders WHERE status = 'pending' AND due_at <= $1
                    ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                UPDATE reminders r
                   SET status = CASE WHEN r.meeting_start <= $1 THEN 'late' ELSE 'fired' END, fired_at = $1
                  FROM due WHERE r.reminder_id = due.reminder_id
                RETURNING {", ".join("r." + c for c in _REMINDER_COLUMNS.split(", "))}""",
            now, limit,
        )
        return [reminder_from_row(r) for r in rows]

    async def next_due(self) -> datetime | None:
        return await self.conn.fetchval("SELECT min(due_at) FROM reminders WHERE status = 'pending'")
