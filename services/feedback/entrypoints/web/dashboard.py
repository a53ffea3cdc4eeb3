"""The program team's dashboard: server-rendered pages and the fragments htmx refreshes in place."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.feedback.domain.analytics import RELATIONSHIP_FILTERS
from services.feedback.entrypoints.web import auth
from services.feedback.entrypoints.web.common import (
    Connection,
    ProgramId,
    RelationshipId,
    plain_text,
    requested_by,
    run_action,
    service_of,
)
from services.feedback.service_layer import actions, views

router = APIRouter(prefix="/dashboard")
Filter = Literal["at_risk", "watch", "healthy", "new", "ended", "all"]
TILES = (
    ("People and matching", (("participants", "Participants"), ("mentors", "Mentors"), ("mentees", "Mentees"),
                             ("mentees_waiting", "Mentees waiting"), ("proposals_pending", "Proposals pending"),
                             ("proposals_declined", "Proposals declined"), ("proposals_expired", "Proposals expired"),
                             ("matches_established", "Matches established"),
                             ("relationships_active", "Active relationships"),
                             ("relationships_ended", "Ended relationships"))),
    ("Meetings", (("meetings_scheduled", "Meetings scheduled"), ("meetings_upcoming", "Upcoming"),
                  ("meetings_completed", "Held"), ("meetings_missed", "Missed"), ("meetings_cancelled", "Cancelled"),
                  ("meetings_unplaceable", "Unplaceable"))),
    ("Feedback and health", (("feedback_received", "Feedback received"), ("feedback_requested", "Feedback asked"),
                             ("at_risk", "At risk"), ("relationships_watch", "Watch"),
                             ("relationships_healthy", "Healthy"))),
    ("Goals and endings", (("goals_set", "Goals set"), ("goals_achieved", "Goals achieved"),
                           ("certificates_earned", "Certificates earned"))),
    ("Delivery", (("notifications_delivered", "Notifications delivered"),
                  ("notifications_failed", "Notifications failed"), ("dead_letters", "Dead letters"))),
)
RATES = (("attendance_rate", "Attendance rate", "percent"), ("response_rate", "Feedback response rate", "percent"),
         ("average_rating", "Average rating", "rating"), ("acceptance_rate", "Proposals accepted", "percent"))
FILTER_LABELS = {"at_risk": "At risk", "watch": "Watch", "healthy": "Healthy", "new": "Not yet assessed",
                 "ended": "Ended", "all": "All"}


def _render(request: Request, name: str, context: dict, status: int = 200, headers: dict | None = None):
    service = service_of(request)
    caller = request.scope.get("state", {}).get("caller")
    base = {"refresh_seconds": service.settings.dashboard_refresh_seconds,
            "signed_in": caller.user if caller else None,
            "token_required": service.settings.ops_token is not None}
    return request.app.state.templates.TemplateResponse(request, name, {**base, **context}, status_code=status,
                                                        headers=headers)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/dashboard"):
    return _render(request, "sign_in.html", {"next": _local(next), "failed": False})


@router.post("/sign-in")
async def sign_in(request: Request, token: Annotated[str, Form(max_length=500)] = "",
                  user: Annotated[str, Form(max_length=64)] = "", next: Annotated[str, Form()] = "/dashboard"):
    settings = service_of(request).settings
    user = user.strip() or "ops"
    if settings.ops_token is None:
        return RedirectResponse(_local(next), 303)
    if not auth.valid_user(user) or not auth.token_matches(token, settings.ops_token):
        return _render(request, "sign_in.html", {"next": _local(next), "failed": True, "user": user}, status=401)
    response = RedirectResponse(_local(next), 303)
    response.set_cookie(auth.COOKIE, auth.session_cookie(settings.ops_token, user),
                        max_age=int(settings.ops_session_hours * 3600), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/sign-out")
async def sign_out():
    response = RedirectResponse(auth.SIGN_IN, 303)
    response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request, conn: Connection, program: Annotated[str | None, Query(max_length=200)] = None):
    if program:
        return RedirectResponse(f"/dashboard/programs/{quote(program, safe='')}", 303)
    found = await views.programs(conn, service_of(request).settings)
    if found:
        return RedirectResponse(f"/dashboard/programs/{quote(found[0]['program_id'], safe='')}", 303)
    return _render(request, "empty.html", {"programs": []})


async def _program_context(request: Request, conn, program_id: str, state: str) -> dict:
    service = service_of(request)
    now = service.clock.now()
    try:
        kpis = await views.kpis(conn, program_id, service.settings, now)
        listed = await views.relationships(conn, program_id, service.settings, now,
                                           state=None if state == "all" else state, limit=200)
    except views.UnknownProgram:
        raise HTTPException(404, f"no program {program_id}") from None
    return {"kpis": kpis, "relationships": listed, "state": state, "program_id": program_id, "tiles": TILES,
            "rates": RATES, "filters": FILTER_LABELS, "now": now}


@router.get("/programs/{program_id}", response_class=HTMLResponse)
async def program_page(request: Request, program_id: ProgramId, conn: Connection, state: Filter = "at_risk"):
    context = await _program_context(request, conn, program_id, state)
    context["programs"] = await views.programs(conn, service_of(request).settings)
    return _render(request, "program.html", context)


@router.get("/programs/{program_id}/overview", response_class=HTMLResponse)
async def overview(request: Request, program_id: ProgramId, conn: Connection):
    return _render(request, "overview.html", await _program_context(request, conn, program_id, "all"))


@router.get("/programs/{program_id}/relationships", response_class=HTMLResponse)
async def relationship_list(request: Request, program_id: ProgramId, conn: Connection, state: Filter = "at_risk"):
    return _render(request, "relationships.html", await _program_context(request, conn, program_id, state))


async def _acted(request: Request, program_id: str, done: actions.Done) -> Response:
    if "hx-request" not in request.headers:
        return RedirectResponse(f"/dashboard/programs/{quote(program_id, safe='')}", 303)
    return _render(request, "action_result.html", {"done": done}, headers={"HX-Trigger": "relationships-changed"})


@router.post("/programs/{program_id}/relationships/{relationship_id}/nudge")
async def nudge(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
                note: Annotated[str, Form(max_length=1000)] = "", user: Annotated[str, Form(max_length=64)] = ""):
    done = await run_action(request, actions.nudge, program_id, relationship_id,
                            requested_by=requested_by(request, user or None), note=_text(note))
    return await _acted(request, program_id, done)


@router.post("/programs/{program_id}/relationships/{relationship_id}/end")
async def end(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
              reason: Annotated[str, Form(min_length=1, max_length=500)],
              rematch: Annotated[bool, Form()] = False, do_not_pair_again: Annotated[bool, Form()] = False,
              user: Annotated[str, Form(max_length=64)] = ""):
    reason = _text(reason)
    if not reason:
        raise HTTPException(400, "say why the relationship ends")
    done = await run_action(request, actions.end, program_id, relationship_id,
                            requested_by=requested_by(request, user or None), reason=reason, rematch=rematch,
                            do_not_pair_again=do_not_pair_again)
    return await _acted(request, program_id, done)


@router.post("/programs/{program_id}/relationships/{relationship_id}/rematch")
async def rematch(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
                  user: Annotated[str, Form(max_length=64)] = ""):
    done = await run_action(request, actions.rematch, program_id, relationship_id,
                            requested_by=requested_by(request, user or None))
    return await _acted(request, program_id, done)


def _text(value: str) -> str | None:
    try:
        return plain_text(value)
    except ValueError as bad:
        raise HTTPException(400, str(bad)) from None


def _local(target: str) -> str:
    """Only this dashboard's own pages are followed after sign-in (no open redirect)."""
    return target if target.startswith("/dashboard") and "//" not in target and "\\" not in target else "/dashboard"


assert set(RELATIONSHIP_FILTERS) <= set(FILTER_LABELS)
