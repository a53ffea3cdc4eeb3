"""What the API and the dashboard routes share: the service, a database connection, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import Response

from services.feedback.entrypoints.web import auth
from services.feedback.entrypoints.web.auth import Caller
from services.feedback.service_layer import actions, views
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.service import Service

# Ids as the events carry them: any printable text (Postgres text cannot hold control characters).
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
ProgramId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
RelationshipId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]


def plain_text(value: str | None) -> str | None:
    """Free text from the team (a note, a reason): trimmed, no control characters but line breaks."""
    if value is None:
        return None
    if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value.strip() or None


def service_of(request: Request) -> Service:
    return request.app.state.service


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    service = service_of(request)
    if service.pool is None:
        raise HTTPException(503, "starting up")
    async with service.pool.acquire() as conn:
        yield conn


Connection = Annotated[asyncpg.Connection, Depends(connection)]


def caller_of(request: Request) -> Caller:
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    if caller is None:  # the Access middleware lets no one without a caller past the open pages
        raise HTTPException(401, "sign in first")
    return caller


def readable(request: Request, program_id: str) -> Caller:
    """The caller, when they may read the program; else 404, as for a program that does not exist
    (whether another team's program exists is none of their business)."""
    caller = caller_of(request)
    if not caller.grants.can_read(program_id):
        raise HTTPException(404, f"no program {program_id}")
    return caller


def actionable(request: Request, program_id: str) -> Caller:
    """The caller, when they may act on the program: readers who may not act get 403."""
    caller = readable(request, program_id)
    if not caller.grants.can_act(program_id):
        raise HTTPException(403, "your role on this program may read it, not act on it")
    return caller


async def visible_programs(request: Request, conn: asyncpg.Connection) -> list[dict]:
    """The programs the caller may read (everything else is as if it did not exist)."""
    grants = caller_of(request).grants
    return [p for p in await views.programs(conn, service_of(request).settings) if grants.can_read(p["program_id"])]


async def run_action(request: Request, action, *args, **kwargs) -> actions.Done:
    """Run one action in its own transaction, as the authenticated caller (when their role allows it on
    the program, args[0]); its command leaves through the outbox on commit."""
    kwargs["requested_by"] = actionable(request, args[0]).requested_by
    service = service_of(request)
    if service.pool is None:
        raise HTTPException(503, "starting up")
    try:
        uow: FeedbackUnitOfWork
        async with service.transaction() as uow:
            return await action(uow, *args, **kwargs)
    except actions.ActionRefused as refused:
        raise HTTPException(refused.status, refused.message) from None


def signed_in(request: Request, response: Response, cookie: str) -> Response:
    settings = service_of(request).settings
    response.set_cookie(auth.COOKIE, cookie, max_age=int(settings.ops_session_hours * 3600), path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


def local_page(target: str) -> str:
    """Only this dashboard's own pages are followed after sign-in (no open redirect)."""
    return target if target.startswith("/dashboard") and "//" not in target and "\\" not in target else "/dashboard"
