"""Feedback's repositories on Postgres: domain objects in, domain objects out.

Each works on the caller's connection, inside its transaction (the unit of work). Check-ins and
their claims are in adapters/checkins.py.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from shared.people import Pair
from shared.replica import PairDirectory

_SAVE_AGREED = """INSERT INTO agreed_goals (relationship_id, goals, participant_id, recorded_at)
                  VALUES ($1, $2, $3, $4)
                  ON CONFLICT (relationship_id) DO UPDATE SET goals = $2, participant_id = $3, recorded_at = $4"""
_SAVE_GOAL = """INSERT INTO goal_progress (relationship_id, goal, progress, updated_at, achieved_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (relationship_id, goal) DO UPDATE
                SET progress = $3, updated_at = $4, achieved_at = $5"""


def _relationship(pair: Pair, goals: Sequence[asyncpg.Record], agreed: asyncpg.Record | None,
                  health: asyncpg.Record | None) -> Relationship:
    """The aggregate from its rows: the pair, its goal progress, the goals agreed and the health."""
    recorded = {r["goal"]: Goal(r["goal"], r["progress"], r["updated_at"], r["achieved_at"]) for r in goals}
    agreed_goals = None if agreed is None or agreed["goals"] is None else \
        AgreedGoals(tuple(agreed["goals"]), agreed["participant_id"], agreed["recorded_at"])
    if health is None or health["state"] is None:
        return Relationship.of(pair, recorded, agreed_goals)
    return Relationship.of(pair, recorded, agreed_goals, health_state=health["state"], health_score=health["score"],
                           health_reasons=tuple(health["reasons"]),
                           health_codes=tuple(Reason.model_validate(c) for c in health["reason_codes"]))


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
        row = await self.conn.fetchrow(
            "SELECT goals, participant_id, recorded_at FROM agreed_goals WHERE relationship_id = $1", relationship_id)
        health = await self.conn.fetchrow(
            "SELECT score, state, reasons, reason_codes FROM relationship_health WHERE relationship_id = $1",
            relationship_id)
        return _relationship(pair, rows, row, health)

    async def require(self, relationship_id: str, *, lock: bool = False) -> Relationship:
        found = await self.get(relationship_id, lock=lock)
        if found is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return found

    async def save(self, relationship: Relationship, *, at: datetime) -> None:
        """Its health, the goals the mentee agreed and the goals that changed (the pair itself is the replica's)."""
        if relationship.agreed_changed and relationship.agreed is not None:
            agreed = relationship.agreed
            await self.conn.execute(_SAVE_AGREED, relationship.relationship_id, list(agreed.goals),
                                    agreed.participant_id, agreed.recorded_at)
        for goal in relationship.changed_goals:
            await self.conn.execute(_SAVE_GOAL, relationship.relationship_id, goal.goal, goal.progress,
                                    goal.updated_at, goal.achieved_at)
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


    # --- a wave of events at once (service_layer/waves.py): the same as the above, for many ---------

    async def require_many(self, relationship_ids: Sequence[str]) -> dict[str, Relationship]:
        """`require(id, lock=True)` for several relationships (each once), in three statements: their
        pairs locked in one order (so two waves cannot deadlock), then read (after the locks, as
        `get` reads them). NotYetKnown names the first not known here, in the order given."""
        ids = list(relationship_ids)
        pairs = await self.pairs.many(ids, lock=True)
        missing = next((i for i in ids if i not in pairs), None)
        if missing is not None:
            raise NotYetKnown(f"relationship {missing} not established here yet")
        goals: dict[str, list[asyncpg.Record]] = {}
        for r in await self.conn.fetch(
                "SELECT relationship_id, goal, progress, updated_at, achieved_at FROM goal_progress "
                "WHERE relationship_id = ANY($1::text[])", ids):
            goals.setdefault(r["relationship_id"], []).append(r)
        rows = await self.conn.fetch(
            """SELECT r.id, a.goals, a.participant_id, a.recorded_at, h.score, h.state, h.reasons, h.reason_codes
               FROM unnest($1::text[]) AS r(id)
               LEFT JOIN agreed_goals a ON a.relationship_id = r.id
               LEFT JOIN relationship_health h ON h.relationship_id = r.id""", ids)
        return {r["id"]: _relationship(pairs[r["id"]], goals.get(r["id"], ()), r, r) for r in rows}

    async def save_many(self, relationships: Sequence[Relationship], *, at: datetime) -> None:
        """`save` for several relationships (each once): at most one statement per table."""
        agreed = [(r.relationship_id, list(r.agreed.goals), r.agreed.participant_id, r.agreed.recorded_at)
                  for r in relationships if r.agreed_changed and r.agreed is not None]
        if agreed:
            await self.conn.executemany(_SAVE_AGREED, agreed)
        goals = [(r.relationship_id, g.goal, g.progress, g.updated_at, g.achieved_at)
                 for r in relationships for g in r.changed_goals]
        if goals:
            await self.conn.execute(
                """INSERT INTO goal_progress (relationship_id, goal, progress, updated_at, achieved_at)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[])
                   ON CONFLICT (relationship_id, goal) DO UPDATE
                   SET progress = EXCLUDED.progress, updated_at = EXCLUDED.updated_at,
                       achieved_at = EXCLUDED.achieved_at""",
                *(list(column) for column in zip(*goals, strict=True)))
        assessed = [r for r in relationships if r.health_state is not None]
        if not assessed:
            return
        # One row per relationship as JSON: its reasons are an array each, which unnest would flatten.
        await self.conn.execute(
            """INSERT INTO relationship_health (relationship_id, score, state, reasons, reason_codes, assessed_at)
               SELECT h.id, h.score, h.state,
                      ARRAY(SELECT e FROM jsonb_array_elements_text(h.reasons) WITH ORDINALITY AS t(e, n) ORDER BY n),
                      h.codes, $2
               FROM jsonb_to_recordset($1::jsonb) AS h(id text, score real, state text, reasons jsonb, codes jsonb)
               ON CONFLICT (relationship_id) DO UPDATE
               SET score = EXCLUDED.score, state = EXCLUDED.state, reasons = EXCLUDED.reasons,
                   reason_codes = EXCLUDED.reason_codes, assessed_at = EXCLUDED.assessed_at""",
            [{"id": r.relationship_id, "score": r.health_score, "state": r.health_state,
              "reasons": list(r.health_reasons), "codes": [c.model_dump() for c in r.health_codes]}
             for r in assessed], at)

    async def signals_many(self, relationship_ids: Sequence[str], now: datetime) -> dict[str, Signals]:
        """`signals` for several relationships, in one statement (the same reads, one row each)."""
        rows = await self.conn.fetch(
            """SELECT r.id,
                      ARRAY(SELECT o.meeting_id FROM meeting_outcomes o WHERE o.relationship_id = r.id
                            ORDER BY o.starts_at NULLS FIRST, o.recorded_at, o.meeting_id) AS meetings,
                      ARRAY(SELECT o.held FROM meeting_outcomes o WHERE o.relationship_id = r.id
                            ORDER BY o.starts_at NULLS FIRST, o.recorded_at, o.meeting_id) AS held,
                      ARRAY(SELECT f.rating FROM feedback f WHERE f.relationship_id = r.id
                            ORDER BY f.submitted_at, f.feedback_id) AS ratings,
                      ARRAY(SELECT f.progress FROM feedback f WHERE f.relationship_id = r.id
                            ORDER BY f.submitted_at, f.feedback_id) AS progress,
                      ARRAY(SELECT CASE WHEN f.participant_id = pa.mentor_id THEN 'mentor' ELSE 'mentee' END
                            FROM (SELECT DISTINCT ON (participant_id) participant_id, fit FROM feedback
                                  WHERE relationship_id = r.id AND fit IN ('good', 'not_good')
                                  ORDER BY participant_id, submitted_at DESC, feedback_id DESC) f
                            JOIN pairs pa ON pa.relationship_id = r.id
                            WHERE f.fit = 'not_good' ORDER BY 1) AS unfit,
                      (SELECT count(*) FROM feedback_requests q WHERE q.relationship_id = r.id
                       AND q.answered_at IS NULL AND q.kind = 'meeting' AND q.due_at < $2) AS requests_overdue,
                      (SELECT count(*) FROM feedback_requests q WHERE q.relationship_id = r.id
                       AND q.answered_at IS NULL AND q.kind = 'checkin' AND q.counted_at IS NOT NULL)
                       AS checkins_overdue
               FROM unnest($1::text[]) AS r(id)""", list(relationship_ids), now)
        return {r["id"]: Signals(
            ratings=tuple(r["ratings"]),
            progress=tuple(p for p in r["progress"] if p is not None),
            meetings_completed=sum(1 for held in r["held"] if held),
            meetings_missed=sum(1 for held in r["held"] if not held),
            missed_in_a_row=trailing_misses(zip(r["meetings"], r["held"], strict=True)).count,
            requests_overdue=r["requests_overdue"],
            checkins_overdue=r["checkins_overdue"],
            not_a_good_fit=tuple(r["unfit"]),
        ) for r in rows}


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

    async def add_many(self, outcomes: Sequence[MeetingOutcome]) -> set[str]:
        """`add` for several meetings (each once), in one statement: the meetings recorded now."""
        rows = await self.conn.fetch(
            """INSERT INTO meeting_outcomes (meeting_id, relationship_id, held, recorded_at, starts_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::timestamptz[])
               ON CONFLICT (meeting_id) DO NOTHING RETURNING meeting_id""",
            [o.meeting_id for o in outcomes], [o.relationship_id for o in outcomes], [o.held for o in outcomes],
            [o.recorded_at for o in outcomes], [o.starts_at for o in outcomes])
        return {r["meeting_id"] for r in rows}

    async def streaks_many(self, relationship_ids: Sequence[str]) -> dict[str, Streak]:
        """`streak` for several relationships, in one statement."""
        rows = await self.conn.fetch(
            """SELECT r.id,
                      ARRAY(SELECT o.meeting_id FROM meeting_outcomes o WHERE o.relationship_id = r.id
                            ORDER BY o.starts_at NULLS FIRST, o.recorded_at, o.meeting_id) AS meetings,
                      ARRAY(SELECT o.held FROM meeting_outcomes o WHERE o.relationship_id = r.id
                            ORDER BY o.starts_at NULLS FIRST, o.recorded_at, o.meeting_id) AS held
               FROM unnest($1::text[]) AS r(id)""", list(relationship_ids))
        return {r["id"]: trailing_misses(zip(r["meetings"], r["held"], strict=True)) for r in rows}

    async def announce_streaks(self, streaks: Sequence[tuple[str, Streak]], at: datetime) -> set[str]:
        """`announce_streak` for several relationships (each once), in one statement: those told now."""
        if not streaks:
            return set()
        rows = await self.conn.fetch(
            """INSERT INTO missed_streaks (relationship_id, first_meeting_id, consecutive, announced_at)
               SELECT r, m, c, $4 FROM unnest($1::text[], $2::text[], $3::int[]) AS s(r, m, c)
               ON CONFLICT DO NOTHING RETURNING relationship_id""",
            [r for r, _ in streaks], [s.first_meeting_id for _, s in streaks], [s.count for _, s in streaks], at)
        return {r["relationship_id"] for r in rows}

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


REQUEST_COLUMNS = ("request_id, relationship_id, participant_id, role, requested_at, due_at, kind, meeting_id, checkin, "
                   "answered_at, reminded_at, counted_at")


def request_from_row(r: asyncpg.Record) -> FeedbackRequest:
    return FeedbackRequest(**{k: r[k] for k in REQUEST_COLUMNS.split(", ")})


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

    async def add_many(self, requests: Sequence[FeedbackRequest]) -> set[str]:
        """`add` for several requests (each once), in one statement: the requests made now."""
        rows = await self.conn.fetch(
            """INSERT INTO feedback_requests (request_id, relationship_id, participant_id, role, requested_at, due_at,
                                              kind, meeting_id, checkin, answered_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                                    $6::timestamptz[], $7::text[], $8::text[], $9::int[], $10::timestamptz[])
               ON CONFLICT DO NOTHING RETURNING request_id""",
            *([getattr(r, column) for r in requests] for column in (
                "request_id", "relationship_id", "participant_id", "role", "requested_at", "due_at", "kind",
                "meeting_id", "checkin", "answered_at")))
        return {r["request_id"] for r in rows}

    async def get(self, request_id: str) -> FeedbackRequest | None:
        row = await self.conn.fetchrow(f"SELECT {REQUEST_COLUMNS} FROM feedback_requests WHERE request_id = $1", request_id)
        return None if row is None else request_from_row(row)

    async def get_many(self, request_ids: Sequence[str]) -> dict[str, FeedbackRequest]:
        """`get` for several requests, in one statement: those found, by id."""
        rows = await self.conn.fetch(
            f"SELECT {REQUEST_COLUMNS} FROM feedback_requests WHERE request_id = ANY($1::text[])", list(request_ids))
        return {r["request_id"]: request_from_row(r) for r in rows}

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

    async def add_many(self, feedbacks: Sequence[Feedback]) -> set[str]:
        """`add` for several answers (each once, each of another relationship): the answers stored
        now, and the requests they answer closed, in three statements."""
        rows = await self.conn.fetch(
            # One row per answer as JSON: its goals are an array each, which unnest would flatten.
            """INSERT INTO feedback (feedback_id, relationship_id, participant_id, meeting_id, rating, progress,
                                     comment, goals_achieved, submitted_at, kind, request_id, fit)
               SELECT f.feedback_id, f.relationship_id, f.participant_id, f.meeting_id, f.rating, f.progress,
                      f.comment,
                      ARRAY(SELECT e FROM jsonb_array_elements_text(f.goals) WITH ORDINALITY AS t(e, n) ORDER BY n),
                      f.submitted_at, f.kind, f.request_id, f.fit
               FROM jsonb_to_recordset($1::jsonb) AS f(feedback_id text, relationship_id text, participant_id text,
                    meeting_id text, rating int, progress int, comment text, goals jsonb, submitted_at timestamptz,
                    kind text, request_id text, fit text)
               ON CONFLICT DO NOTHING RETURNING feedback_id""",
            [{"feedback_id": f.feedback_id, "relationship_id": f.relationship_id, "participant_id": f.participant_id,
              "meeting_id": f.meeting_id, "rating": f.rating, "progress": f.progress, "comment": f.comment,
              "goals": list(f.goals_achieved), "submitted_at": f.submitted_at, "kind": f.kind,
              "request_id": f.request_id, "fit": f.fit}
             for f in feedbacks])
        stored = {r["feedback_id"] for r in rows}
        named = [f for f in feedbacks if f.feedback_id in stored and f.request_id is not None]
        if named:
            await self.conn.execute(
                """UPDATE feedback_requests r SET answered_at = u.at
                   FROM unnest($1::text[], $2::timestamptz[]) AS u(request_id, at)
                   WHERE r.request_id = u.request_id AND r.answered_at IS NULL""",
                [f.request_id for f in named], [f.submitted_at for f in named])
        unnamed = [f for f in feedbacks if f.feedback_id in stored and f.request_id is None]
        if unnamed:
            await self.conn.execute(
                """UPDATE feedback_requests r SET answered_at = u.at
                   FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
                        AS u(relationship_id, participant_id, at, meeting_id, kind)
                   WHERE r.relationship_id = u.relationship_id AND r.participant_id = u.participant_id
                     AND r.answered_at IS NULL AND r.kind = u.kind AND (u.meeting_id IS NULL OR r.meeting_id = u.meeting_id)""",
                [f.relationship_id for f in unnamed], [f.participant_id for f in unnamed],
                [f.submitted_at for f in unnamed], [f.meeting_id for f in unnamed], [f.kind for f in unnamed])
        return stored

    async def add_milestones_many(self, answers: Sequence[tuple[Feedback, set[str]]]) -> dict[str, list[str]]:
        """`add_milestones` for several answers (each of another relationship), in one statement:
        by feedback id, the milestones reached for the first time, in the answer's order."""
        rows = [(f.relationship_id, m, f.participant_id, f.submitted_at, m if m in goals else None)
                for f, goals in answers for m in f.milestones]
        new: set[tuple[str, str]] = set()
        if rows:
            new = {(r["relationship_id"], r["milestone"]) for r in await self.conn.fetch(
                """INSERT INTO milestones (relationship_id, milestone, participant_id, achieved_at, goal)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                   ON CONFLICT DO NOTHING RETURNING relationship_id, milestone""",
                *(list(column) for column in zip(*rows, strict=True)))}
        return {f.feedback_id: [m for m in f.milestones if (f.relationship_id, m) in new] for f, _ in answers}

    async def question_fit_many(self, questioned: Sequence[tuple[str, str]], at: datetime) -> set[tuple[str, str]]:
        """`question_fit` for several (relationship, person) pairs, in one statement: those told now."""
        if not questioned:
            return set()
        rows = await self.conn.fetch(
            """INSERT INTO fit_questions (relationship_id, participant_id, questioned_at)
               SELECT r, p, $3 FROM unnest($1::text[], $2::text[]) AS q(r, p)
               ON CONFLICT DO NOTHING RETURNING relationship_id, participant_id""",
            [r for r, _ in questioned], [p for _, p in questioned], at)
        return {(r["relationship_id"], r["participant_id"]) for r in rows}

    async def answered_about(self, request: FeedbackRequest) -> datetime | None:
        """When this person first answered about the request's meeting, if they did before being asked."""
        if request.meeting_id is None:
            return None
        return await self.conn.fetchval(
            """SELECT min(submitted_at) FROM feedback
               WHERE relationship_id = $1 AND participant_id = $2 AND kind = 'meeting' AND meeting_id = $3""",
            request.relationship_id, request.participant_id, request.meeting_id)

    async def answered_about_many(self, requests: Sequence[FeedbackRequest]) -> dict[str, datetime | None]:
        """`answered_about` for several requests, in one statement, by request id."""
        about = [r for r in requests if r.meeting_id is not None]
        answered: dict[str, datetime | None] = {r.request_id: None for r in requests}
        if not about:
            return answered
        rows = await self.conn.fetch(
            """SELECT q.request_id,
                      (SELECT min(f.submitted_at) FROM feedback f
                       WHERE f.relationship_id = q.relationship_id AND f.participant_id = q.participant_id
                         AND f.kind = 'meeting' AND f.meeting_id = q.meeting_id) AS answered_at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    AS q(request_id, relationship_id, participant_id, meeting_id)""",
            [r.request_id for r in about], [r.relationship_id for r in about], [r.participant_id for r in about],
            [r.meeting_id for r in about])
        answered.update((r["request_id"], r["answered_at"]) for r in rows)
        return answered

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
