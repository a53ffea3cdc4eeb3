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
    """A batch's later event found a program that sorts before those it holds locked elsewhere (`lock`)."""


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
        self._top: int | None = None  # the highest lock key held: only keys above it are waited for

    async def lock(self, *program_ids: str) -> None:
        """Matching decisions of a program happen one at a time, whichever replica decides.

        On-demand requests and profile stamps reach one consumer per program (match-work.v1 is keyed
        by program), so this lock is only waited on when that consumer's partitions move to another
        replica, or when an answer, a departure or a loop of the same program is applied elsewhere.

        Two transactions must never wait for each other. Every transaction takes program locks in one
        global order, ascending lock key: the programs asked for are locked in one statement, in key
        order, waiting for each whose key is above every key this transaction holds already. One at
        or below that is only tried (a batch's later event may name a program that sorts before those
        its earlier events took): when it is busy the batch fails with a passing infrastructure error
        (`ProgramBusy`) and the consumer applies its events again, alone where need be. A wave of a
        set-wise handler takes every program it needs at once, so within a batch that is rare.
        """
        wanted = sorted(set(program_ids) - self._held)
        if not wanted:
            return
        # Called in key order: the sorted subquery is scanned in order (and volatile functions are
        # called after the outer sort anyway).
        rows = await self.conn.fetch(
            """SELECT k, CASE WHEN $2::bigint IS NULL OR k > $2::bigint
                              THEN (SELECT true FROM pg_advisory_xact_lock(k))
                              ELSE pg_try_advisory_xact_lock(k) END AS held
               FROM (SELECT DISTINCT hashtext('tandem.matching.' || p)::bigint AS k
                     FROM unnest($1::text[]) AS p ORDER BY k) AS keys
               ORDER BY k""",
            wanted, self._top)
        if not all(r["held"] for r in rows):
            raise ProgramBusy(f"a program of {wanted} is being matched by another transaction")
        self._held.update(wanted)
        top = max(r["k"] for r in rows)
        self._top = top if self._top is None else max(self._top, top)

    async def version(self, program_id: str) -> int:
        return await self.conn.fetchval("SELECT version FROM program_versions WHERE program_id = $1", program_id) or 0

    async def versions(self, program_ids: list[str]) -> dict[str, int]:
        """`version` of several programs, in one statement (those never stamped are left out: 0)."""
        rows = await self.conn.fetch(
            "SELECT program_id, version FROM program_versions WHERE program_id = ANY($1::text[])", program_ids)
        return {r["program_id"]: r["version"] for r in rows}

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
        statement for the versions and the people, whatever the number of events. Whoever
        touches a program holds its lock already (taken in the handler, so a busy one fails that
        event, not the commit of the whole batch)."""
        if not self.touched:
            return {}
        programs = sorted(self.touched)
        unlocked = set(programs) - self._held
        if unlocked:
            raise RuntimeError(f"index changes of {sorted(unlocked)} without their program lock")
        pairs = [(p, pid) for p in programs for pid in sorted(self.touched[p])]
        rows = await self.conn.fetch(
            """WITH v AS (
                   INSERT INTO program_versions (program_id, version)
                   SELECT p, nextval('index_version') FROM unnest($1::text[]) p
                   ON CONFLICT (program_id) DO UPDATE SET version = EXCLUDED.version RETURNING program_id, version),
               people AS (
                   INSERT INTO index_changes (program_id, participant_id, version)
                   SELECT c.program_id, c.participant_id, v.version
                   FROM unnest($2::text[], $3::text[]) AS c (program_id, participant_id) JOIN v USING (program_id)
                   ON CONFLICT (program_id, participant_id) DO UPDATE SET version = EXCLUDED.version)
               SELECT program_id, version FROM v""",
            programs, [p for p, _ in pairs], [pid for _, pid in pairs])
        self.stamped = {r["program_id"]: r["version"] for r in rows}
        return self.stamped

    async def changed_since(self, program_id: str, version: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT participant_id FROM index_changes WHERE program_id = $1 AND version > $2", program_id, version)
        return [r["participant_id"] for r in rows]


# A proposal fits when its mentor has a free place by the record (NULL: not an active mentor of the
# program), and the explanation tells the free places the record has (or does not tell them).
_FITS = """(({free}) > 0
            AND coalesce(({explanation} #>> '{{facts,mentor_free_places}}')::bigint = ({free}), true)) IS TRUE"""


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
        place by the record (active relationships plus pending proposals), and has as many as the
        proposal's explanation tells (`facts.mentor_free_places`, when it tells): the record has the
        last word on capacity, in the same statement, and an index behind the record is read back
        rather than explaining a proposal by places the record no longer has. False when it did not."""
        return await self.conn.fetchval(
            f"""INSERT INTO proposals ({_PROPOSAL})
                SELECT $1, $2, $3, $4, $5::double precision, $6::jsonb, $7::timestamptz, $8::timestamptz, $9,
                       $10, $11::timestamptz, $12
                FROM (SELECT (SELECT mentor_capacity FROM participants
                              WHERE participant_id = $4 AND program_id = $2 AND active AND NOT erased
                                AND 'mentor' = ANY(roles))
                             - (SELECT count(*) FROM relationships WHERE mentor_id = $4 AND status = 'active')
                             - (SELECT count(*) FROM proposals WHERE mentor_id = $4 AND status = 'pending') AS free) f
                WHERE {_FITS.format(free="f.free", explanation="$6::jsonb")}
                RETURNING true""",
            *(getattr(proposal, k) for k in _PROPOSAL.split(", ")),
        ) is not None

    async def add_while_within_capacity(self, proposals: list[Proposal]) -> int:
        """`add_within_capacity` for proposals made one after the other, in one statement: each is
        checked as if those before it were written, and they are written up to the first one whose
        mentor has no free place by the record, or not as many as its explanation tells. Returns how
        many were written (that prefix)."""
        if not proposals:
            return 0
        return await self.conn.fetchval(
            f"""WITH new AS (
                    SELECT n.*, e.explanation FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                                          $5::double precision[], $6::timestamptz[],
                                                          $7::timestamptz[], $8::text[], $9::text[])
                        WITH ORDINALITY AS n (proposal_id, program_id, mentee_id, mentor_id, score, created_at,
                                              expires_at, round_id, status, ord)
                    JOIN jsonb_array_elements($10::jsonb) WITH ORDINALITY AS e (explanation, ord) USING (ord)),
                places AS (
                    SELECT new.*,
                           (SELECT mentor_capacity FROM participants
                            WHERE participant_id = new.mentor_id AND program_id = new.program_id AND active
                              AND NOT erased AND 'mentor' = ANY(roles))
                           - (SELECT count(*) FROM relationships WHERE mentor_id = new.mentor_id AND status = 'active')
                           - (SELECT count(*) FROM proposals WHERE mentor_id = new.mentor_id AND status = 'pending')
                           - (row_number() OVER (PARTITION BY new.mentor_id ORDER BY new.ord) - 1) AS free
                    FROM new),
                checked AS (
                    SELECT places.*, {_FITS.format(free="free", explanation="explanation")} AS fits FROM places),
                written AS (
                    INSERT INTO proposals ({_PROPOSAL})
                    SELECT proposal_id, program_id, mentee_id, mentor_id, score, explanation, created_at, expires_at,
                           round_id, status, NULL::timestamptz, NULL::text
                    FROM checked
                    WHERE ord < (SELECT coalesce(min(ord), 9223372036854775807) FROM checked WHERE NOT fits)
                    RETURNING 1)
                SELECT count(*) FROM written""",
            [p.proposal_id for p in proposals], [p.program_id for p in proposals], [p.mentee_id for p in proposals],
            [p.mentor_id for p in proposals], [p.score for p in proposals], [p.created_at for p in proposals],
            [p.expires_at for p in proposals], [p.round_id for p in proposals], [p.status for p in proposals],
            [p.explanation for p in proposals],
        )

    async def programs_of(self, proposal_ids: list[str]) -> dict[str, str]:
        """proposal -> its program, for the proposals known among these."""
        rows = await self.conn.fetch(
            "SELECT proposal_id, program_id FROM proposals WHERE proposal_id = ANY($1::text[])", proposal_ids)
        return {r["proposal_id"]: r["program_id"] for r in rows}

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
        row = await self.conn.fetchrow(f"SELECT {self._standing('$1', '$2')}", mentee_id, program_id)
        return MenteeStanding(row["eligible"], row["active"], row["pending"], frozenset(row["excluded"]))

    async def mentee_standings(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], MenteeStanding]:
        """`mentee_standing` of several (mentee, program), in one statement, by (mentee, program)."""
        pairs = sorted(set(wanted))
        rows = await self.conn.fetch(
            f"""SELECT w.mentee_id, w.program_id, {self._standing('w.mentee_id', 'w.program_id')}
                FROM unnest($1::text[], $2::text[]) AS w (mentee_id, program_id)""",
            [m for m, _ in pairs], [p for _, p in pairs],
        )
        return {(r["mentee_id"], r["program_id"]): MenteeStanding(r["eligible"], r["active"], r["pending"],
                                                                  frozenset(r["excluded"])) for r in rows}

    def _standing(self, mentee: str, program: str) -> str:
        return f"""EXISTS (SELECT 1 FROM participants WHERE participant_id = {mentee} AND program_id = {program}
                           AND active AND NOT erased AND 'mentee' = ANY(roles)) AS eligible,
                   (SELECT count(*) FROM relationships WHERE mentee_id = {mentee} AND status = 'active') AS active,
                   (SELECT count(*) FROM proposals WHERE mentee_id = {mentee} AND status = 'pending') AS pending,
                   ARRAY({self._EXCLUDED.format(mentee=mentee)}) AS excluded"""

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

    _EXCLUDED = """SELECT mentor_id FROM relationships WHERE mentee_id = {mentee} AND status = 'active'
               UNION SELECT mentor_id FROM (SELECT mentor_id FROM relationships WHERE mentee_id = {mentee}
                                            ORDER BY made DESC LIMIT 1) latest
               UNION SELECT mentor_id FROM proposals WHERE mentee_id = {mentee} AND status IN ('declined', 'expired', 'pending')
               UNION SELECT mentor_id FROM kept_apart WHERE mentee_id = {mentee}
               UNION SELECT mentee_id FROM kept_apart WHERE mentor_id = {mentee}"""

    async def excluded_mentors(self, mentee_id: str) -> set[str]:
        """Mentors never to propose to this mentee now (the rule above)."""
        rows = await self.conn.fetch(self._EXCLUDED.format(mentee="$1"), mentee_id)
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
