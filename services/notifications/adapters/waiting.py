"""Mentees told that no mentor fits right now, on Postgres: one row per waiting stretch (migration 009)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg


class WaitingMentees:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def tell(self, mentee_id: str, program_id: str, *, cause_event_id: str, at: datetime) -> bool:
        """True when this stretch of waiting was not told yet (and now counts as told). A concurrent
        second one waits for the first's row and is then refused."""
        return (
            await self.conn.fetchval(
                "INSERT INTO waiting_mentees (mentee_id, program_id, cause_event_id, told_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT DO NOTHING RETURNING true",
                mentee_id,
                program_id,
                cause_event_id,
                at,
            )
            is not None
        )

    async def tell_many(self, rows: Sequence[tuple[str, str, str]], *, at: datetime) -> set[str]:
        """`tell` for many mentees at once, each (mentee, program, cause event) named once: those whose
        stretch of waiting was not told yet (and now counts as told)."""
        if not rows:
            return set()
        told = await self.conn.fetch(
            "INSERT INTO waiting_mentees (mentee_id, program_id, cause_event_id, told_at) "
            "SELECT u.mentee_id, u.program_id, u.cause_event_id, $4 "
            "FROM unnest($1::text[], $2::text[], $3::text[]) AS u(mentee_id, program_id, cause_event_id) "
            "ON CONFLICT DO NOTHING RETURNING mentee_id",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            at,
        )
        return {r["mentee_id"] for r in told}

    async def no_longer_waiting(self, mentee_ids: Sequence[str]) -> None:
        """A mentor was proposed to them or they were paired: their next stretch of waiting is told again."""
        await self.conn.execute("DELETE FROM waiting_mentees WHERE mentee_id = ANY($1::text[])", list(mentee_ids))
