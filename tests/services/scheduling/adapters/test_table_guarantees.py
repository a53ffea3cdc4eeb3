"""Scheduling's tables' own guarantees on a real PostgreSQL, whatever path writes to them: nobody is
booked twice (the exclusion constraint, migration 003), also by two transactions at once, and the
busy-time reads find exactly the rows that overlap; a meeting that bookings or reminders name is
neither removed nor given another id (migration 004), also while another transaction books it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.scheduling.adapters.locks import Locks
from services.scheduling.adapters.repository import MeetingRepository
from services.scheduling.entrypoints.app import MIGRATIONS
from shared.availability import to_epoch
from shared.db import create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from tests.support.runtime import eventually

pytestmark = pytest.mark.integration
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
async def pool(database_url: str):
    pool = await create_pool(database_url, "scheduling", size=3)
    await migrate(pool, "scheduling", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    await pool.execute(
        "INSERT INTO pairs (relationship_id, program_id, mentor_id, mentee_id, established_at) "
        "VALUES ('r-1', 'p', 'm', 'e', $1)",
        T0,
    )
    await pool.execute("INSERT INTO series (relationship_id, occurrences) VALUES ('r-1', 12)")
    for n in range(1, 7):
        await pool.execute(
            """INSERT INTO meetings (meeting_id, relationship_id, program_id, occurrence, mentor_id, mentee_id,
                                     starts_at, ends_at) VALUES ($1, 'r-1', 'p', $2, 'm', 'e', $3, $3)""",
            f"mt-{n}",
            n,
            T0,
        )
    try:
        yield pool
    finally:
        await pool.close()


async def book(conn, meeting_id: str, person: str, start: datetime, end: datetime) -> None:
    await conn.execute(
        "INSERT INTO bookings (meeting_id, participant_id, during) VALUES ($1, $2, tstzrange($3, $4))",
        meeting_id,
        person,
        start,
        end,
    )


async def test_an_overlapping_booking_of_the_same_person_is_refused(pool):
    await book(pool, "mt-1", "ann", T0, T0 + HOUR)
    with pytest.raises(asyncpg.ExclusionViolationError):
        await book(pool, "mt-2", "ann", T0 + HOUR / 2, T0 + 2 * HOUR)
    with pytest.raises(asyncpg.ExclusionViolationError):  # inside
        await book(pool, "mt-2", "ann", T0 + HOUR / 4, T0 + HOUR / 2)


async def test_other_people_and_adjacent_times_are_not_refused(pool):
    await book(pool, "mt-1", "ann", T0, T0 + HOUR)
    await book(pool, "mt-1", "bob", T0, T0 + HOUR)  # the same time, someone else
    await book(pool, "mt-2", "ann", T0 + HOUR, T0 + 2 * HOUR)  # [s, e): touching is not overlapping
    await book(pool, "mt-3", "ann ", T0, T0 + HOUR)  # another id, however alike
    await book(pool, "mt-3", "Ann", T0, T0 + HOUR)
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 5


async def test_moving_a_booking_onto_another_is_refused(pool):
    await book(pool, "mt-1", "ann", T0, T0 + HOUR)
    await book(pool, "mt-2", "ann", T0 + 2 * HOUR, T0 + 3 * HOUR)
    with pytest.raises(asyncpg.ExclusionViolationError):
        await pool.execute(
            "UPDATE bookings SET during = tstzrange($1, $2) WHERE meeting_id = 'mt-2'", T0 + HOUR / 2, T0 + 2 * HOUR
        )


async def test_two_transactions_cannot_book_one_person_at_once(pool):
    """The second waits for the first, then fails: as across replicas."""
    first, second = await pool.acquire(), await pool.acquire()
    try:
        tx = first.transaction()
        await tx.start()
        await book(first, "mt-1", "ann", T0, T0 + HOUR)
        other = asyncio.create_task(book(second, "mt-2", "ann", T0 + HOUR / 2, T0 + 2 * HOUR))
        # The second insert is blocked behind the first transaction (it waits for the outcome).
        await waiting_for_a_lock(pool, second, "the second insert waiting")
        assert not other.done()
        await tx.commit()
        with pytest.raises(asyncpg.ExclusionViolationError):
            await other
    finally:
        await pool.release(first)
        await pool.release(second)


async def waiting_for_a_lock(pool, conn, what: str) -> None:
    """Until `conn`'s statement waits for a lock another transaction holds."""
    blocked = "SELECT true FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'"
    await eventually(lambda: pool.fetchval(blocked, conn.get_server_pid()), what=what)


