"""SQL for the notifications schema; functions take the caller's connection (and transaction)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.notifications.domain.compose import Recipient
from shared.contracts.profile import ParticipantProfile


async def upsert_recipient(conn: asyncpg.Connection, p: ParticipantProfile) -> None:
    quiet = p.communication.quiet_hours
    await conn.execute(
        """INSERT INTO recipients (participant_id, program_id, name, email, locale, timezone, languages, channel, style,
                                   quiet_start, quiet_end, webhook_url, response_time_hours, profile, active, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, true, now())
           ON CONFLICT (participant_id) DO UPDATE SET
             program_id = EXCLUDED.program_id, name = EXCLUDED.name, email = EXCLUDED.email, locale = EXCLUDED.locale,
             timezone = EXCLUDED.timezone, languages = EXCLUDED.languages, channel = EXCLUDED.channel,
             style = EXCLUDED.style, quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
             webhook_url = EXCLUDED.webhook_url, response_time_hours = EXCLUDED.response_time_hours,
             profile = EXCLUDED.profile, active = true, updated_at = now()""",
        p.participant_id, p.program_id, p.name, p.email, p.locale, p.timezone, list(p.languages),
        p.communication.channel, p.communication.style, quiet.start if quiet else None, quiet.end if quiet else None,
        p.communication.webhook_url, p.communication.response_time_hours, p.model_dump(mode="json"),
    )


async def deactivate_recipient(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute("UPDATE recipients SET active = false, updated_at = now() WHERE participant_id = $1", participant_id)


async def recipients(conn: asyncpg.Connection, ids: list[str]) -> dict[str, tuple[Recipient, dict, bool]]:
    rows = await conn.fetch("SELECT * FROM recipients WHERE participant_id = ANY($1::text[])", ids)
    return {
        r["participant_id"]: (
            Recipient(
                participant_id=r["participant_id"], name=r["name"], email=r["email"], locale=r["locale"],
                timezone=r["timezone"], channel=r["channel"], style=r["style"], quiet_start=r["quiet_start"],
                quiet_end=r["quiet_end"], webhook_url=r["webhook_url"], languages=tuple(r["languages"]),
                response_time_hours=r["response_time_hours"],
            ),
            r["profile"],
            r["active"],
        )
        for r in rows
    }


async def add_relationship(conn: asyncpg.Connection, relationship_id: str, mentor_id: str, mentee_id: str) -> None:
    await conn.execute(
        "INSERT INTO relationships VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", relationship_id, mentor_id, mentee_id
    )


async def relationship(conn: asyncpg.Connection, relationship_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM relationships WHERE relationship_id = $1", relationship_id)


async def add_delivery(conn: asyncpg.Connection, *, delivery_id: str, recipient_id: str, channel: str, template: str,
                       language: str, cause_event_id: str, cause_type: str, address: str, subject: str, body: str,
                       attachment: dict | None, not_before: datetime) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO deliveries (delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type,
                                   address, subject, body, attachment, not_before)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING 1""",
        delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type, address, subject, body,
        attachment, not_before,
    )
    return inserted is not None


async def due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[str]:
    return [r["delivery_id"] for r in await conn.fetch(
        "SELECT delivery_id FROM deliveries WHERE status = 'pending' AND not_before <= $1 ORDER BY not_before LIMIT $2",
        now, limit,
    )]


async def claim(conn: asyncpg.Connection, delivery_id: str) -> asyncpg.Record | None:
    """Mark one delivery as being sent, committed before the send, so a crash cannot send it twice.

    One at a time: a crash can then leave at most the message in flight undecided.
    """
    return await conn.fetchrow(
        """UPDATE deliveries SET status = 'sending', claimed_at = now(), attempts = attempts + 1
           WHERE delivery_id = $1 AND status = 'pending' RETURNING *""",
        delivery_id,
    )


async def mark_delivered(conn: asyncpg.Connection, delivery_id: str, at: datetime) -> bool:
    """Only a delivery being sent can become delivered; False if another process recorded it first."""
    return await conn.fetchval(
        """UPDATE deliveries SET status = 'delivered', delivered_at = $2, last_error = NULL
           WHERE delivery_id = $1 AND status = 'sending' RETURNING true""",
        delivery_id, at,
    ) is not None


async def mark_retry(conn: asyncpg.Connection, delivery_id: str, error: str, not_before: datetime) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', last_error = $2, not_before = $3 WHERE delivery_id = $1",
        delivery_id, error, not_before,
    )


async def mark_failed(conn: asyncpg.Connection, delivery_id: str, error: str) -> bool:
    return await conn.fetchval(
        "UPDATE deliveries SET status = 'failed', last_error = $2 WHERE delivery_id = $1 AND status = 'sending' "
        "RETURNING true",
        delivery_id, error,
    ) is not None


async def interrupted(conn: asyncpg.Connection, lease_seconds: float) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM deliveries WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1)
""",
        lease_seconds,
    )


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(not_before) FROM deliveries WHERE status = 'pending'")
