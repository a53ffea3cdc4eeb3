"""Least privilege: the local PostgreSQL wants a password, and each service's own role owns its
schema and can read nothing else; the owner (the operator) can read everything."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.matching.entrypoints.app import build_service as build_matching
from services.scheduling.entrypoints.app import build_service as build_scheduling
from shared.db import create_pool, migrate, provision
from tandem.local.passwords import role_passwords, server_store

pytestmark = pytest.mark.integration


async def test_a_service_role_reads_only_its_own_schema(database_url, infrastructure):
    services = ["matching", "scheduling"]
    # The passwords every stack on this server uses (roles belong to the server, not to one database).
    urls = await provision(database_url, services, role_passwords(services, server_store(database_url)))
    for name, build in (("matching", build_matching), ("scheduling", build_scheduling)):
        service = build()
        pool = await create_pool(urls[name], name)
        try:
            await migrate(pool, name, service.migrations, service.replicas)  # as the service's own role
        finally:
            await pool.close()

    matching = await asyncpg.connect(urls["matching"])
    try:
        assert await matching.fetchval("SELECT count(*) FROM matching.proposals") == 0
        for other in ("scheduling.meetings", "scheduling.participants"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await matching.fetch(f"SELECT * FROM {other}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await matching.execute("CREATE SCHEMA elsewhere")
    finally:
        await matching.close()
    owner = await asyncpg.connect(database_url)
    try:
        assert await owner.fetchval("SELECT count(*) FROM scheduling.meetings") == 0  # operators see it all
        assert await owner.fetchval("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'matching'") \
            == "tandem_matching"
    finally:
        await owner.close()


async def test_the_local_server_wants_a_password(infrastructure):
    if infrastructure.origin != "local processes":
        pytest.skip("the server comes from elsewhere")
    parts = urlsplit(infrastructure.database_url)
    without = urlunsplit((parts.scheme, f"{parts.username}@{parts.hostname}:{parts.port}", parts.path, "", ""))
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await asyncpg.connect(without)
    wrong = urlunsplit((parts.scheme, f"{parts.username}:wrong@{parts.hostname}:{parts.port}", parts.path, "", ""))
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_a_role_gets_the_password_it_is_given_and_none_without_one(database_url, infrastructure):
    with pytest.raises(ValueError, match="no password for the role of matching"):
        await provision(database_url, ["matching"], {})
