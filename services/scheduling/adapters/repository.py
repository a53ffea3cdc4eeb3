"""SQL for the scheduling schema; functions take the caller's connection (and transaction)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import asyncpg

from shared.availability import to_epoch
from shared.contracts.profile import ParticipantProfile


async def upsert_profile(conn: asyncpg.Connection, profile: ParticipantProfile) -> None:
    await conn.execute(
        """INSERT INTO profiles (participant_id, profile, active, updated_at) VALUES ($1, $2, true, now())
           ON CONFLICT (participant_id) DO UPDATE SET profile = EXCLUDED.profile, active = true, updated_at = now()""",
        profile.participant_id, profile.model_dump(mode="json"),
    )


async def deactivate_profile(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute("UPDATE profiles SET active = false, updated_at = now() WHERE participant_id = $1", participant_id)


async def profiles(conn: asyncpg.Connection, ids: list[str]) -> dict[str, ParticipantProfile]:
    rows = await conn.fetch("SELECT participant_id, profile FROM profiles WHERE participant_id = ANY($1::text[])", ids)
    return {r["participant_id"]: ParticipantProfile.model_validate(r["profile"]) for r in rows}


async def add_relationship(conn: asyncpg.Connection, *, relationship_id: str, program_id: str, mentor_id: str,
                           mentee_id: str, cadence_days: int, duration_minutes: int, established_at: datetime) -> bool:
    return await conn.fetchval(
        """INSERT INTO relationships (relationship_id, program_id, mentor_id, mentee_id, cadence_days, duration_minutes,
                                      established_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true""",
        relationship_id, program_id, mentor_id, mentee_id, cadence_days, duration_minutes, established_at,
    ) is not None


async def relationship(conn: asyncpg.Connection, relationship_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM relationships WHERE relationship_id = $1" + (" FOR UPDATE" if lock else ""), relationship_id
    )


async def set_relationship_status(conn: asyncpg.Connection, relationship_id: str, status: str, reason: str) -> None:
    await conn.execute("UPDATE relationships SET status = $2, reason = $3 WHERE relationship_id = $1",
                       relationship_id, status, reason)


async def busy(conn: asyncpg.Connection, ids: list[str], lo: datetime, hi: datetime,
               *, except_meeting: str | None = None) -> dict[str, list[tuple[int, int]]]:
    """Each person's scheduled meetings overlapping [lo, hi), as epoch-second intervals."""
    rows = await conn.fetch(
        """SELECT mentor_id, mentee_id, starts_at, ends_at FROM meetings
           WHERE status = 'scheduled' AND (mentor_id = ANY($1::text[]) OR mentee_id = ANY($1::text[]))
             AND starts_at < $3 AND ends_at > $2 AND meeting_id IS DISTINCT FROM $4""",
        ids, lo, hi, except_meeting,
    )
    result: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        interval = (to_epoch(r["starts_at"]), to_epoch(r["ends_at"]))
        for pid in (r["mentor_id"], r["mentee_id"]):
            if pid in ids:
                result[pid].append(interval)
    return {pid: sorted(v) for pid, v in result.items()}


async def add_meeting(conn: asyncpg.Connection, *, meeting_id: str, relationship_id: str, occurrence: int,
                      mentor_id: str, mentee_id: str, start: datetime, end: datetime, status: str = "scheduled",
                      reason: str | None = None) -> bool:
    return await conn.fetchval(
        """INSERT INTO meetings (meeting_id, relationship_id, occurrence, mentor_id, mentee_id, starts_at, ends_at,
                                 status, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING true""",
        meeting_id, relationship_id, occurrence, mentor_id, mentee_id, start, end, status, reason,
    ) is not None


async def meeting(conn: asyncpg.Connection, meeting_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM meetings WHERE meeting_id = $1" + (" FOR UPDATE" if lock else ""),
                               meeting_id)


async def first_meeting(conn: asyncpg.Connection, relationship_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meetings WHERE relationship_id = $1 AND status <> 'unplaceable' ORDER BY occurrence LIMIT 1",
        relationship_id,
    )


async def last_meeting(conn: asyncpg.Connection, relationship_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meetings WHERE relationship_id = $1 ORDER BY occurrence DESC LIMIT 1", relationship_id
    )


async def move_meeting(conn: asyncpg.Connection, meeting_id: str, start: datetime, end: datetime) -> int:
    return await conn.fetchval(
        """UPDATE meetings SET starts_at = $2, ends_at = $3, sequence = sequence + 1, updated_at = now()
           WHERE meeting_id = $1 RETURNING sequence""",
        meeting_id, start, end,
    )


async def set_meeting_status(conn: asyncpg.Connection, meeting_id: str, status: str, reason: str | None = None,
                             *, bump_sequence: bool = False) -> int:
    return await conn.fetchval(
        f"""UPDATE meetings SET status = $2, reason = coalesce($3, reason), updated_at = now()
                {", sequence = sequence + 1" if bump_sequence else ""}
            WHERE meeting_id = $1 RETURNING sequence""",
        meeting_id, status, reason,
    )


async def future_meetings(conn: asyncpg.Connection, relationship_id: str, now: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM meetings WHERE relationship_id = $1 AND status = 'scheduled' AND starts_at > $2
           ORDER BY occurrence FOR UPDATE""",
        relationship_id, now,
    )


async def due_for_next(conn: asyncpg.Connection, now: datetime, max_occurrences: int, limit: int = 200) -> list[str]:
    """Active relationships whose latest occurrence's time has passed (held, missed, cancelled or
    unplaceable alike) and whose series is not complete: their next occurrence should be planned."""
    rows = await conn.fetch(
        """SELECT r.relationship_id FROM relationships r
           JOIN LATERAL (SELECT occurrence, ends_at FROM meetings m WHERE m.relationship_id = r.relationship_id
                         ORDER BY occurrence DESC LIMIT 1) last ON true
           WHERE r.status = 'active' AND last.occurrence < $2 AND last.ends_at <= $1
           LIMIT $3""",
        now, max_occurrences, limit,
    )
    return [r["relationship_id"] for r in rows]


# --- reminders ---------------------------------------------------------------------------------

async def add_reminders(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """rows: (reminder_id, meeting_id, relationship_id, participant_ids, meeting_start, minutes_before, due_at)."""
    if rows:
        await conn.executemany(
            """INSERT INTO reminders (reminder_id, meeting_id, relationship_id, participant_ids, meeting_start,
                                      minutes_before, due_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
            rows,
        )


async def cancel_reminders(conn: asyncpg.Connection, meeting_id: str) -> int:
    done = await conn.execute(
        "UPDATE reminders SET status = 'cancelled' WHERE meeting_id = $1 AND status = 'pending'", meeting_id
    )
    return int(done.split()[-1])


async def fire_due_reminders(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Take due reminders (skipping rows another dispatcher holds) and mark them fired, or late when
    their meeting has already begun; the caller emits the events in the same transaction."""
    return await conn.fetch(
        """WITH due AS (
               SELECT reminder_id FROM reminders WHERE status = 'pending' AND due_at <= $1
               ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           UPDATE reminders r
              SET status = CASE WHEN r.meeting_start <= $1 THEN 'late' ELSE 'fired' END, fired_at = $1
             FROM due WHERE r.reminder_id = due.reminder_id
           RETURNING r.reminder_id, r.meeting_id, r.relationship_id, r.participant_ids, r.meeting_start,
                     r.minutes_before, r.due_at, r.status""",
        now, limit,
    )


async def next_reminder_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM reminders WHERE status = 'pending'")


def reminder_rows(meeting_id: str, relationship_id: str, participant_ids: list[str], start: datetime,
                  offsets_minutes: list[int], sequence: int, now: datetime, make_id) -> list[tuple]:
    rows = []
    for minutes in offsets_minutes:
        due = start - timedelta(minutes=minutes)
        if due > now:  # a reminder whose moment has passed is not created
            rows.append((make_id(meeting_id, minutes, sequence), meeting_id, relationship_id, participant_ids, start,
                         minutes, due))
    return rows
