"""Matching's repositories on Postgres: domain objects in, domain objects out.

Each works on the caller's connection, inside its transaction (the unit of work). Matching decisions
of one program happen one at a time under the program's lock (`ProgramRepository.lock`), so a
mentor's capacity is never oversold, whichever replica decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.matching.domain.model import KeptApart, Proposal, Relationship
from shared.retry import InfrastructureUnavailable

_PROPOSAL = ("proposal_id, program_id, mentee_id, mentor_id, score, explanation, created_at, expires_at, round_id, "
             "status, closed_at, close_reason")
_RELATIONSHIP = ("relationship_id, proposal_id, program_id, mentee_id, mentor_id, established_at, status, ended_at, "
                 "end_reason, end_notice_at")


def _proposal(r: asyncpg.Record) -> Proposal:
    return Proposal(**{k: r[k] for k in _PROPOSAL.split(", ")})


def _relationship(r: asyncpg.Record) -> Relationship:
    return Relationship(**{k: r[k] for k in _RELATIONSHIP.split(", ")})


class ProgramBusy(InfrastructureUnavailable):
    """A later event of a batch found its program locked by another transaction (see `lock`)."""


class ProgramRepository:
    """The program lock and the version stamps that keep every replica's index current.

    A transaction says which people's index rows it changed (`touch`) as it goes; the stamp is
    written once per program when it commits (`stamp`, called by the unit of work), not after each
    event of a batch.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.touched: dict[str, set[str]] = {}  # program -> people whose index rows this transaction changed
        self.unapplied: dict[str, set[str]] = {}  # of those, the ones this process's index does not show yet
        self.stamped: dict[str, int] = {}  # program -> the version this transaction stamped it with
        self._held: set[str] = set()

    async def lock(self, *program_ids: str) -> None:
        """Matching decisions of a program happen one at a time, whichever replica decides.

        On-demand requests and profile stamps reach one consumer per program (match-work.v1 is keyed
        by program), so this lock is only waited on when that consumer's partitions move to another
        replica, or when an answer, a departure or a loop of the same program is applied elsewhere.

        Two transactions must never wait for each other's programs in opposite orders. The consumer
        applies a batch of events in one transaction, each event locking its own program in turn, so
        only the first lock of a transaction may wait (in sorted order when it takes several); a
        later one is only tried, and when it is busy the batch fails with a passing infrastructure
        error and the consumer applies its events one per transaction, where waiting is safe.
        """
        wanted = sorted(set(program_ids) - self._held)
        if not wanted:
            return
        may_wait = not self._held
        for program_id in wanted:
            if may_wait:
                await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext('tandem.matching.' || $1))", program_id)
            elif not await self.conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('tandem.matching.' || $1))",
                                              program_id):
                raise ProgramBusy(f"program {program_id} is being matched by another transaction")
            self._held.add(program_id)

    async def version(self, program_id: str) -> int:
        return await self.conn.fetchval("SELECT version FROM program_versions WHERE program_id = $1", program_id) or 0

    def touch(self, program_id: str, participant_ids: Iterable[str], *, applied: bool = False) -> None:
        """Say that these people's index rows (profile or load) changed; `applied` when the caller
        has already changed this process's index to match. Stamped at commit (`stamp`)."""
        ids = set(participant_ids)
        if not ids:
            return
        self.touched.setdefault(program_id, set()).update(ids)
        if not applied:
            self.unapplied.setdefault(program_id, set()).update(ids)

    async def stamp(self) -> dict[str, int]:
        """Stamp every program this transaction touched with a new version, under its lock: one
        statement for the versions and one for the people, whatever the number of events. Whoever
        touches a program holds its lock already (taken in the handler, so a busy one fails that
        event, not the commit of the whole batch)."""
        if not self.touched:
            return {}
        programs = sorted(self.touched)
        unlocked = set(programs) - self._held
        if unlocked:
            raise RuntimeError(f"index changes of {sorted(unlocked)} without their program lock")
        rows = await self.conn.fetch(
            """INSERT INTO program_versions (program_id, version) SELECT p, nextval('index_version') FROM unnest($1::text[]) p
               ON CONFLICT (program_id) DO UPDATE SET version = EXCLUDED.version RETURNING program_id, version""",
            programs)
        self.stamped = {r["program_id"]: r["version"] for r in rows}
        pairs = [(p, pid) for p in programs for pid in sorted(self.touched[p])]
        await self.conn.execute(
            """INSERT INTO index_changes (program_id, participant_id, version)
               SELECT c.program_id, c.participant_id, v.version
               FROM unnest($1::text[], $2::text[]) AS c (program_id, participant_id)
               JOIN unnest($3::text[], $4::bigint[]) AS v (program_id, version) USING (program_id)
               ON CONFLICT (program_id, participant_id) DO UPDATE SET version = EXCLUDED.version""",
            [p for p, _ in pairs], [pid for _, pid in pairs], list(self.stamped), list(self.stamped.values()))
        return self.stamped

    async def changed_since(self, program_id: str, version: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT participant_id FROM index_changes WHERE program_id = $1 AND version > $2", program_id, version)
        return [r["participant_id"] for r in rows]


class ProposalRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, proposals: list[Proposal]) -> None:
        if proposals:
            await self.conn.executemany(
                f"INSERT INTO proposals ({_PROPOSAL}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                [tuple(getattr(p, k) for k in _PROPOSAL.split(", ")) for p in proposals],
            )

    async def add_within_capacity(self, proposal: Proposal) -> bool:
        """Add an on-demand proposal only if its mentor, an active mentor of its program, still has a free
        place by the record (active relationships plus pending proposals): the record has the last
        word on capacity, in the same statement. False when it did not."""
        return await self.conn.fetchval(
            f"""INSERT INTO proposals ({_PROPOSAL})
                SELECT $1, $2, $3, $4, $5::double precision, $6::jsonb, $7::timestamptz, $8::timestamptz, $9,
                       $10, $11::timestamptz, $12
                WHERE (SELECT count(*) FROM relationships WHERE mentor_id = $4 AND status = 'active')
                    + (SELECT count(*) FROM proposals WHERE mentor_id = $4 AND status = 'pending')
                    < (SELECT mentor_capacity FROM participants
                       WHERE participant_id = $4 AND program_id = $2 AND active AND NOT erased
                         AND 'mentor' = ANY(roles))
                RETURNING true""",
            *(getattr(proposal, k) for k in _PROPOSAL.split(", ")),
        ) is not None

    async def get(self, proposal_id: str, *, lock: bool = False) -> Proposal | None:
        row = await self.conn.fetchrow(
            f"SELECT {_PROPOSAL} FROM proposals WHERE proposal_id = $1" + (" FOR UPDATE" if lock else ""), proposal_id)
        return None if row is None else _proposal(row)

    async def save(self, proposal: Proposal) -> None:
        await self.conn.execute(
            "UPDATE proposals SET status = $2, closed_at = $3, close_reason = $4 WHERE proposal_id = $1",
            proposal.proposal_id, proposal.status, proposal.closed_at, proposal.close_reason,
        )

    async def due_to_expire(self, now: datetime, limit: int = 200) -> list[Proposal]:
        rows = await self.conn.fetch(
            f"SELECT {_PROPOSAL} FROM proposals WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            now, limit,
        )
        return [_proposal(r) for r in rows]

    async def next_expiry(self) -> datetime | None:
        return await self.conn.fetchval("SELECT min(expires_at) FROM proposals WHERE status = 'pending'")

    async def pending_of(self, participant_id: str) -> list[Proposal]:
        rows = await self.conn.fetch(
            f"SELECT {_PROPOSAL} FROM proposals WHERE status = 'pending' AND (mentor_id = $1 OR mentee_id = $1) "
            "ORDER BY created_at, proposal_id FOR UPDATE", participant_id,
        )
        return [_proposal(r) for r in rows]


class RelationshipRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, relationship: Relationship) -> None:
        await self.conn.execute(
            f"INSERT INTO relationships ({_RELATIONSHIP}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            *(getattr(relationship, k) for k in _RELATIONSHIP.split(", ")),
        )

    async def get(self, relationship_id: str, *, lock: bool = False) -> Relationship | None:
        row = await self.conn.fetchrow(
            f"SELECT {_RELATIONSHIP} FROM relationships WHERE relationship_id = $1" + (" FOR UPDATE" if lock else ""),
            relationship_id,
        )
        return None if row is None else _relationship(row)

    async def active_of(self, participant_id: str) -> list[Relationship]:
        rows = await self.conn.fetch(
            f"SELECT {_RELATIONSHIP} FROM relationships WHERE status = 'active' AND (mentor_id = $1 OR mentee_id = $1) "
            "ORDER BY established_at, relationship_id FOR UPDATE", participant_id,
        )
        return [_relationship(r) for r in rows]

    async def save(self, relationship: Relationship) -> None:
        await self.conn.execute(
            "UPDATE relationships SET status = $2, ended_at = $3, end_reason = $4, end_notice_at = $5 "
            "WHERE relationship_id = $1",
            relationship.relationship_id, relationship.status, relationship.ended_at, relationship.end_reason,
            relationship.end_notice_at,
        )

    # The next term task of each active relationship, with its program's term in force (the
    # deployment's default when the program has none): the heads-up until it is sent, then the end.
    _TERM_TASKS = """
        SELECT r.relationship_id, r.program_id,
               r.established_at + make_interval(days => coalesce(p.term_days, $1::int))
                   - CASE WHEN r.end_notice_at IS NULL THEN $2::interval ELSE interval '0' END AS due_at
        FROM relationships r LEFT JOIN programs p ON p.program_id = r.program_id
        WHERE r.status = 'active'"""

    async def term_tasks_due(self, now: datetime, *, default_term_days: int, notice: timedelta,
                             limit: int = 200) -> list[tuple[str, str]]:
        """(relationship_id, program_id) whose term's heads-up or end is due."""
        rows = await self.conn.fetch(
            f"SELECT relationship_id, program_id FROM ({self._TERM_TASKS}) t WHERE due_at <= $3 "
            "ORDER BY due_at, relationship_id LIMIT $4", default_term_days, notice, now, limit)
        return [(r["relationship_id"], r["program_id"]) for r in rows]

    async def next_term_task(self, *, default_term_days: int, notice: timedelta) -> datetime | None:
        return await self.conn.fetchval(f"SELECT min(due_at) FROM ({self._TERM_TASKS}) t",
                                        default_term_days, notice)


