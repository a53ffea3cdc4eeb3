"""The read model on Postgres (migration 002_analytics.sql): facts written as handlers take them
in, and the aggregates the program team reads.

Writes are idempotent by the fact's own id (a redelivered event, or the same fact told twice,
changes nothing) and tolerate order: a closed proposal or meeting stays closed. Reads aggregate at
query time per region (joined to the participants replica) and per day in the program's zone, so
the numbers are current as soon as a handler's transaction commits. Nothing here reads another
service's schema: every table is feedback's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import asyncpg

from services.feedback.domain.analytics import UNKNOWN_REGION, TimeToMatch
from shared.dead_letters import DeadLetter


class MeetingFact(NamedTuple):
    """A row of analytics_meetings (`AnalyticsRepository.meeting`'s arguments, in its order)."""

    meeting_id: str
    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    occurrence: int
    start: datetime
    status: str
    at: datetime


class ProposalOpened(NamedTuple):
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    at: datetime


class NotificationOutcome(NamedTuple):
    notification_id: str
    recipient_id: str
    status: str
    at: datetime


class ProposalClosed(NamedTuple):
    """`AnalyticsRepository.proposal_closed`'s arguments, in its order."""

    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    status: str
    at: datetime


class HealthChange(NamedTuple):
    relationship_id: str
    previous: str | None
    current: str
    score: float
    at: datetime


class AnalyticsRepository:
    """The facts, on the caller's connection and inside its transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def onboarded(self, participant_id: str, program_id: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO analytics_onboardings (participant_id, program_id, onboarded_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (participant_id) DO NOTHING", participant_id, program_id, at)

    async def onboardings(self, onboarded: Sequence[tuple[str, str, datetime]]) -> None:
        """`onboarded` for several people (each once): (participant, program, at), in one statement."""
        if onboarded:
            await self.conn.execute(
                "INSERT INTO analytics_onboardings (participant_id, program_id, onboarded_at) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT (participant_id) DO NOTHING",
                *(list(column) for column in zip(*onboarded, strict=True)))

    async def proposal_opened(self, proposal_id: str, program_id: str, mentee_id: str, mentor_id: str,
                              at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO analytics_proposals (proposal_id, program_id, mentee_id, mentor_id, status, proposed_at)
               VALUES ($1, $2, $3, $4, 'open', $5)
               ON CONFLICT (proposal_id) DO UPDATE
               SET proposed_at = coalesce(analytics_proposals.proposed_at, EXCLUDED.proposed_at)""",
            proposal_id, program_id, mentee_id, mentor_id, at)

    async def proposal_closed(self, proposal_id: str, program_id: str, mentee_id: str, mentor_id: str, *,
                              status: str, at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO analytics_proposals (proposal_id, program_id, mentee_id, mentor_id, status, closed_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (proposal_id) DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at
               WHERE analytics_proposals.status = 'open'""",
            proposal_id, program_id, mentee_id, mentor_id, status, at)

    async def proposals_opened(self, opened: Sequence[ProposalOpened]) -> None:
        """`proposal_opened` for several proposals (each once), in one statement."""
        if opened:
            await self.conn.execute(
                """INSERT INTO analytics_proposals (proposal_id, program_id, mentee_id, mentor_id, status, proposed_at)
                   SELECT p, g, e, m, 'open', t
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS o(p, g, e, m, t)
                   ON CONFLICT (proposal_id) DO UPDATE
                   SET proposed_at = coalesce(analytics_proposals.proposed_at, EXCLUDED.proposed_at)""",
                *(list(column) for column in zip(*opened, strict=True)))

    async def proposals_closed(self, closed: Sequence[ProposalClosed]) -> None:
        """`proposal_closed` for several proposals (each once), in one statement."""
        if closed:
            await self.conn.execute(
                """INSERT INTO analytics_proposals (proposal_id, program_id, mentee_id, mentor_id, status, closed_at)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
                   ON CONFLICT (proposal_id) DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at
                   WHERE analytics_proposals.status = 'open'""",
                *(list(column) for column in zip(*closed, strict=True)))

    async def meeting(self, *, meeting_id: str, relationship_id: str, program_id: str, mentor_id: str,
                      mentee_id: str, occurrence: int, start: datetime, status: str, at: datetime) -> None:
        """A meeting placed, moved or closed; a closed meeting (held, missed, cancelled) stays closed."""
        await self.conn.execute(
            """INSERT INTO analytics_meetings (meeting_id, relationship_id, program_id, mentor_id, mentee_id,
                                               occurrence, starts_at, status, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (meeting_id) DO UPDATE
               SET starts_at = EXCLUDED.starts_at, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
               WHERE analytics_meetings.status = 'scheduled'""",
            meeting_id, relationship_id, program_id, mentor_id, mentee_id, occurrence, start, status, at)

    async def meetings(self, meetings: Sequence[MeetingFact]) -> None:
        """`meeting` for several meetings (each once), in one statement."""
        if not meetings:
            return
        await self.conn.execute(
            """INSERT INTO analytics_meetings (meeting_id, relationship_id, program_id, mentor_id, mentee_id,
                                               occurrence, starts_at, status, updated_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                                    $7::timestamptz[], $8::text[], $9::timestamptz[])
               ON CONFLICT (meeting_id) DO UPDATE
               SET starts_at = EXCLUDED.starts_at, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
               WHERE analytics_meetings.status = 'scheduled'""",
            *(list(column) for column in zip(*meetings, strict=True)))

    async def unplaceable(self, relationship_id: str, occurrence: int, program_id: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO analytics_unplaceable (relationship_id, occurrence, program_id, reported_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", relationship_id, occurrence, program_id, at)

    async def notification(self, notification_id: str, recipient_id: str, status: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO analytics_notifications (notification_id, recipient_id, status, at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING", notification_id, recipient_id, status, at)

    async def notifications(self, outcomes: Sequence[NotificationOutcome]) -> None:
        """`notification` for several notifications (each once), in one statement."""
        if outcomes:
            await self.conn.execute(
                "INSERT INTO analytics_notifications (notification_id, recipient_id, status, at) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT DO NOTHING",
                *(list(column) for column in zip(*outcomes, strict=True)))

    async def dead_letter(self, letter: DeadLetter) -> None:
        await self.conn.execute(
            """INSERT INTO analytics_dead_letters (letter_id, topic, program_id, event_type, service, error_type,
                                                   failed_at, original)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            letter.id, letter.topic, letter.program_id, letter.event_type, letter.service[:100],
            letter.error_type[:200], letter.failed_at, letter.original)

    async def health_changed(self, relationship_id: str, previous: str | None, current: str, score: float,
                             at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO health_changes (relationship_id, previous, current, score, changed_at) "
            "VALUES ($1, $2, $3, $4, $5)", relationship_id, previous, current, score, at)


    async def health_changes(self, changes: Sequence[HealthChange]) -> None:
        """`health_changed` for several, in one statement (in their order)."""
        if changes:
            await self.conn.execute(
                "INSERT INTO health_changes (relationship_id, previous, current, score, changed_at) "
                "SELECT c.relationship_id, c.previous, c.current, c.score, c.changed_at "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::real[], $5::timestamptz[]) "
                "WITH ORDINALITY AS c(relationship_id, previous, current, score, changed_at, n) ORDER BY n",
                *(list(column) for column in zip(*changes, strict=True)))


# --- reading ---------------------------------------------------------------------------------------

_REGION = f"coalesce(me.region, '{UNKNOWN_REGION}')"
_ZONE = f"coalesce(me.timezone, '{UNKNOWN_REGION}')"


def _by(rows: list[asyncpg.Record], key: str = "region") -> dict[str, dict[str, int]]:
    return {r[key]: {k: v for k, v in r.items() if k != key} for r in rows}


class AnalyticsReader:
    """Aggregates for one program, on a connection of the service's pool."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def program_ids(self) -> list[str]:
        """Every program anybody told us about: configured, or named by a person or a pair."""
        return [r["program_id"] for r in await self.conn.fetch(
            "SELECT program_id FROM programs UNION SELECT program_id FROM participants "
            "UNION SELECT program_id FROM pairs ORDER BY 1")]

    async def has_program(self, program_id: str) -> bool:
        return bool(await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM programs WHERE program_id = $1) "
            "OR EXISTS (SELECT 1 FROM participants WHERE program_id = $1) "
            "OR EXISTS (SELECT 1 FROM pairs WHERE program_id = $1)", program_id))

    async def people(self, program_id: str, group: str = "region") -> dict[str, dict[str, int]]:
        column = "p.region" if group == "region" else "p.timezone"
        rows = await self.conn.fetch(
            f"""SELECT {column} AS key,
                       count(*) AS participants,
                       count(*) FILTER (WHERE 'mentor' = ANY (p.roles)) AS mentors,
                       count(*) FILTER (WHERE 'mentee' = ANY (p.roles)) AS mentees,
                       count(*) FILTER (WHERE 'mentee' = ANY (p.roles)
                           AND NOT EXISTS (SELECT 1 FROM pairs pa WHERE pa.mentee_id = p.participant_id
                                           AND pa.status = 'active')
                           AND NOT EXISTS (SELECT 1 FROM analytics_proposals pr WHERE pr.mentee_id = p.participant_id
                                           AND pr.status = 'open')) AS mentees_waiting
                FROM participants p WHERE p.active AND p.program_id = $1 GROUP BY 1""", program_id)
        return _by(rows, "key")

    async def proposals(self, program_id: str) -> dict[str, dict[str, int]]:
        rows = await self.conn.fetch(
            f"""SELECT {_REGION} AS region,
                       count(*) FILTER (WHERE pr.status = 'open') AS proposals_pending,
                       count(*) FILTER (WHERE pr.status = 'accepted') AS proposals_accepted,
                       count(*) FILTER (WHERE pr.status = 'declined') AS proposals_declined,
                       count(*) FILTER (WHERE pr.status = 'expired') AS proposals_expired
                FROM analytics_proposals pr LEFT JOIN participants me ON me.participant_id = pr.mentee_id
                WHERE pr.program_id = $1 GROUP BY 1""", program_id)
        return _by(rows)

    async def relationships(self, program_id: str, group: str = "region") -> dict[str, dict[str, int]]:
        key = _REGION if group == "region" else _ZONE
        rows = await self.conn.fetch(
            f"""SELECT {key} AS key,
                       count(*) AS matches_established,
                       count(*) FILTER (WHERE pa.status = 'active') AS relationships_active,
                       count(*) FILTER (WHERE pa.status = 'ended') AS relationships_ended,
                       count(*) FILTER (WHERE pa.status = 'active' AND h.state = 'healthy') AS relationships_healthy,
                       count(*) FILTER (WHERE pa.status = 'active' AND h.state = 'watch') AS relationships_watch,
                       count(*) FILTER (WHERE pa.status = 'active' AND h.state = 'at_risk') AS at_risk,
                       count(*) FILTER (WHERE pa.status = 'active' AND h.state IS NULL) AS relationships_unassessed,
                       count(*) FILTER (WHERE c.certificate) AS certificates_earned
                FROM pairs pa LEFT JOIN participants me ON me.participant_id = pa.mentee_id
                LEFT JOIN relationship_health h ON h.relationship_id = pa.relationship_id
                LEFT JOIN conclusions c ON c.relationship_id = pa.relationship_id
                WHERE pa.program_id = $1 GROUP BY 1""", program_id)
        return _by(rows, "key")

    async def goals(self, program_id: str) -> dict[str, dict[str, int]]:
        """Goals set and achieved, per region of the mentee."""
        rows = await self.conn.fetch(
            f"""SELECT {_REGION} AS region, count(*) AS goals_set, count(gp.achieved_at) AS goals_achieved
                FROM (SELECT DISTINCT pa.relationship_id, pa.mentee_id, lower(btrim(g)) AS goal
                      FROM pairs pa LEFT JOIN agreed_goals ag ON ag.relationship_id = pa.relationship_id,
                           unnest(coalesce(ag.goals, pa.goals)) AS g
                      WHERE pa.program_id = $1 AND btrim(g) <> '') rg
                LEFT JOIN goal_progress gp ON gp.relationship_id = rg.relationship_id AND gp.goal = rg.goal
                LEFT JOIN participants me ON me.participant_id = rg.mentee_id
                GROUP BY 1""", program_id)
        return _by(rows)

    async def goals_of(self, relationship_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """relationship -> its goals in the mentee's order, with their progress (0 until recorded).
        The goals of the mentee's agreement when they gave one, else those at establishment."""
        rows = await self.conn.fetch(
            """SELECT pa.relationship_id, lower(btrim(g.goal)) AS goal, min(g.n) AS n,
                      coalesce(max(gp.progress), 0) AS progress, max(gp.achieved_at) AS achieved_at
               FROM pairs pa LEFT JOIN agreed_goals ag ON ag.relationship_id = pa.relationship_id
               CROSS JOIN LATERAL unnest(coalesce(ag.goals, pa.goals)) WITH ORDINALITY AS g(goal, n)
               LEFT JOIN goal_progress gp ON gp.relationship_id = pa.relationship_id
                                         AND gp.goal = lower(btrim(g.goal))
               WHERE pa.relationship_id = ANY($1::text[]) AND btrim(g.goal) <> ''
               GROUP BY 1, 2 ORDER BY 1, 3""", relationship_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r["relationship_id"], []).append(
                {"goal": r["goal"], "progress": r["progress"], "achieved_at": r["achieved_at"]})
        return found

    async def meetings(self, program_id: str, now: datetime) -> dict[str, dict[str, int]]:
        rows = await self.conn.fetch(
            f"""SELECT {_REGION} AS region,
                       count(*) AS meetings_scheduled,
                       count(*) FILTER (WHERE m.status = 'scheduled' AND m.starts_at >= $2) AS meetings_upcoming,
                       count(*) FILTER (WHERE m.status = 'completed') AS meetings_completed,
                       count(*) FILTER (WHERE m.status = 'missed') AS meetings_missed,
                       count(*) FILTER (WHERE m.status = 'cancelled') AS meetings_cancelled
                FROM analytics_meetings m LEFT JOIN participants me ON me.participant_id = m.mentee_id
                WHERE m.program_id = $1 GROUP BY 1""", program_id, now)
        unplaceable = await self.conn.fetch(
            f"""SELECT {_REGION} AS region, count(*) AS meetings_unplaceable
                FROM analytics_unplaceable u LEFT JOIN pairs pa ON pa.relationship_id = u.relationship_id
                LEFT JOIN participants me ON me.participant_id = pa.mentee_id
                WHERE u.program_id = $1 GROUP BY 1""", program_id)
        found = _by(rows)
        for region, counts in _by(unplaceable).items():
            found.setdefault(region, {}).update(counts)
        return found

    async def feedback(self, program_id: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        """Counts per region, and the sum of ratings per region (for averages that add up)."""
        requests = await self.conn.fetch(
            f"""SELECT {_REGION} AS region, count(*) AS feedback_requested,
                       count(*) FILTER (WHERE r.answered_at IS NOT NULL) AS feedback_answered
                FROM feedback_requests r JOIN pairs pa ON pa.relationship_id = r.relationship_id
                LEFT JOIN participants me ON me.participant_id = pa.mentee_id
                WHERE pa.program_id = $1 GROUP BY 1""", program_id)
        received = await self.conn.fetch(
            f"""SELECT {_REGION} AS region, count(*) AS feedback_received, sum(f.rating) AS rating_sum
                FROM feedback f JOIN pairs pa ON pa.relationship_id = f.relationship_id
                LEFT JOIN participants me ON me.participant_id = pa.mentee_id
                WHERE pa.program_id = $1 GROUP BY 1""", program_id)
        found = _by(requests)
        sums = {}
        for r in received:
            found.setdefault(r["region"], {})["feedback_received"] = r["feedback_received"]
            sums[r["region"]] = int(r["rating_sum"] or 0)
        return found, sums

    async def notifications(self, program_id: str) -> dict[str, dict[str, int]]:
        rows = await self.conn.fetch(
            """SELECT p.region AS region,
                      count(*) FILTER (WHERE n.status = 'delivered') AS notifications_delivered,
                      count(*) FILTER (WHERE n.status = 'failed') AS notifications_failed
               FROM analytics_notifications n JOIN participants p ON p.participant_id = n.recipient_id
               WHERE p.program_id = $1 GROUP BY 1""", program_id)
        return _by(rows)

    # Each refused message once, however many services dead-lettered a copy of it (migration 006).
    async def dead_letters(self, program_id: str) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT topic, count(DISTINCT coalesce(original, letter_id)) AS n FROM analytics_dead_letters "
            "WHERE program_id = $1 GROUP BY 1", program_id)
        return {r["topic"]: r["n"] for r in rows}

    async def dead_letters_without_program(self) -> int:
        return await self.conn.fetchval(
            "SELECT count(DISTINCT coalesce(original, letter_id)) FROM analytics_dead_letters WHERE program_id IS NULL")

    async def time_to_match(self, program_id: str) -> dict[str | None, TimeToMatch]:
        """Percentiles per region and (key None) for the whole program, over each mentee's first match."""
        rows = await self.conn.fetch(
            f"""WITH first AS (
                    SELECT pa.mentee_id, min(pa.established_at) AS established_at
                    FROM pairs pa WHERE pa.program_id = $1 GROUP BY 1)
                SELECT {_REGION} AS region, GROUPING({_REGION}) AS whole,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS p50,
                       percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS p90, count(*) AS n
                FROM (SELECT f.mentee_id,
                             greatest(extract(epoch FROM f.established_at - o.onboarded_at) / 3600, 0) AS hours
                      FROM first f JOIN analytics_onboardings o ON o.participant_id = f.mentee_id) t
                LEFT JOIN participants me ON me.participant_id = t.mentee_id
                GROUP BY GROUPING SETS (({_REGION}), ())""", program_id)
        return {(None if r["whole"] else r["region"]): TimeToMatch(r["p50"], r["p90"], r["n"]) for r in rows}

    async def funnel(self, program_id: str) -> dict[str, int]:
        row = await self.conn.fetchrow(
            """SELECT
                 (SELECT count(*) FROM participants p
                  WHERE p.program_id = $1 AND 'mentee' = ANY (p.roles)) AS onboarded,
                 (SELECT count(DISTINCT mentee_id) FROM analytics_proposals WHERE program_id = $1) AS proposed,
                 (SELECT count(DISTINCT mentee_id) FROM pairs WHERE program_id = $1) AS established,
                 (SELECT count(DISTINCT mentee_id) FROM analytics_meetings
                  WHERE program_id = $1 AND status = 'completed') AS first_meeting_held,
                 (SELECT count(DISTINCT pa.mentee_id) FROM pairs pa
                  WHERE pa.program_id = $1
                    AND EXISTS (SELECT 1 FROM feedback f WHERE f.relationship_id = pa.relationship_id)) AS feedback_given
            """, program_id)
        return dict(row)

    async def daily(self, program_id: str, zone: str, since: datetime) -> list[tuple[str, date, int]]:
        """(series, day in `zone`, count) for facts since `since`."""
        rows = await self.conn.fetch(
            """WITH facts (name, at) AS (
                   SELECT 'onboarded', onboarded_at FROM analytics_onboardings WHERE program_id = $1
                   UNION ALL SELECT 'proposed', proposed_at FROM analytics_proposals
                             WHERE program_id = $1 AND proposed_at IS NOT NULL
                   UNION ALL SELECT 'matches_established', established_at FROM pairs WHERE program_id = $1
                   UNION ALL SELECT 'relationships_ended', ended_at FROM pairs
                             WHERE program_id = $1 AND status = 'ended'
                   UNION ALL SELECT 'meetings_' || status, starts_at FROM analytics_meetings
                             WHERE program_id = $1 AND status <> 'scheduled'
                   UNION ALL SELECT 'feedback_received', f.submitted_at FROM feedback f
                             JOIN pairs pa USING (relationship_id) WHERE pa.program_id = $1
                   UNION ALL SELECT 'at_risk_alerts', h.changed_at FROM health_changes h
                             JOIN pairs pa USING (relationship_id) WHERE pa.program_id = $1 AND h.current = 'at_risk'
                   UNION ALL SELECT 'notifications_' || n.status, n.at FROM analytics_notifications n
                             JOIN participants p ON p.participant_id = n.recipient_id WHERE p.program_id = $1
                   UNION ALL SELECT 'dead_letters', min(failed_at) FROM analytics_dead_letters WHERE program_id = $1
                             GROUP BY coalesce(original, letter_id))
               SELECT name, (at AT TIME ZONE $2)::date AS day, count(*) AS n
               FROM facts WHERE at >= $3 GROUP BY 1, 2""", program_id, zone, since)
        return [(r["name"], r["day"], r["n"]) for r in rows]

    async def relationship_list(self, program_id: str, *, state: str | None, now: datetime,
                                limit: int) -> list[dict[str, Any]]:
        """Pairs with their people, health, reasons, last and next meeting, and the team's last action."""
        where = {None: "TRUE", "ended": "pa.status = 'ended'", "new": "pa.status = 'active' AND h.state IS NULL"}.get(
            state, "pa.status = 'active' AND h.state = $4")
        args: list[Any] = [program_id, now, limit]
        if state not in (None, "ended", "new"):
            args.append(state)
        rows = await self.conn.fetch(
            f"""SELECT pa.relationship_id, pa.status, pa.established_at, pa.ended_at, pa.end_reason,
                       pa.mentor_id, mo.name AS mentor_name, mo.region AS mentor_region, mo.timezone AS mentor_zone,
                       pa.mentee_id, me.name AS mentee_name, me.region AS mentee_region, me.timezone AS mentee_zone,
                       h.state, h.score, coalesce(h.reasons, '{{}}') AS reasons,
                       coalesce(h.reason_codes, '[]'::jsonb) AS reason_codes, h.assessed_at,
                       c.term_served, c.certificate, c.meetings_held,
                       last.starts_at AS last_meeting_at, last.status AS last_meeting_status,
                       next.starts_at AS next_meeting_at, next.meeting_id AS next_meeting_id,
                       act.kind AS last_action, act.requested_by AS last_action_by, act.requested_at AS last_action_at
                FROM pairs pa
                LEFT JOIN relationship_health h ON h.relationship_id = pa.relationship_id
                LEFT JOIN conclusions c ON c.relationship_id = pa.relationship_id
                LEFT JOIN participants mo ON mo.participant_id = pa.mentor_id
                LEFT JOIN participants me ON me.participant_id = pa.mentee_id
                LEFT JOIN LATERAL (SELECT starts_at, status FROM analytics_meetings m
                                   WHERE m.relationship_id = pa.relationship_id AND m.status IN ('completed', 'missed')
                                   ORDER BY starts_at DESC LIMIT 1) last ON TRUE
                LEFT JOIN LATERAL (SELECT starts_at, meeting_id FROM analytics_meetings m
                                   WHERE m.relationship_id = pa.relationship_id AND m.status = 'scheduled'
                                     AND m.starts_at >= $2
                                   ORDER BY starts_at LIMIT 1) next ON TRUE
                LEFT JOIN LATERAL (SELECT kind, requested_by, requested_at FROM ops_actions a
                                   WHERE a.relationship_id = pa.relationship_id
                                   ORDER BY requested_at DESC LIMIT 1) act ON TRUE
                WHERE pa.program_id = $1 AND {where}
                ORDER BY (pa.status = 'ended'), array_position(ARRAY['at_risk', 'watch', 'healthy'], h.state),
                         h.score NULLS LAST, pa.relationship_id
                LIMIT $3""", *args)
        return [dict(r) for r in rows]

    async def pending_end_request(self, relationship_id: str) -> bool:
        return bool(await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ops_actions WHERE relationship_id = $1 AND kind = 'end')", relationship_id))

    async def open_proposal(self, mentee_id: str) -> bool:
        return bool(await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM analytics_proposals WHERE mentee_id = $1 AND status = 'open')", mentee_id))

    async def active_relationship(self, mentee_id: str) -> bool:
        return bool(await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pairs WHERE mentee_id = $1 AND status = 'active')", mentee_id))

    async def record_action(self, *, action_id: str, relationship_id: str | None, program_id: str, kind: str,
                            requested_by: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO ops_actions (action_id, relationship_id, program_id, kind, requested_by, requested_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)", action_id, relationship_id, program_id, kind, requested_by, at)
