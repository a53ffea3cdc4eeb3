"""SQL for the feedback schema; every function works inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.feedback.domain.health import Signals


async def add_relationship(conn: asyncpg.Connection, *, relationship_id: str, program_id: str, mentor_id: str,
                           mentee_id: str, goals: list[str], established_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO relationships (relationship_id, program_id, mentor_id, mentee_id, goals, established_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relationship_id) DO NOTHING""",
        relationship_id, program_id, mentor_id, mentee_id, goals, established_at,
    )


async def get_relationship(conn: asyncpg.Connection, relationship_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT * FROM relationships WHERE relationship_id = $1" + (" FOR UPDATE" if lock else "")
    return await conn.fetchrow(sql, relationship_id)


async def end_relationship(conn: asyncpg.Connection, relationship_id: str, *, reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE relationships SET status = 'ended', ended_at = $2, end_reason = $3 WHERE relationship_id = $1",
        relationship_id, at, reason,
    )


async def record_meeting(conn: asyncpg.Connection, relationship_id: str, meeting_id: str, *, held: bool,
                         at: datetime) -> bool:
    """False when this meeting's outcome was already recorded."""
    inserted = await conn.fetchval(
        """INSERT INTO meeting_outcomes (meeting_id, relationship_id, held, recorded_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (meeting_id) DO NOTHING RETURNING 1""",
        meeting_id, relationship_id, held, at,
    )
    return inserted is not None


async def add_request(conn: asyncpg.Connection, *, request_id: str, relationship_id: str, meeting_id: str,
                      participant_id: str, role: str, requested_at: datetime, due_at: datetime) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO feedback_requests (request_id, relationship_id, meeting_id, participant_id, role, requested_at, due_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1""",
        request_id, relationship_id, meeting_id, participant_id, role, requested_at, due_at,
    )
    return inserted is not None


async def add_feedback(conn: asyncpg.Connection, *, feedback_id: str, relationship_id: str, participant_id: str,
                       meeting_id: str | None, rating: int, progress: int | None, comment: str | None,
                       goals_achieved: list[str], submitted_at: datetime) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO feedback (feedback_id, relationship_id, participant_id, meeting_id, rating, progress, comment,
                                 goals_achieved, submitted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING 1""",
        feedback_id, relationship_id, participant_id, meeting_id, rating, progress, comment, goals_achieved, submitted_at,
    )
    if inserted is not None:
        await conn.execute(
            """UPDATE feedback_requests SET answered_at = $3
               WHERE relationship_id = $1 AND participant_id = $2 AND answered_at IS NULL
                 AND ($4::text IS NULL OR meeting_id = $4)""",
            relationship_id, participant_id, submitted_at, meeting_id,
        )
    return inserted is not None


async def add_milestone(conn: asyncpg.Connection, *, relationship_id: str, milestone: str, participant_id: str,
                        at: datetime) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO milestones (relationship_id, milestone, participant_id, achieved_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1""",
        relationship_id, milestone, participant_id, at,
    )
    return inserted is not None


async def signals(conn: asyncpg.Connection, relationship_id: str, now: datetime) -> Signals:
    held = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE held) AS completed, count(*) FILTER (WHERE NOT held) AS missed "
        "FROM meeting_outcomes WHERE relationship_id = $1", relationship_id,
    )
    rows = await conn.fetch(
        "SELECT rating, progress FROM feedback WHERE relationship_id = $1 ORDER BY submitted_at, feedback_id",
        relationship_id,
    )
    overdue = await conn.fetchval(
        "SELECT count(*) FROM feedback_requests WHERE relationship_id = $1 AND answered_at IS NULL AND due_at < $2",
        relationship_id, now,
    )
    return Signals(
        ratings=tuple(r["rating"] for r in rows),
        progress=tuple(r["progress"] for r in rows if r["progress"] is not None),
        meetings_completed=held["completed"],
        meetings_missed=held["missed"],
        requests_overdue=overdue,
    )


async def save_health(conn: asyncpg.Connection, relationship_id: str, *, score: float, state: str) -> None:
    await conn.execute(
        "UPDATE relationships SET health_score = $2, health_state = $3 WHERE relationship_id = $1",
        relationship_id, score, state,
    )
