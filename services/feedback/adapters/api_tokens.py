"""Machines' API tokens (migration 005_api_tokens.sql): made and revoked by `tandem token`, checked by
the web app on every bearer request.

A token is `tandem_<43 random url-safe characters>` (256 bits); only its SHA-256 is stored, so a copy
of the database gives nobody a working token, and a hash of that much entropy needs no salt.
Expiry is in real time (the database's clock), not the program clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.feedback.domain.access import Grants

PREFIX = "tandem_"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    name: str | None
    role: str
    program_id: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Issued:
    token: str  # shown once, never stored
    about: ApiToken


class ApiTokens:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(self, *, role: str, program_id: str | None, lifetime: timedelta, created_by: str,
                     name: str | None = None) -> Issued:
        Grants.of_role(role, program_id)  # refuses a role/program pair that means nothing
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = "tok_" + secrets.token_hex(6)
        row = await self.conn.fetchrow(
            """INSERT INTO api_tokens (token_id, name, token_sha256, role, program_id, created_by, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) RETURNING *""",
            token_id, name, digest(token), role, program_id, created_by, lifetime)
        return Issued(token, _token(row))

    async def revoke(self, token_id: str) -> ApiToken | None:
        """Revoked now (or kept as revoked when it already was); None when there is no such token."""
        row = await self.conn.fetchrow(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1 RETURNING *",
            token_id)
        return _token(row) if row else None

    async def all(self) -> list[ApiToken]:
        return [_token(r) for r in await self.conn.fetch("SELECT * FROM api_tokens ORDER BY created_at, token_id")]

    async def valid(self, token: str) -> ApiToken | None:
        """The token's record when it is known, not revoked and not expired."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        row = await self.conn.fetchrow(
            "SELECT * FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL AND expires_at > now()",
            digest(token))
        return _token(row) if row else None


def _token(row: asyncpg.Record) -> ApiToken:
    return ApiToken(token_id=row["token_id"], name=row["name"], role=row["role"], program_id=row["program_id"],
                    created_by=row["created_by"], created_at=row["created_at"], expires_at=row["expires_at"],
                    revoked_at=row["revoked_at"])
