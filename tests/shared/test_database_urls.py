"""Database URLs as the plumbing rewrites them (shared/db.py): a server reached over TCP or, where
Postgres is local, over its Unix socket (`?host=/socket/dir`), keeps its way in."""

from __future__ import annotations

import pytest

from shared.db import service_url, with_database


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://owner:pw@127.0.0.1:5432/tandem", "postgresql://owner:pw@127.0.0.1:5432/t_1"),
    ("postgresql://owner:pw@db.internal/tandem?sslmode=require", "postgresql://owner:pw@db.internal/t_1?sslmode=require"),
    ("postgresql://owner:pw@/tandem?host=/run/postgresql&port=5433",
     "postgresql://owner:pw@/t_1?host=/run/postgresql&port=5433"),
])
def test_a_new_database_is_reached_the_way_the_server_was(url, expected):
    assert with_database(url, "t_1") == expected


def test_a_service_role_keeps_the_unix_socket_of_the_owner_url():
    assert service_url("postgresql://owner:pw@/tandem?host=/run/postgresql", "feedback", "s3cret/+") == \
        "postgresql://tandem_feedback:s3cret%2F%2B@/tandem?host=/run/postgresql"


@pytest.mark.integration
async def test_a_connection_goes_back_to_the_pool_without_a_reset_and_without_leftover_session_state(database_url):
    """No `RESET ALL` round trip on release; what a transaction set (SET LOCAL, an advisory xact lock)
    ends with it, and the pool's own settings (search_path) stay."""
    from shared.db import create_pool

    pool = await create_pool(database_url, "public", size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = '5s'")
                await conn.execute("SELECT pg_advisory_xact_lock(42)")
        async with pool.acquire() as conn:  # the same connection (a pool of one)
            assert await conn.fetchval("SHOW statement_timeout") == "0"
            assert await conn.fetchval("SHOW search_path") == "public"
            assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                       "AND pid = pg_backend_pid()") == 0
            # json and jsonb go through orjson: UTF-8 as it is, keys made strings as json did
            assert await conn.fetchval("SELECT $1::jsonb", {"name": "Zoë", 2: [1.5, None]}) == \
                {"name": "Zoë", "2": [1.5, None]}
        assert not [q for q in sent if "RESET" in q or "pg_advisory_unlock_all" in q]
    finally:
        await pool.close()
