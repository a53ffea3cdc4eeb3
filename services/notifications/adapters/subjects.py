"""What action links are about, on Postgres: proposals, meetings, feedback requests and agreements as
this service learns them from events, and the acts already done through a link (migration 006).

Works on the caller's connection, inside its transaction (the unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    expires_at: datetime
    status: str  # open | established | declined | expired

    @property
    def open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    relationship_id: str
    mentor_id: str
    mentee_id: str
    kind: str  # kickoff | recurring
    starts_at: datetime
    ends_at: datetime
    sequence: int
    alternatives: tuple[datetime, ...]
    place: str | None
    location: str | None
    status: str  # planned | cancelled | over (attendance recorded)

    def includes(self, participant_id: str) -> bool:
        return participant_id in (self.mentor_id, self.mentee_id)

    def other(self, participant_id: str) -> str:
        return self.mentee_id if participant_id == self.mentor_id else self.mentor_id


@dataclass(frozen=True)
class FeedbackRequest:
    request_id: str
    relationship_id: str
    participant_id: str
    kind: str  # meeting | checkin | closure
    meeting_id: str | None
    due_at: datetime


@dataclass(frozen=True)
class Agreement:
    relationship_id: str
    participant_id: str  # who answered last
    terms: dict  # cadence_days, duration_minutes, place, place_details, response_time_hours, goals, boundaries
    recorded_at: datetime


@dataclass(frozen=True)
class LinkAct:
    binding: str
    choice: str
    command_id: str
    done_at: datetime


_MEETING = ("meeting_id, relationship_id, mentor_id, mentee_id, kind, starts_at, ends_at, sequence, alternatives, "
            "place, location, status")


def _meeting(r: asyncpg.Record) -> Meeting:
    values = dict(r)
    values["alternatives"] = tuple(values["alternatives"])
    return Meeting(**values)


class SubjectRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- proposals -------------------------------------------------------------------------------

    async def add_proposal(self, p: Proposal) -> None:
        await self.conn.execute(
            """INSERT INTO proposals (proposal_id, program_id, mentor_id, mentee_id, expires_at, status)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (proposal_id) DO NOTHING""",
            p.proposal_id, p.program_id, p.mentor_id, p.mentee_id, p.expires_at, p.status)

    async def add_proposals(self, ps: Sequence[Proposal]) -> None:
        """`add_proposal` for many in one statement (the first of two with one id is kept)."""
        if not ps:
            return
        await self.conn.execute(
            """INSERT INTO proposals (proposal_id, program_id, mentor_id, mentee_id, expires_at, status)
               SELECT u.proposal_id, u.program_id, u.mentor_id, u.mentee_id, u.expires_at, u.status
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
                    WITH ORDINALITY AS u(proposal_id, program_id, mentor_id, mentee_id, expires_at, status, nth)
               ORDER BY u.nth ON CONFLICT (proposal_id) DO NOTHING""",
            [p.proposal_id for p in ps], [p.program_id for p in ps], [p.mentor_id for p in ps],
            [p.mentee_id for p in ps], [p.expires_at for p in ps], [p.status for p in ps])

    async def close_proposal(self, proposal_id: str, status: str) -> None:
        """An outcome matching published; an outcome for a proposal this service never saw changes nothing."""
        await self.conn.execute("UPDATE proposals SET status = $2 WHERE proposal_id = $1 AND status = 'open'",
                                proposal_id, status)

    async def proposal(self, proposal_id: str) -> Proposal | None:
        r = await self.conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1", proposal_id)
        return None if r is None else Proposal(**dict(r))

    # --- meetings --------------------------------------------------------------------------------

    async def save_meeting(self, m: Meeting) -> None:
        """The newest version of a meeting (a higher sequence) replaces an older one, never the reverse."""
        await self.conn.execute(
            """INSERT INTO meetings (meeting_id, relationship_id, mentor_id, mentee_id, kind, starts_at, ends_at,
                                     sequence, alternatives, place, location, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (meeting_id) DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                   sequence = EXCLUDED.sequence, alternatives = EXCLUDED.alternatives, place = EXCLUDED.place,
                   location = EXCLUDED.location, status = EXCLUDED.status
               WHERE meetings.sequence <= EXCLUDED.sequence""",
            m.meeting_id, m.relationship_id, m.mentor_id, m.mentee_id, m.kind, m.starts_at, m.ends_at, m.sequence,
            list(m.alternatives), m.place, m.location, m.status)

    async def save_meetings(self, ms: Sequence[Meeting]) -> None:
        """`save_meeting` for many in one statement; each meeting at most once (one row cannot be
        changed twice by one statement)."""
        if not ms:
            return
        await self.conn.execute(
            """INSERT INTO meetings (meeting_id, relationship_id, mentor_id, mentee_id, kind, starts_at, ends_at,
                                     sequence, alternatives, place, location, status)
               SELECT u.meeting_id, u.relationship_id, u.mentor_id, u.mentee_id, u.kind, u.starts_at, u.ends_at,
                      u.sequence,
                      ARRAY(SELECT a.at::timestamptz FROM jsonb_array_elements_text(u.alternatives::jsonb)
                            WITH ORDINALITY AS a(at, n) ORDER BY a.n),
                      u.place, u.location, u.status
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                           $7::timestamptz[], $8::int[], $9::text[], $10::text[], $11::text[], $12::text[])
                    AS u(meeting_id, relationship_id, mentor_id, mentee_id, kind, starts_at, ends_at, sequence,
                         alternatives, place, location, status)
               ON CONFLICT (meeting_id) DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                   sequence = EXCLUDED.sequence, alternatives = EXCLUDED.alternatives, place = EXCLUDED.place,
                   location = EXCLUDED.location, status = EXCLUDED.status
               WHERE meetings.sequence <= EXCLUDED.sequence""",
            [m.meeting_id for m in ms], [m.relationship_id for m in ms], [m.mentor_id for m in ms],
            [m.mentee_id for m in ms], [m.kind for m in ms], [m.starts_at for m in ms], [m.ends_at for m in ms],
            [m.sequence for m in ms], [orjson.dumps([t.isoformat() for t in m.alternatives]).decode() for m in ms],
            [m.place for m in ms], [m.location for m in ms], [m.status for m in ms])

    async def meeting(self, meeting_id: str) -> Meeting | None:
        r = await self.conn.fetchrow(f"SELECT {_MEETING} FROM meetings WHERE meeting_id = $1", meeting_id)
        return None if r is None else _meeting(r)

    async def next_meeting(self, relationship_id: str, after: datetime) -> Meeting | None:
        """The relationship's first planned meeting that starts after `after`."""
        r = await self.conn.fetchrow(
            f"""SELECT {_MEETING} FROM meetings WHERE relationship_id = $1 AND status = 'planned' AND starts_at > $2
                ORDER BY starts_at, meeting_id LIMIT 1""", relationship_id, after)
        return None if r is None else _meeting(r)

    async def meetings_to_ask_about(self, now: datetime, limit: int) -> list[Meeting]:
        """Planned meetings that are over and whose people were not asked yet, locked for this
        transaction (another replica skips them)."""
        rows = await self.conn.fetch(
            f"""SELECT {_MEETING} FROM meetings WHERE status = 'planned' AND NOT attendance_asked AND ends_at <= $1
                ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED""", now, limit)
        return [_meeting(r) for r in rows]

    async def meeting_over(self, meeting_id: str) -> None:
        """Its attendance is recorded (from a page, or a portal): nobody is asked about it any more."""
        await self.conn.execute("UPDATE meetings SET status = 'over', attendance_asked = true WHERE meeting_id = $1",
                                meeting_id)

    async def mark_asked(self, meeting_id: str) -> None:
        await self.conn.execute("UPDATE meetings SET attendance_asked = true WHERE meeting_id = $1", meeting_id)

    async def next_meeting_end(self) -> datetime | None:
        return await self.conn.fetchval(
            "SELECT min(ends_at) FROM meetings WHERE status = 'planned' AND NOT attendance_asked")

    # --- feedback requests -----------------------------------------------------------------------

    async def add_request(self, r: FeedbackRequest) -> None:
        await self.conn.execute(
            """INSERT INTO feedback_requests (request_id, relationship_id, participant_id, kind, meeting_id, due_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING""",
            r.request_id, r.relationship_id, r.participant_id, r.kind, r.meeting_id, r.due_at)

    async def add_requests(self, rs: Sequence[FeedbackRequest]) -> None:
        """`add_request` for many in one statement (the first of two with one id is kept)."""
        if not rs:
            return
        await self.conn.execute(
            """INSERT INTO feedback_requests (request_id, relationship_id, participant_id, kind, meeting_id, due_at)
               SELECT u.request_id, u.relationship_id, u.participant_id, u.kind, u.meeting_id, u.due_at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
                    WITH ORDINALITY AS u(request_id, relationship_id, participant_id, kind, meeting_id, due_at, nth)
               ORDER BY u.nth ON CONFLICT (request_id) DO NOTHING""",
            [r.request_id for r in rs], [r.relationship_id for r in rs], [r.participant_id for r in rs],
            [r.kind for r in rs], [r.meeting_id for r in rs], [r.due_at for r in rs])

    async def request(self, request_id: str) -> FeedbackRequest | None:
        r = await self.conn.fetchrow("SELECT * FROM feedback_requests WHERE request_id = $1", request_id)
        return None if r is None else FeedbackRequest(**dict(r))

    # --- agreements ------------------------------------------------------------------------------

    async def record_agreement(self, a: Agreement) -> None:
        """The latest answer of either person stands; an older one arriving later changes nothing."""
        await self.conn.execute(
            """INSERT INTO agreements (relationship_id, participant_id, terms, recorded_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (relationship_id) DO UPDATE SET participant_id = EXCLUDED.participant_id,
                   terms = EXCLUDED.terms, recorded_at = EXCLUDED.recorded_at
               WHERE agreements.recorded_at <= EXCLUDED.recorded_at""",
            a.relationship_id, a.participant_id, a.terms, a.recorded_at)

    async def agreement(self, relationship_id: str) -> Agreement | None:
        r = await self.conn.fetchrow("SELECT * FROM agreements WHERE relationship_id = $1", relationship_id)
        return None if r is None else Agreement(**dict(r))

    async def forget_agreements_of(self, participant_id: str) -> None:
        """An erased person's words (boundaries, place details, goals) go with them."""
        await self.conn.execute("DELETE FROM agreements WHERE participant_id = $1", participant_id)

    # --- acts done through links -----------------------------------------------------------------

    async def record_act(self, act: LinkAct) -> LinkAct | None:
        """None when recorded now; else the act done earlier under the same binding."""
        done = await self.conn.fetchval(
            "INSERT INTO link_acts (binding, choice, command_id, done_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (binding) DO NOTHING RETURNING true", act.binding, act.choice, act.command_id, act.done_at)
        if done:
            return None
        return await self.act(act.binding)

    async def act(self, binding: str) -> LinkAct | None:
        r = await self.conn.fetchrow("SELECT * FROM link_acts WHERE binding = $1", binding)
        return None if r is None else LinkAct(**dict(r))
