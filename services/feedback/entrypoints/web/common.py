"""What the API and the dashboard routes share: the service, a database connection, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Path, Request

from services.feedback.entrypoints.web.auth import Caller, valid_user
from services.feedback.service_layer import actions
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


def requested_by(request: Request, user: str | None = None) -> str:
    """`ops:<user>`: the name given (header X-Tandem-User or a `user` field), else the signed-in
    one; plain `ops` when there is neither."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    name = user or request.headers.get("x-tandem-user") or (caller.user if caller else None)
    if not name:
        return "ops"
    if not valid_user(name):
        raise HTTPException(400, "user: letters, digits and . _ @ - only, at most 64")
    return f"ops:{name}"


async def run_action(request: Request, action, *args, **kwargs) -> actions.Done:
    """Run one action in its own transaction; its command leaves through the outbox on commit."""
    service = service_of(request)
    if service.pool is None:
        raise HTTPException(503, "starting up")
    try:
        uow: FeedbackUnitOfWork
        async with service.transaction() as uow:
            return await action(uow, *args, **kwargs)
    except actions.ActionRefused as refused:
        raise HTTPException(refused.status, refused.message) from None
