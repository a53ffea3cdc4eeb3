"""Feedback's repositories on Postgres: domain objects in, domain objects out.

Each works on the caller's connection, inside its transaction (the unit of work). Check-ins and
their claims are in adapters/checkins.py.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.feedback.domain.attendance import Streak, trailing_misses
from services.feedback.domain.goals import Goal
from services.feedback.domain.health import Signals
from services.feedback.domain.model import (
    AgreedGoals,
    Feedback,
    FeedbackRequest,
    MeetingOutcome,
    Relationship,
)
from shared.contracts.types import Reason
from shared.errors import NotYetKnown
from shared.replica import PairDirectory


class RelationshipRepository:
    """Pairs (from the shared replica) with their goals (the mentee's agreement's, when they gave one)
    and health."""

    def __init__(self, conn: asyncpg.Connection, pairs: PairDirectory) -> None:
        self.conn = conn
        self.pairs = pairs

    async def get(self, relationship_id: str, *, lock: bool = False) -> Relationship | None:
        pair = await self.pairs.get(relationship_id, lock=lock)
        if pair is None:
            return None
        rows = await self.conn.fetch(
            "SELECT goal, progress, updated_at, achieved_at FROM goal_progress WHERE relationship_id = $1",
            relationship_id)
        recorded = {r["goal"]: Goal(r["goal"], r["progress"], r["updated_at"], r["achieved_at"]) for r in rows}
        row = await self.conn.fetchrow(
            "SELECT goals, participant_id, recorded_at FROM agreed_goals WHERE relationship_id = $1", relationship_id)
        agreed = None if row is None else AgreedGoals(tuple(row["goals"]), row["participant_id"], row["recorded_at"])
        health = await self.conn.fetchrow(
            "SELECT score, state, reasons, reason_codes FROM relationship_health WHERE relationship_id = $1",
            relationship_id)
        if health is None:
            return Relationship.of(pair, recorded, agreed)
        return Relationship.of(pair, recorded, agreed, health_state=health["state"], health_score=health["score"],
                               health_reasons=tuple(health["reasons"]),
                               health_codes=tuple(Reason.model_validate(c) for c in health["reason_codes"]))

    async def require(self, relationship_id: str, *, lock: bool = False) -> Relationship:
        found = await self.get(relationship_id, lock=lock)
        if found is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return found

    async def save(self, relationship: Relationship, *, at: datetime) -> None:
        """Its health, the goals the mentee agreed and the goals that changed (the pair itself is the replica's)."""
        if relationship.agreed_changed and relationship.agreed is not None:
            agreed = relationship.agreed
            await self.conn.execute(
                """INSERT INTO agreed_goals (relationship_id, goals, participant_id, recorded_at)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (relationship_id) DO UPDATE SET goals = $2, participant_id = $3, recorded_at = $4""",
                relationship.relationship_id, list(agreed.goals), agreed.participant_id, agreed.recorded_at)
        for goal in relationship.changed_goals:
            await self.conn.execute(
                """INSERT INTO goal_progress (relationship_id, goal, progress, updated_at, achieved_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (relationship_id, goal) DO UPDATE
                   SET progress = $3, updated_at = $4, achieved_at = $5""",
                relationship.relationship_id, goal.goal, goal.progress, goal.updated_at, goal.achieved_at)
        if relationship.health_state is None:
            return
        await self.conn.execute(
            """INSERT INTO relationship_health (relationship_id, score, state, reasons, reason_codes, assessed_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (relationship_id) DO UPDATE
               SET score = $2, state = $3, reasons = $4, reason_codes = $5, assessed_at = $6""",
            relationship.relationship_id, relationship.health_score, relationship.health_state,
            list(relationship.health_reasons), [c.model_dump() for c in relationship.health_codes], at,
        )

    async def signals(self, relationship_id: str, now: datetime) -> Signals:
        """What the pair does and says (the aggregate adds its goals and the time gone)."""
        outcomes = await self.conn.fetch(
            "SELECT meeting_id, held FROM meeting_outcomes WHERE relationship_id = $1 "
            "ORDER BY starts_at NULLS FIRST, recorded_at, meeting_id", relationship_id)
        rows = await self.conn.fetch(
            "SELECT rating, progress FROM feedback WHERE relationship_id = $1 ORDER BY submitted_at, feedback_id",
            relationship_id,
        )
        # Each person's latest answer on fit that says something ("unsure" does not).
        fit = await self.conn.fetch(
            """SELECT CASE WHEN f.participant_id = pa.mentor_id THEN 'mentor' ELSE 'mentee' END AS role
               FROM (SELECT DISTINCT ON (participant_id) participant_id, fit FROM feedback
                     WHERE relationship_id = $1 AND fit IN ('good', 'not_good')
                     ORDER BY participant_id, submitted_at DESC, feedback_id DESC) f
               JOIN pairs pa ON pa.relationship_id = $1
               WHERE f.fit = 'not_good' ORDER BY 1""", relationship_id)
        overdue = await self.conn.fetchrow(
            """SELECT count(*) FILTER (WHERE kind = 'meeting' AND due_at < $2) AS requests,
                      count(*) FILTER (WHERE kind = 'checkin' AND counted_at IS NOT NULL) AS checkins
               FROM feedback_requests WHERE relationship_id = $1 AND answered_at IS NULL""",
            relationship_id, now,
        )
        return Signals(
            ratings=tuple(r["rating"] for r in rows),
            progress=tuple(r["progress"] for r in rows if r["progress"] is not None),
            meetings_completed=sum(1 for o in outcomes if o["held"]),
            meetings_missed=sum(1 for o in outcomes if not o["held"]),
            missed_in_a_row=trailing_misses((o["meeting_id"], o["held"]) for o in outcomes).count,
            requests_overdue=overdue["requests"],
            checkins_overdue=overdue["checkins"],
            not_a_good_fit=tuple(r["role"] for r in fit),
        )


class OutcomeRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, outcome: MeetingOutcome) -> bool:
        """False when this meeting's outcome was already recorded."""
        return await self.conn.fetchval(
            """INSERT INTO meeting_outcomes (meeting_id, relationship_id, held, recorded_at, starts_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (meeting_id) DO NOTHING RETURNING true""",
            outcome.meeting_id, outcome.relationship_id, outcome.held, outcome.recorded_at, outcome.starts_at,
        ) is not None

    async def held(self, relationship_id: str) -> int:
        return await self.conn.fetchval(
            "SELECT count(*) FROM meeting_outcomes WHERE relationship_id = $1 AND held", relationship_id)

    async def streak(self, relationship_id: str) -> Streak:
        """The missed meetings in a row at the end, in meeting order."""
        rows = await self.conn.fetch(
            "SELECT meeting_id, held FROM meeting_outcomes WHERE relationship_id = $1 "
            "ORDER BY starts_at NULLS FIRST, recorded_at, meeting_id", relationship_id)
        return trailing_misses((r["meeting_id"], r["held"]) for r in rows)

    async def announce_streak(self, relationship_id: str, streak: Streak, at: datetime) -> bool:
        """Record that this streak was told; False when it had been already (one nudge per streak)."""
        return await self.conn.fetchval(
            """INSERT INTO missed_streaks (relationship_id, first_meeting_id, consecutive, announced_at)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            relationship_id, streak.first_meeting_id, streak.count, at,
        ) is not None


_REQUEST = ("request_id, relationship_id, participant_id, role, requested_at, due_at, kind, meeting_id, checkin, "
            "answered_at, reminded_at, counted_at")


def request_from_row(r: asyncpg.Record) -> FeedbackRequest:
    return FeedbackRequest(**{k: r[k] for k in _REQUEST.split(", ")})


class RequestRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, request: FeedbackRequest) -> bool:
        """False when this request was made before (the same meeting, check-in or end again)."""
        return await self.conn.fetchval(
            """INSERT INTO feedback_requests (request_id, relationship_id, participant_id, role, requested_at, due_at,
                                              kind, meeting_id, checkin, answered_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING true""",
            request.request_id, request.relationship_id, request.participant_id, request.role, request.requested_at,
            request.due_at, request.kind, request.meeting_id, request.checkin, request.answered_at,
        ) is not None

    async def get(self, request_id: str) -> FeedbackRequest | None:
        row = await self.conn.fetchrow(f"SELECT {_REQUEST} FROM feedback_requests WHERE request_id = $1", request_id)
        return None if row is None else request_from_row(row)

    async def save(self, request: FeedbackRequest) -> None:
        await self.conn.execute(
            "UPDATE feedback_requests SET due_at = $2, reminded_at = $3, counted_at = $4 WHERE request_id = $1",
            request.request_id, request.due_at, request.reminded_at, request.counted_at)


class FeedbackRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, feedback: Feedback) -> bool:
        """Store an answer and close the requests it answers; False when it was stored before.

        It answers the request it names; else every open request of its kind to this person in this
        relationship (about its meeting, when it names one)."""
        inserted = await self.conn.fetchval(
            """INSERT INTO feedback (feedback_id, relationship_id, participant_id, meeting_id, rating, progress,
                                     comment, goals_achieved, submitted_at, kind, request_id, fit)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING true""",
            feedback.feedback_id, feedback.relationship_id, feedback.participant_id, feedback.meeting_id,
            feedback.rating, feedback.progress, feedback.comment, list(feedback.goals_achieved), feedback.submitted_at,
            feedback.kind, feedback.request_id, feedback.fit,
        )
        if inserted is None:
            return False
        if feedback.request_id is not None:
            await self.conn.execute(
                "UPDATE feedback_requests SET answered_at = $2 WHERE request_id = $1 AND answered_at IS NULL",
                feedback.request_id, feedback.submitted_at)
        else:
            await self.conn.execute(
                """UPDATE feedback_requests SET answered_at = $3
                   WHERE relationship_id = $1 AND participant_id = $2 AND answered_at IS NULL AND kind = $5
                     AND ($4::text IS NULL OR meeting_id = $4)""",
                feedback.relationship_id, feedback.participant_id, feedback.submitted_at, feedback.meeting_id,
                feedback.kind,
            )
        return True

    async def answered_about(self, request: FeedbackRequest) -> datetime | None:
        """When this person first answered about the request's meeting, if they did before being asked."""
        if request.meeting_id is None:
            return None
        return await self.conn.fetchval(
            """SELECT min(submitted_at) FROM feedback
               WHERE relationship_id = $1 AND participant_id = $2 AND kind = 'meeting' AND meeting_id = $3""",
            request.relationship_id, request.participant_id, request.meeting_id)

    async def add_milestones(self, feedback: Feedback, goals: set[str]) -> list[str]:
        """The milestones in this feedback not reached before (`goals`: the relationship's goals)."""
        new = []
        for milestone in feedback.milestones:
            if await self.conn.fetchval(
                """INSERT INTO milestones (relationship_id, milestone, participant_id, achieved_at, goal)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
                feedback.relationship_id, milestone, feedback.participant_id, feedback.submitted_at,
                milestone if milestone in goals else None,
            ):
                new.append(milestone)
        return new

    async def question_fit(self, relationship_id: str, participant_id: str, at: datetime) -> bool:
        """Record that this person said it is not a good fit; False when they had said so before
        (relationship.fit.questioned is told once per relationship and person)."""
        return await self.conn.fetchval(
            """INSERT INTO fit_questions (relationship_id, participant_id, questioned_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""", relationship_id, participant_id, at,
        ) is not None

    async def milestones(self, relationship_id: str) -> list[str]:
        """Every milestone the relationship reached, in the order reached."""
        rows = await self.conn.fetch(
            "SELECT milestone FROM milestones WHERE relationship_id = $1 ORDER BY achieved_at, milestone",
            relationship_id)
        return [r["milestone"] for r in rows]


class ConclusionRepository:
    """What each relationship achieved when it ended (for the program team's dashboard)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, concluded, at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO conclusions (relationship_id, reason_code, meetings_held, term_served, certificate,
                                        concluded_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            concluded.relationship_id, concluded.reason_code, concluded.meetings_held, concluded.term_served,
            concluded.certificate, at)
