"""Postgres access: one pool per service, pinned to the service's own schema, and ordered migrations.

Migrations are `NNN_name.sql` files applied in order at start-up under an advisory lock, so several
replicas starting together apply each file exactly once. Each schema has its tracks, applied in
this order: the shared plumbing (`shared/sql/plumbing`: outbox, inbox), the shared replicas the
service keeps (`shared/sql/participants`, `shared/sql/pairs`), then the service's own tables.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg
import orjson

log = logging.getLogger(__name__)

PLUMBING_MIGRATIONS = Path(__file__).parent / "sql" / "plumbing"
Track = tuple[str, Path]  # (name, directory of NNN_name.sql files)
_MIGRATION_FILE = re.compile(r"^(\d{3})_[\w-]+\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_identifier(name: str) -> str:
    """The name, when it is safe to put in SQL as it is (schemas, roles, extensions are not parameters)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


def _json_bytes(value: object) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson will not write (an integer beyond 64 bits) json writes as before
        return json.dumps(value).encode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "json", encoder=lambda value: _json_bytes(value).decode(), decoder=orjson.loads, schema="pg_catalog"
    )
    # jsonb in binary format (a version byte, then the text), so COPY can write it too.
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda value: b"\x01" + _json_bytes(value),
        decoder=lambda data: orjson.loads(data[1:]),
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection going back to the pool keeps its session as it is: no `RESET ALL` round trip.

    asyncpg still rolls back a transaction left open. Nothing here changes session state that a
    later user could trip on: settings are `SET LOCAL` (they end with their transaction), the pool's
    own settings are given at connect, advisory locks are transaction-level (`migrate` unlocks its
    session lock, or drops the connection), and LISTEN has connections of its own (`shared.loops`)."""


async def create_pool(url: str, schema: str, *, size: int = 8) -> asyncpg.Pool:
    check_identifier(schema)
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"tandem-{schema}"},
    )


def _migration_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path}")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return found


async def migrate(
    pool: asyncpg.Pool, schema: str, service_migrations: Path, replicas: Sequence[Track] = ()
) -> list[str]:
    """Create the schema and apply pending migrations; returns the names applied now."""
    check_identifier(schema)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        # Session-level lock, held across the per-file transactions below.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"tandem.migrate.{schema}")
        try:
            # A service's own role owns its schema but may not create schemas (least privilege):
            # `provision` made it; only a deployment without roles gets it created here.
            if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                        track text NOT NULL, version int NOT NULL, name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, version))"""
            )
            for track, directory in (("plumbing", PLUMBING_MIGRATIONS), *replicas, ("service", service_migrations)):
                done = {
                    r["version"]
                    for r in await conn.fetch(f"SELECT version FROM {schema}.schema_migrations WHERE track = $1", track)
                }
                for version, path in _migration_files(directory):
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL search_path TO {schema}")
                        await conn.execute(path.read_text())
                        await conn.execute(
                            f"INSERT INTO {schema}.schema_migrations (track, version, name) VALUES ($1, $2, $3)",
                            track,
                            version,
                            path.name,
                        )
                    applied_now.append(f"{track}/{path.name}")
                    log.info("applied migration %s/%s to schema %s", track, path.name, schema)
        finally:
            await _unlock_or_drop(conn, f"tandem.migrate.{schema}")
    return applied_now


async def _unlock_or_drop(conn: asyncpg.Connection, name: str) -> None:
    """Release a session advisory lock; if that cannot be done (cancelled, connection lost), close the
    connection, which releases it: the pool keeps sessions as they are (`_keep_session`)."""
    try:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
    except BaseException:
        conn.terminate()
        raise


# --- one role per service ---------------------------------------------------------------------------

# Extensions a service's migrations use: trusted, but creating one needs the database owner.
EXTENSIONS = {"scheduling": ("btree_gist",)}


def role_of(service: str) -> str:
    return check_identifier(f"tandem_{service}")


def service_url(owner_url: str, service: str, password: str) -> str:
    """The owner's URL with the service's role and password in it."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{role_of(service)}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def provision(owner_url: str, services: Sequence[str], passwords: Mapping[str, str]) -> dict[str, str]:
    """Give each service a login role that owns its schema and nothing else; returns their URLs.

    Each role gets the password given for it (random, made by whoever deploys: `tandem db provision`
    takes them from TANDEM_DB_PASSWORD_<SERVICE>, `tandem up` keeps its own); none is derived.
    Idempotent, and safe when several processes do it at once (an advisory lock). The owner (the
    database's owner, who runs this) keeps access to everything, for operators.
    """
    missing = [s for s in services if not passwords.get(s)]
    if missing:
        raise ValueError(f"no password for the role of {', '.join(missing)}")
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('tandem.provision'))")
        try:
            database = await conn.fetchval("SELECT current_database()")
            for service in services:
                role, schema = role_of(service), check_identifier(service)
                password = passwords[service]
                if "'" in password:
                    raise ValueError(f"the password for {role} must not contain a quote")
                if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                    await conn.execute(f"ALTER ROLE {role} LOGIN PASSWORD '{password}'")
                else:
                    await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
                await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
                if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                    await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
                else:
                    await conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
                for extension in EXTENSIONS.get(service, ()):
                    await conn.execute(
                        f"CREATE EXTENSION IF NOT EXISTS {check_identifier(extension)} WITH SCHEMA {schema}"
                    )
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('tandem.provision'))")
    finally:
        await conn.close()
    return {service: service_url(owner_url, service, passwords[service]) for service in services}


async def create_database(server_url: str, prefix: str = "tandem") -> str:
    """A new, empty database on the server `server_url` points at; returns its URL.

    The demo, tests and benchmarks each get their own, so runs never see each other's data.
    """
    import uuid

    name = check_identifier(f"{prefix}_{uuid.uuid4().hex[:10]}")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return with_database(server_url, name)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`; its query (e.g. `?host=/run/postgresql`, a Unix socket) kept."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
