"""Mentees told that no mentor fits right now, on a real PostgreSQL: told once per stretch of waiting,
also when two replicas take two unavailabilities of one mentee at the same time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.notifications.adapters.waiting import WaitingMentees
from services.notifications.entrypoints.app import MIGRATIONS
from shared.db import create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "notifications", size=4)
    await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    yield pool
    await pool.close()


async def tell(pool, mentee_id: str, event_id: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        return await WaitingMentees(conn).tell(mentee_id, "prog-1", cause_event_id=event_id, at=NOW)


async def test_told_once_until_no_longer_waiting(pool):
    assert await tell(pool, "ana", "u-1")
    assert not await tell(pool, "ana", "u-2")
    assert await tell(pool, "bram", "u-3")  # another mentee's own stretch
    async with pool.acquire() as conn:
        await WaitingMentees(conn).no_longer_waiting(["ana", "chen"])
        assert await conn.fetchval("SELECT cause_event_id FROM waiting_mentees WHERE mentee_id = 'bram'") == "u-3"
    assert await tell(pool, "ana", "u-4")


async def test_two_replicas_at_once_tell_once(pool):
    results = await asyncio.gather(*(tell(pool, "ana", f"u-{i}") for i in range(4)))
    assert sorted(results) == [False, False, False, True]
