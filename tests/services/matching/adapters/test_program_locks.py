"""`ProgramRepository.lock` on a real PostgreSQL: program locks are taken in one order, ascending lock
key, so a transaction waits for a busy program that sorts after everything it holds, and only tries
one that sorts before (failing fast with ProgramBusy rather than risking a deadlock)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.matching.adapters.repository import ProgramBusy, ProgramRepository
from services.matching.entrypoints.app import MIGRATIONS
from shared.db import create_database, create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PARTICIPANTS_TRACK

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(await create_database(database_url, "locks"), "matching", size=4)
    try:
        await migrate(pool, "matching", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK))
        yield pool
    finally:
        await pool.close()


async def low_and_high(pool) -> tuple[str, str]:
    """Two programs, the first with the lower lock key."""
    keys = {p: await pool.fetchval("SELECT hashtext('tandem.matching.' || $1)", p) for p in ("prog-a", "prog-b")}
    low, high = sorted(keys, key=keys.__getitem__)
    return low, high


@contextlib.asynccontextmanager
async def holding(pool, program_id: str):
    """Another transaction holding a program's lock until the block ends."""
    async with pool.acquire() as conn, conn.transaction():
        await ProgramRepository(conn).lock(program_id)
        yield


async def waiting_for_a_lock(pool) -> None:
    """Until some session waits for an advisory lock."""
    while not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"):
        await asyncio.sleep(0.01)


async def test_a_program_after_those_held_is_waited_for(pool):
    low, high = await low_and_high(pool)
    async with pool.acquire() as conn, conn.transaction():
        mine = ProgramRepository(conn)
        await mine.lock(low)
        async with holding(pool, high):
            later = asyncio.create_task(mine.lock(high))
            await waiting_for_a_lock(pool)
            assert not later.done()
        await later  # taken once the other transaction is over


async def test_a_program_before_those_held_is_only_tried(pool):
    low, high = await low_and_high(pool)
    async with pool.acquire() as conn, conn.transaction():
        mine = ProgramRepository(conn)
        await mine.lock(high)
        async with holding(pool, low):
            with pytest.raises(ProgramBusy):
                await mine.lock(low)


async def test_several_programs_at_once_are_all_waited_for_in_order(pool):
    low, high = await low_and_high(pool)
    async with pool.acquire() as conn, conn.transaction():
        mine = ProgramRepository(conn)
        async with holding(pool, low):
            both = asyncio.create_task(mine.lock(high, low))
            await waiting_for_a_lock(pool)
            assert not both.done()
        await both
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()")
        assert held == 2
