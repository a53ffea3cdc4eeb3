"""What the program team reads: programs, a program's KPIs, its relationships. One place, so the
API, the dashboard, the CSV export and the Prometheus gauges show the same numbers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.feedback.adapters.analytics import AnalyticsReader
from services.feedback.domain import analytics
from shared.programs import ProgramDefaults, ProgramDirectory


class UnknownProgram(LookupError):
    pass


async def programs(conn: asyncpg.Connection, defaults: ProgramDefaults) -> list[dict[str, Any]]:
    reader, directory = AnalyticsReader(conn), ProgramDirectory(conn)
    found = []
    for program_id in await reader.program_ids():
        settings = await directory.get(program_id, defaults)
        found.append(
            {
                "program_id": program_id,
                "name": settings.name,
                "timezone": settings.timezone,
                "configured": settings.configured,
            }
        )
    return found


async def program(conn: asyncpg.Connection, program_id: str, defaults: ProgramDefaults) -> dict[str, Any]:
    if not await AnalyticsReader(conn).has_program(program_id):
        raise UnknownProgram(program_id)
    settings = await ProgramDirectory(conn).get(program_id, defaults)
    return {
        "program_id": program_id,
        "name": settings.name,
        "timezone": settings.timezone,
        "configured": settings.configured,
    }


async def kpis(conn: asyncpg.Connection, program_id: str, defaults: ProgramDefaults, now: datetime) -> dict[str, Any]:
    """The KPI object of one program (domain/analytics.py says what each number means)."""
    about = await program(conn, program_id, defaults)
    reader = AnalyticsReader(conn)
    feedback, rating_sums = await reader.feedback(program_id)
    by_region = analytics.merge_counts(
        [
            await reader.people(program_id),
            await reader.proposals(program_id),
            await reader.relationships(program_id),
            await reader.meetings(program_id, now),
            feedback,
            await reader.goals(program_id),
            await reader.notifications(program_id),
        ]
    )
    by_zone = analytics.merge_counts(
        [await reader.people(program_id, "timezone"), await reader.relationships(program_id, "timezone")]
    )
    zone_keys = (*analytics.PEOPLE, "relationships_active", "at_risk")
    today = now.astimezone(ZoneInfo(about["timezone"])).date()
    since = now - timedelta(days=analytics.SERIES_DAYS + 1)
    return analytics.program_kpis(
        program=about,
        by_region=by_region,
        rating_sums=rating_sums,
        time_to_match=await reader.time_to_match(program_id),
        by_timezone={zone: {k: counts[k] for k in zone_keys} for zone, counts in by_zone.items()},
        dead_letters=await reader.dead_letters(program_id),
        funnel_steps=await reader.funnel(program_id),
        series=analytics.daily(await reader.daily(program_id, about["timezone"], since), today=today),
        as_of=now.isoformat(),
    )


async def relationships(
    conn: asyncpg.Connection,
    program_id: str,
    defaults: ProgramDefaults,
    now: datetime,
    *,
    state: str | None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    await program(conn, program_id, defaults)
    reader = AnalyticsReader(conn)
    rows = await reader.relationship_list(program_id, state=state, now=now, limit=limit)
    goals = await reader.goals_of([r["relationship_id"] for r in rows])
    return [_relationship(r, goals.get(r["relationship_id"], [])) for r in rows]


def _relationship(r: dict[str, Any], goals: list[dict[str, Any]]) -> dict[str, Any]:
    ended = r["status"] == "ended"
    state = "ended" if ended else (r["state"] or "new")
    reasons = list(r["reasons"]) if r["state"] else ["no meetings or feedback yet"]
    if ended:
        reasons = [r["end_reason"] or "ended"]
    return {
        "relationship_id": r["relationship_id"],
        "state": state,
        "health_state": r["state"],
        "health_score": None if r["score"] is None else round(float(r["score"]), 1),
        "reasons": reasons,
        "reason_codes": list(r["reason_codes"]) if r["state"] and not ended else [],
        "goals": [{"goal": g["goal"], "progress": g["progress"], "achieved_at": _iso(g["achieved_at"])} for g in goals],
        "conclusion": None
        if r["certificate"] is None
        else {
            "term_served": round(float(r["term_served"]), 3),
            "certificate": r["certificate"],
            "meetings_held": r["meetings_held"],
        },
        "mentor": _person(r["mentor_id"], r["mentor_name"], r["mentor_region"], r["mentor_zone"]),
        "mentee": _person(r["mentee_id"], r["mentee_name"], r["mentee_region"], r["mentee_zone"]),
        "established_at": _iso(r["established_at"]),
        "ended_at": _iso(r["ended_at"]),
        "last_meeting": None
        if r["last_meeting_at"] is None
        else {
            "start": _iso(r["last_meeting_at"]),
            "outcome": "held" if r["last_meeting_status"] == "completed" else "missed",
        },
        "next_meeting": None
        if r["next_meeting_at"] is None
        else {"start": _iso(r["next_meeting_at"]), "meeting_id": r["next_meeting_id"]},
        "last_action": None
        if r["last_action"] is None
        else {"kind": r["last_action"], "requested_by": r["last_action_by"], "requested_at": _iso(r["last_action_at"])},
    }


def _person(pid: str, name: str | None, region: str | None, zone: str | None) -> dict[str, Any]:
    return {"participant_id": pid, "name": name or pid, "region": region, "timezone": zone}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
