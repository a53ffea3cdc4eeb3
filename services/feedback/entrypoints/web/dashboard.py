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
    caller_of,
    plain_text,
    readable,
    run_action,
    local_page,
    service_of,
    signed_in,
    visible_programs,
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
            "signed_in": caller.shown_as if caller and caller.by_cookie else None}
    return request.app.state.templates.TemplateResponse(request, name, {**base, **context}, status_code=status,
                                                        headers=headers)


def _sign_in_context(request: Request, next: str, failed: bool = False, sso_failed: bool = False) -> dict:
    settings = service_of(request).settings
    sessions = request.app.state.sessions
    return {"next": local_page(next), "failed": failed, "sso_failed": sso_failed,
            "sso": settings.sso and sessions.enabled, "provider": settings.oidc_provider_name,
            "break_glass": settings.ops_token is not None and sessions.enabled}


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/dashboard"):
    return _render(request, "sign_in.html", _sign_in_context(request, next))


@router.post("/sign-in")
async def sign_in(request: Request, token: Annotated[str, Form(max_length=500)] = "",
                  next: Annotated[str, Form(max_length=2000)] = "/dashboard"):
    """The break-glass token form: a session as tandem-admin, named `ops:break-glass` on actions."""
    settings = service_of(request).settings
    sessions = request.app.state.sessions
    if settings.ops_token is None or not sessions.enabled or not token \
            or not auth.token_matches(token, settings.ops_token):
        return _render(request, "sign_in.html", _sign_in_context(request, next, failed=True), status=401)
    return signed_in(request, RedirectResponse(local_page(next), 303), sessions.for_break_glass())


@router.post("/sign-out")
async def sign_out(request: Request):
    response = RedirectResponse(auth.SIGN_IN, 303)
    response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request, conn: Connection, program: Annotated[str | None, Query(max_length=200)] = None):
    if program:
        return RedirectResponse(f"/dashboard/programs/{quote(program, safe='')}", 303)
    found = await visible_programs(request, conn)
    if found:
        return RedirectResponse(f"/dashboard/programs/{quote(found[0]['program_id'], safe='')}", 303)
    return _render(request, "empty.html", {"programs": [], "has_roles": caller_of(request).grants.any})


async def _program_context(request: Request, conn, program_id: str, state: str) -> dict:
    caller = readable(request, program_id)
    service = service_of(request)
    now = service.clock.now()
    try:
        kpis = await views.kpis(conn, program_id, service.settings, now)
        listed = await views.relationships(conn, program_id, service.settings, now,
                                           state=None if state == "all" else state, limit=200)
    except views.UnknownProgram:
        raise HTTPException(404, f"no program {program_id}") from None
    return {"kpis": kpis, "relationships": listed, "state": state, "program_id": program_id, "tiles": TILES,
            "rates": RATES, "filters": FILTER_LABELS, "now": now, "can_act": caller.grants.can_act(program_id)}


@router.get("/programs/{program_id}", response_class=HTMLResponse)
async def program_page(request: Request, program_id: ProgramId, conn: Connection, state: Filter = "at_risk"):
    context = await _program_context(request, conn, program_id, state)
    context["programs"] = await visible_programs(request, conn)
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
                note: Annotated[str, Form(max_length=1000)] = ""):
    done = await run_action(request, actions.nudge, program_id, relationship_id, note=_text(note))
    return await _acted(request, program_id, done)


@router.post("/programs/{program_id}/relationships/{relationship_id}/end")
async def end(request: Request, program_id: ProgramId, relationship_id: RelationshipId,
              reason: Annotated[str, Form(min_length=1, max_length=500)],
              rematch: Annotated[bool, Form()] = False, do_not_pair_again: Annotated[bool, Form()] = False):
    reason = _text(reason)
    if not reason:
        raise HTTPException(400, "say why the relationship ends")
    done = await run_action(request, actions.end, program_id, relationship_id, reason=reason, rematch=rematch,
                            do_not_pair_again=do_not_pair_again)
    return await _acted(request, program_id, done)


@router.post("/programs/{program_id}/relationships/{relationship_id}/rematch")
async def rematch(request: Request, program_id: ProgramId, relationship_id: RelationshipId):
    done = await run_action(request, actions.rematch, program_id, relationship_id)
    return await _acted(request, program_id, done)


def _text(value: str) -> str | None:
    try:
        return plain_text(value)
    except ValueError as bad:
        raise HTTPException(400, str(bad)) from None


assert set(RELATIONSHIP_FILTERS) <= set(FILTER_LABELS)