async def test_busy_times_are_the_overlapping_bookings_of_those_asked(pool):
    await book(pool, "mt-1", "ann", T0, T0 + HOUR)
    await book(pool, "mt-2", "ann", T0 + 3 * HOUR, T0 + 4 * HOUR)
    await book(pool, "mt-1", "bob", T0, T0 + HOUR)
    await book(pool, "mt-3", "cat", T0 + HOUR, T0 + 2 * HOUR)
    async with pool.acquire() as conn:
        meetings = MeetingRepository(conn, Locks(conn, "scheduling.person", lambda: None))
        assert await meetings.busy(["ann", "cat"], T0 + HOUR / 2, T0 + 2 * HOUR) == {
            "ann": [(to_epoch(T0), to_epoch(T0 + HOUR))],
            "cat": [(to_epoch(T0 + HOUR), to_epoch(T0 + 2 * HOUR))],
        }
        assert await meetings.busy(["ann"], T0, T0 + 5 * HOUR, except_meeting="mt-1") == {
            "ann": [(to_epoch(T0 + 3 * HOUR), to_epoch(T0 + 4 * HOUR))]
        }
        assert await meetings.busy_many([(["ann", "bob"], T0 + HOUR, T0 + 3 * HOUR), (["bob"], T0, T0 + HOUR)]) == [
            {},
            {"bob": [(to_epoch(T0), to_epoch(T0 + HOUR))]},
        ]


# --- a meeting named by bookings or reminders stays (migration 004) ----------------------------------


async def remind(conn, meeting_id: str) -> None:
    await conn.execute(
        "INSERT INTO reminders (reminder_id, meeting_id, relationship_id, participant_ids, meeting_start, "
        "minutes_before, due_at) VALUES ($1, $2, 'r-1', '{m,e}', $3, 60, $3)",
        f"rem-{meeting_id}",
        meeting_id,
        T0,
    )


@pytest.mark.parametrize("child", [book, remind])
async def test_a_meeting_with_bookings_or_reminders_cannot_be_deleted(pool, child):
    if child is book:
        await book(pool, "mt-1", "ann", T0, T0 + HOUR)
    else:
        await remind(pool, "mt-1")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute("DELETE FROM meetings WHERE meeting_id IN ('mt-1', 'mt-2')")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute("TRUNCATE meetings")
    await pool.execute("DELETE FROM meetings WHERE meeting_id = 'mt-2'")  # nothing names it
    assert await pool.fetchval("SELECT count(*) FROM meetings") == 5
    await pool.execute("TRUNCATE bookings, reminders, meetings")  # together, as the tests' resets do


async def test_a_meeting_keeps_its_id(pool):
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute("UPDATE meetings SET meeting_id = 'mt-9' WHERE meeting_id = 'mt-1'")
    await pool.execute("UPDATE meetings SET meeting_id = 'mt-1', status = 'cancelled' WHERE meeting_id = 'mt-1'")


async def test_a_delete_waits_for_the_transaction_booking_the_meeting_then_is_refused(pool):
    """A path books a meeting it holds FOR NO KEY UPDATE; a delete of it waits, then sees the booking."""
    holder, deleter = await pool.acquire(), await pool.acquire()
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM meetings WHERE meeting_id = 'mt-1' FOR NO KEY UPDATE")
        await book(holder, "mt-1", "ann", T0, T0 + HOUR)
        delete = asyncio.create_task(deleter.execute("DELETE FROM meetings WHERE meeting_id = 'mt-1'"))
        await waiting_for_a_lock(pool, deleter, "the delete waiting")
        await tx.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await delete
    finally:
        await pool.release(holder)
        await pool.release(deleter)
