"""Postgres access: one pool per service, pinned to the service's own schema, and ordered migrations.

Migrations are `NNN_name.sql` files applied in order at start-up under an advisory lock, so several
replicas starting together apply each file exactly once. Two tracks per schema: the shared plumbing
(`shared/sql`: outbox, inbox) and the service's own tables.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

PLUMBING_MIGRATIONS = Path(__file__).parent / "sql"
_MIGRATION_FILE = re.compile(r"^(\d{3})_[\w-]+\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    # jsonb in binary format (a version byte, then the text), so COPY can write it too.
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary",
        encoder=lambda value: b"\x01" + json.dumps(value).encode(),
        decoder=lambda data: json.loads(data[1:]),
    )


async def create_pool(url: str, schema: str, *, size: int = 8) -> asyncpg.Pool:
    _check_identifier(schema)
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=size,
        init=_init_connection,
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


async def migrate(pool: asyncpg.Pool, schema: str, service_migrations: Path) -> list[str]:
    """Create the schema and apply pending migrations; returns the names applied now."""
    _check_identifier(schema)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        # Session-level lock, held across the per-file transactions below.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"tandem.migrate.{schema}")
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                        track text NOT NULL, version int NOT NULL, name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, version))"""
            )
            for track, directory in (("plumbing", PLUMBING_MIGRATIONS), ("service", service_migrations)):
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
                            track, version, path.name,
                        )
                    applied_now.append(f"{track}/{path.name}")
                    log.info("applied migration %s/%s to schema %s", track, path.name, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"tandem.migrate.{schema}")
    return applied_now


async def create_database(server_url: str, prefix: str = "tandem") -> str:
    """A new, empty database on the server `server_url` points at; returns its URL.

    The demo, tests and benchmarks each get their own, so runs never see each other's data.
    """
    import uuid

    name = _check_identifier(f"{prefix}_{uuid.uuid4().hex[:10]}")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"