@dataclass(frozen=True)
class MenteeStanding:
    eligible: bool  # active, not erased, a mentee, in the program asked about
    active: int  # active relationships
    pending: int  # proposals awaiting an answer
    excluded: frozenset[str]  # mentors never to propose to them now


class CommitmentQueries:
    """Who holds whom: a mentor's load and a mentee's engagements, from proposals and relationships."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def mentor_loads(self, mentor_ids: list[str] | None = None) -> Counter:
        """Mentees each mentor holds: active relationships plus proposals awaiting an answer."""
        rows = await self.conn.fetch(
            """SELECT mentor_id, count(*) AS n FROM (
                   SELECT mentor_id FROM relationships WHERE status = 'active'
                   UNION ALL SELECT mentor_id FROM proposals WHERE status = 'pending') held
               WHERE $1::text[] IS NULL OR mentor_id = ANY($1::text[])
               GROUP BY mentor_id""",
            mentor_ids,
        )
        return Counter({r["mentor_id"]: r["n"] for r in rows})

    async def mentee_engagements(self, mentee_id: str) -> tuple[int, int]:
        """(active relationships, pending proposals) of a mentee."""
        row = await self.conn.fetchrow(
            """SELECT (SELECT count(*) FROM relationships WHERE mentee_id = $1 AND status = 'active') AS active,
                      (SELECT count(*) FROM proposals WHERE mentee_id = $1 AND status = 'pending') AS pending""",
            mentee_id,
        )
        return row["active"], row["pending"]

    async def mentee_standing(self, mentee_id: str, program_id: str) -> MenteeStanding:
        """What an on-demand proposal needs to know of a mentee, in one statement: may they be
        matched in this program, what they hold, and whom never to propose (`excluded_mentors`)."""
        row = await self.conn.fetchrow(
            f"""SELECT EXISTS (SELECT 1 FROM participants WHERE participant_id = $1 AND program_id = $2
                               AND active AND NOT erased AND 'mentee' = ANY(roles)) AS eligible,
                       (SELECT count(*) FROM relationships WHERE mentee_id = $1 AND status = 'active') AS active,
                       (SELECT count(*) FROM proposals WHERE mentee_id = $1 AND status = 'pending') AS pending,
                       ARRAY({self._EXCLUDED}) AS excluded""",
            mentee_id, program_id,
        )
        return MenteeStanding(row["eligible"], row["active"], row["pending"], frozenset(row["excluded"]))

    async def busy_mentees(self, program_id: str, max_matches: int) -> set[str]:
        """Mentees with a pending proposal or with as many active relationships as the program allows."""
        rows = await self.conn.fetch(
            """SELECT mentee_id FROM proposals WHERE program_id = $1 AND status = 'pending'
               UNION
               SELECT mentee_id FROM relationships WHERE program_id = $1 AND status = 'active'
               GROUP BY mentee_id HAVING count(*) >= $2""",
            program_id, max_matches,
        )
        return {r["mentee_id"] for r in rows}

    # Who is never proposed to whom (docs: "Who is proposed again" in the matching handlers):
    # - current partners, and the partner of the mentee's latest relationship until the mentee has
    #   a newer one (so the rematch after an end, and its declines and expiries, never circle back);
    #   earlier partners may be proposed again;
    # - mentors who declined, let expire or are still considering a proposal for this mentee;
    # - pairs kept apart by the program team, in both role directions.

    _EXCLUDED = """SELECT mentor_id FROM relationships WHERE mentee_id = $1 AND status = 'active'
               UNION SELECT mentor_id FROM (SELECT mentor_id FROM relationships WHERE mentee_id = $1
                                            ORDER BY made DESC LIMIT 1) latest
               UNION SELECT mentor_id FROM proposals WHERE mentee_id = $1 AND status IN ('declined', 'expired', 'pending')
               UNION SELECT mentor_id FROM kept_apart WHERE mentee_id = $1
               UNION SELECT mentee_id FROM kept_apart WHERE mentor_id = $1"""

    async def excluded_mentors(self, mentee_id: str) -> set[str]:
        """Mentors never to propose to this mentee now (the rule above)."""
        rows = await self.conn.fetch(self._EXCLUDED, mentee_id)
        return {r["mentor_id"] for r in rows}

    async def excluded_pairs(self, program_id: str) -> set[tuple[str, str]]:
        """(mentee_id, mentor_id) pairs a cohort round of this program must not propose (the rule above)."""
        rows = await self.conn.fetch(
            """SELECT mentee_id, mentor_id FROM relationships WHERE program_id = $1 AND status = 'active'
               UNION SELECT mentee_id, mentor_id FROM (
                   SELECT DISTINCT ON (mentee_id) mentee_id, mentor_id FROM relationships WHERE program_id = $1
                   ORDER BY mentee_id, made DESC) latest
               UNION SELECT mentee_id, mentor_id FROM proposals WHERE program_id = $1 AND status IN ('declined', 'expired')
               UNION SELECT mentee_id, mentor_id FROM kept_apart
               UNION SELECT mentor_id, mentee_id FROM kept_apart""",
            program_id,
        )
        return {(r["mentee_id"], r["mentor_id"]) for r in rows}


class KeptApartRepository:
    """Pairs the program team said must never be proposed to each other again."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, kept: KeptApart) -> bool:
        """False when these two were kept apart already (the first decision stands)."""
        return await self.conn.fetchval(
            """INSERT INTO kept_apart (mentee_id, mentor_id, program_id, relationship_id, decided_by, decided_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            kept.mentee_id, kept.mentor_id, kept.program_id, kept.relationship_id, kept.decided_by, kept.decided_at,
        ) is not None
