"""SQL for the matching schema; functions take the caller's connection (and transaction)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import asyncpg

from shared.contracts.profile import ParticipantProfile


async def lock_program(conn: asyncpg.Connection, program_id: str) -> None:
    """Matching decisions of one program happen one at a time, so capacity is never oversold."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('tandem.matching.' || $1))", program_id)


async def upsert_participant(conn: asyncpg.Connection, profile: ParticipantProfile) -> None:
    await conn.execute(
        """INSERT INTO participants (participant_id, program_id, profile, active, updated_at) VALUES ($1, $2, $3, true, now())
           ON CONFLICT (participant_id) DO UPDATE
             SET program_id = EXCLUDED.program_id, profile = EXCLUDED.profile, active = true, updated_at = now()""",
        profile.participant_id, profile.program_id, profile.model_dump(mode="json"),
    )


async def deactivate_participant(conn: asyncpg.Connection, participant_id: str) -> bool:
    return await conn.fetchval(
        "UPDATE participants SET active = false, updated_at = now() WHERE participant_id = $1 AND active RETURNING true",
        participant_id,
    ) is not None


async def participant(conn: asyncpg.Connection, participant_id: str) -> tuple[ParticipantProfile, bool] | None:
    row = await conn.fetchrow("SELECT profile, active FROM participants WHERE participant_id = $1", participant_id)
    return None if row is None else (ParticipantProfile.model_validate(row["profile"]), row["active"])


async def all_participants(conn: asyncpg.Connection) -> list[ParticipantProfile]:
    rows = await conn.fetch("SELECT profile FROM participants WHERE active")
    return [ParticipantProfile.model_validate(r["profile"]) for r in rows]


async def program_participants(conn: asyncpg.Connection, program_id: str) -> list[ParticipantProfile]:
    rows = await conn.fetch("SELECT profile FROM participants WHERE active AND program_id = $1", program_id)
    return [ParticipantProfile.model_validate(r["profile"]) for r in rows]


async def mentor_loads(conn: asyncpg.Connection, mentor_ids: list[str] | None = None) -> Counter:
    """Mentees each mentor holds: active relationships plus proposals awaiting an answer."""
    rows = await conn.fetch(
        """SELECT mentor_id, count(*) AS n FROM (
               SELECT mentor_id FROM relationships WHERE status = 'active'
               UNION ALL SELECT mentor_id FROM proposals WHERE status = 'pending') held
           WHERE $1::text[] IS NULL OR mentor_id = ANY($1::text[])
           GROUP BY mentor_id""",
        mentor_ids,
    )
    return Counter({r["mentor_id"]: r["n"] for r in rows})


async def mentee_engagements(conn: asyncpg.Connection, mentee_id: str) -> tuple[int, int]:
    """(active relationships, pending proposals) of a mentee."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM relationships WHERE mentee_id = $1 AND status = 'active') AS active,
                  (SELECT count(*) FROM proposals WHERE mentee_id = $1 AND status = 'pending') AS pending""",
        mentee_id,
    )
    return row["active"], row["pending"]


async def busy_mentees(conn: asyncpg.Connection, program_id: str, max_matches: int) -> set[str]:
    """Mentees with a pending proposal or with as many active relationships as the program allows."""
    rows = await conn.fetch(
        """SELECT mentee_id FROM proposals WHERE program_id = $1 AND status = 'pending'
           UNION
           SELECT mentee_id FROM relationships WHERE program_id = $1 AND status = 'active'
           GROUP BY mentee_id HAVING count(*) >= $2""",
        program_id, max_matches,
    )
    return {r["mentee_id"] for r in rows}


async def excluded_mentors(conn: asyncpg.Connection, mentee_id: str) -> set[str]:
    """Mentors never to propose to this mentee again: past relationships, declined or expired proposals,
    and current partners."""
    rows = await conn.fetch(
        """SELECT mentor_id FROM relationships WHERE mentee_id = $1
           UNION SELECT mentor_id FROM proposals WHERE mentee_id = $1 AND status IN ('declined', 'expired', 'pending')""",
        mentee_id,
    )
    return {r["mentor_id"] for r in rows}


async def excluded_pairs(conn: asyncpg.Connection, program_id: str) -> set[tuple[str, str]]:
    rows = await conn.fetch(
        """SELECT mentee_id, mentor_id FROM relationships WHERE program_id = $1
           UNION SELECT mentee_id, mentor_id FROM proposals WHERE program_id = $1 AND status IN ('declined', 'expired')""",
        program_id,
    )
    return {(r["mentee_id"], r["mentor_id"]) for r in rows}


async def add_proposals(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """rows: (proposal_id, program_id, mentee_id, mentor_id, score, explanation, round_id, created_at, expires_at)."""
    await conn.executemany(
        """INSERT INTO proposals (proposal_id, program_id, mentee_id, mentor_id, score, explanation, round_id,
                                  created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        rows,
    )


async def proposal(conn: asyncpg.Connection, proposal_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1" + (" FOR UPDATE" if lock else ""),
                               proposal_id)


async def close_proposal(conn: asyncpg.Connection, proposal_id: str, status: str, at: datetime,
                         reason: str | None = None) -> bool:
    return await conn.fetchval(
        """UPDATE proposals SET status = $2, closed_at = $3, close_reason = $4
           WHERE proposal_id = $1 AND status = 'pending' RETURNING true""",
        proposal_id, status, at, reason,
    ) is not None


async def expired_proposals(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM proposals WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        now, limit,
    )


async def next_expiry(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(expires_at) FROM proposals WHERE status = 'pending'")


async def pending_of(conn: asyncpg.Connection, participant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM proposals WHERE status = 'pending' AND (mentor_id = $1 OR mentee_id = $1) FOR UPDATE",
        participant_id,
    )


async def add_relationship(conn: asyncpg.Connection, *, relationship_id: str, proposal: asyncpg.Record,
                           at: datetime) -> None:
    await conn.execute(
        """INSERT INTO relationships (relationship_id, proposal_id, program_id, mentee_id, mentor_id, established_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        relationship_id, proposal["proposal_id"], proposal["program_id"], proposal["mentee_id"],
        proposal["mentor_id"], at,
    )


async def active_relationships_of(conn: asyncpg.Connection, participant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM relationships WHERE status = 'active' AND (mentor_id = $1 OR mentee_id = $1) FOR UPDATE""",
        participant_id,
    )


async def end_relationship(conn: asyncpg.Connection, relationship_id: str, at: datetime, reason: str) -> bool:
    return await conn.fetchval(
        """UPDATE relationships SET status = 'ended', ended_at = $2, end_reason = $3
           WHERE relationship_id = $1 AND status = 'active' RETURNING true""",
        relationship_id, at, reason,
    ) is not None
