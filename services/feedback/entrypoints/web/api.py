"""The program team's JSON API: programs, KPIs, relationships, the CSV export and the actions."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.feedback.adapters.analytics import AnalyticsReader
from services.feedback.domain.analytics import csv_rows
from services.feedback.entrypoints.web.common import (
    Connection,
    ProgramId,
    RelationshipId,
    caller_of,
    plain_text,
    readable,
    run_action,
    service_of,
    visible_programs,
)
from services.feedback.service_layer import actions, views

router = APIRouter(prefix="/api")
State = Literal["at_risk", "watch", "healthy", "new", "ended"]


async def _or_404(call):
    try:
        return await call
    except views.UnknownProgram as unknown:
        raise HTTPException(404, f"no program {unknown.args[0]}") from None


@router.get("/programs")
async def list_programs(request: Request, conn: Connection) -> dict:
    """The caller's programs; dead letters that name no program only for tandem-admins."""
    found: dict = {"programs": await visible_programs(request, conn)}
    if caller_of(request).grants.sees_unassigned:
        found["dead_letters_without_program"] = await AnalyticsReader(conn).dead_letters_without_program()
    return found


@router.get("/programs/{program_id}/kpis")
async def program_kpis(request: Request, program_id: ProgramId, conn: Connection) -> dict:
    readable(request, program_id)
    service = service_of(request)
    return await _or_404(views.kpis(conn, program_id, service.settings, service.clock.now()))


@router.get("/programs/{program_id}/relationships")
async def program_relationships(request: Request, program_id: ProgramId, conn: Connection,
                                state: State | None = None,
                                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict:
    readable(request, program_id)
    service = service_of(request)
    found = await _or_404(views.relationships(conn, program_id, service.settings, service.clock.now(), state=state,
                                              limit=limit))
    return {"program_id": program_id, "state": state, "relationships": found}


@router.get("/programs/{program_id}/export.csv")
async def export_csv(request: Request, program_id: ProgramId, conn: Connection) -> Response:
    readable(request, program_id)
    service = service_of(request)
    kpis = await _or_404(views.kpis(conn, program_id, service.settings, service.clock.now()))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(csv_rows(kpis))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in program_id)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="tandem-{safe}-kpis.csv"'})


class _Body(BaseModel):
    # Who asks is the authenticated caller: a body naming someone else is refused, not believed.
    model_config = ConfigDict(extra="forbid")


class NudgeBody(_Body):
    note: str | None = Field(None, max_length=1000)

    _clean = field_validator("note")(plain_text)


class EndBody(_Body):
    reason: str = Field(min_length=1, max_length=500)
    rematch: bool = False
    do_not_pair_again: bool = False

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        cleaned = plain_text(value)
        if not cleaned:
            raise ValueError("say why the relationship ends")
        return cleaned


def _accepted(done: actions.Done) -> dict:
    return {"accepted": True, "action": done.action, "relationship_id": done.relationship_id,
            "event_type": done.event_type, "event_id": done.event_id, "requested_by": done.requested_by}


@router.post("/programs/{program_id}/relationships/{relationship_id}/nudge", status_code=202)
async def nudge(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
                body: NudgeBody | None = None) -> dict:
    body = body or NudgeBody()
    return _accepted(await run_action(request, actions.nudge, program_id, relationship_id,
                                      note=body.note))


@router.post("/programs/{program_id}/relationships/{relationship_id}/end", status_code=202)
async def end(request: Request, program_id: ProgramId, relationship_id: RelationshipId, body: EndBody) -> dict:
    return _accepted(await run_action(request, actions.end, program_id, relationship_id, reason=body.reason,
                                      rematch=body.rematch, do_not_pair_again=body.do_not_pair_again))


@router.post("/programs/{program_id}/relationships/{relationship_id}/rematch", status_code=202)
async def rematch(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
                  body: _Body | None = None) -> dict:
    body = body or _Body()
    return _accepted(await run_action(request, actions.rematch, program_id, relationship_id))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def not_found(rest: str) -> None:
    raise HTTPException(404, "no such endpoint")
