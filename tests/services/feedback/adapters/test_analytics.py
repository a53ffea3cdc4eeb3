"""Feedback's analytics tables on a real PostgreSQL: what the dashboard counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.adapters.analytics import AnalyticsReader, AnalyticsRepository
from services.feedback.entrypoints.app import MIGRATIONS
from shared.db import create_pool, migrate
from shared.dead_letters import DeadLetter
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str):
    pool = await create_pool(database_url, "feedback", size=2)
    await migrate(pool, "feedback", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    try:
        yield pool
    finally:
        await pool.close()


def letter(offset: int, service: str, original: str | None, program_id: str | None = "prog-1") -> DeadLetter:
    return DeadLetter(topic="participants.v1", partition=0, offset=offset, reason="invalid", error_type="InvalidMessage",
                      service=service, failed_at=NOW, event_type="participant.onboarded", program_id=program_id,
                      original=original)


async def test_a_message_every_service_refused_is_one_dead_letter(pool):
    """Four services read participants.v1, and each dead-letters its own copy of a bad message: the
    program team sees one bad message, not four."""
    async with pool.acquire() as conn:
        repository, reader = AnalyticsRepository(conn), AnalyticsReader(conn)
        for offset, service in enumerate(("matching", "scheduling", "notifications", "feedback")):
            await repository.dead_letter(letter(offset, service, "participants.v1/2/7"))
            await repository.dead_letter(letter(10 + offset, service, "participants.v1/2/8", program_id=None))
        await repository.dead_letter(letter(20, "feedback", "participants.v1/1/3"))
        await repository.dead_letter(letter(21, "feedback", None))  # written before copies were told apart
        assert await reader.dead_letters("prog-1") == {"participants.v1": 3}
        assert await reader.dead_letters_without_program() == 1
        daily = [(name, n) for name, _, n in await reader.daily("prog-1", "Europe/Amsterdam", NOW.replace(day=1))
                 if name == "dead_letters"]
        assert daily == [("dead_letters", 3)]
