"""Check-ins on Postgres: each relationship's schedule, and the claims the check-in loop makes.

Every claim takes its rows and their pair with FOR UPDATE ... SKIP LOCKED, in the transaction that
acts on them: replicas share the work without ever taking the same row, the loop never waits for a
handler (handlers lock the pair first; the loop skips a pair a handler holds and takes it on its
next pass), and what it emits commits with the change, so each check-in is asked, reminded and
counted once. Only active relationships are claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.feedback.adapters.repository import REQUEST_COLUMNS, request_from_row
from services.feedback.domain.checkins import CheckinSchedule
from services.feedback.domain.model import FeedbackRequest

_OPEN_CHECKIN = "r.kind = 'checkin' AND r.answered_at IS NULL AND r.counted_at IS NULL"
_REQUEST_COLUMNS_OF_R = ", ".join(f"r.{c}" for c in REQUEST_COLUMNS.split(", "))


def _schedule(r: asyncpg.Record) -> CheckinSchedule:
    return CheckinSchedule(r["relationship_id"], r["established_at"], r["asked"], r["next_at"])


class CheckinRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def start(self, schedule: CheckinSchedule) -> None:
        await self.conn.execute(
            "INSERT INTO checkin_schedule (relationship_id, asked, next_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            schedule.relationship_id, schedule.asked, schedule.next_at)

    async def start_many(self, schedules: Sequence[CheckinSchedule]) -> None:
        """`start` for several relationships (each once), in one statement."""
        await self.conn.execute(
            "INSERT INTO checkin_schedule (relationship_id, asked, next_at) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
            [s.relationship_id for s in schedules], [s.asked for s in schedules], [s.next_at for s in schedules])

    async def save(self, schedule: CheckinSchedule) -> None:
        await self.conn.execute("UPDATE checkin_schedule SET asked = $2, next_at = $3 WHERE relationship_id = $1",
                                schedule.relationship_id, schedule.asked, schedule.next_at)

    async def of_program(self, program_id: str) -> list[CheckinSchedule]:
        """The schedules of a program's active relationships, locked (in one order) to be planned again."""
        rows = await self.conn.fetch(
            """SELECT s.relationship_id, p.established_at, s.asked, s.next_at
               FROM checkin_schedule s JOIN pairs p USING (relationship_id)
               WHERE p.program_id = $1 AND p.status = 'active' ORDER BY s.relationship_id FOR UPDATE OF s""",
            program_id)
        return [_schedule(r) for r in rows]

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[CheckinSchedule, str]]:
        """Schedules whose next check-in is due, with their program."""
        rows = await self.conn.fetch(
            """SELECT s.relationship_id, p.established_at, p.program_id, s.asked, s.next_at
               FROM checkin_schedule s JOIN pairs p USING (relationship_id)
               WHERE s.next_at <= $1 AND p.status = 'active'
               ORDER BY s.next_at LIMIT $2 FOR UPDATE OF s, p SKIP LOCKED""", now, limit)
        return [(_schedule(r), r["program_id"]) for r in rows]

    async def claim_to_remind(self, now: datetime, limit: int) -> list[FeedbackRequest]:
        """Check-ins fallen due unanswered and not reminded yet."""
        return await self._claim(f"{_OPEN_CHECKIN} AND r.reminded_at IS NULL", now, limit)

    async def claim_to_count(self, now: datetime, limit: int) -> list[FeedbackRequest]:
        """Reminded check-ins fallen due again, unanswered."""
        return await self._claim(f"{_OPEN_CHECKIN} AND r.reminded_at IS NOT NULL", now, limit)

    async def _claim(self, where: str, now: datetime, limit: int) -> list[FeedbackRequest]:
        rows = await self.conn.fetch(
            f"""SELECT {_REQUEST_COLUMNS_OF_R} FROM feedback_requests r JOIN pairs p USING (relationship_id)
                WHERE {where} AND r.due_at <= $1 AND p.status = 'active'
                ORDER BY r.due_at LIMIT $2 FOR UPDATE OF r, p SKIP LOCKED""", now, limit)
        return [request_from_row(r) for r in rows]

    async def next_due(self) -> datetime | None:
        """The next moment the loop has work: a check-in to ask, or one to remind or count."""
        return await self.conn.fetchval(
            f"""SELECT min(at) FROM (
                    SELECT min(s.next_at) AS at FROM checkin_schedule s JOIN pairs p USING (relationship_id)
                    WHERE s.next_at IS NOT NULL AND p.status = 'active'
                    UNION ALL
                    SELECT min(r.due_at) FROM feedback_requests r JOIN pairs p USING (relationship_id)
                    WHERE {_OPEN_CHECKIN} AND p.status = 'active') due""")
