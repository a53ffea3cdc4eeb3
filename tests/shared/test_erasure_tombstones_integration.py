"""An erasure that holds, in the participant replica every service keeps, on a real PostgreSQL:
each erased id keeps a tombstone (also one erased before it was ever seen), a later profile of
theirs is refused with the reason `erased`, and nothing turns `erased` back to false; a
transaction that read someone with `hold_what_is_read` is waited for by their erasure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest

from shared import replica
from shared.contracts import events as ev
from shared.db import create_pool, migrate
from shared.errors import PermanentError
from shared.people import ERASED_NAME, Participant
from shared.replica import PARTICIPANTS_TRACK, Erased, ParticipantDirectory
from tests.support.people import onboarded, person

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 9, 18, tzinfo=UTC)


class Uow:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.participants = ParticipantDirectory(conn)
        self.emitted: list = []
        self.scrubbed: list[tuple[str, ...]] = []

    def emit(self, data) -> None:
        self.emitted.append(data)

    def now(self) -> datetime:
        return NOW

    async def scrub_personal(self, strings: tuple[str, ...]) -> int:
        self.scrubbed.append(strings)
        return 0


@pytest.fixture
async def pool(database_url, tmp_path):
    pool = await create_pool(database_url, "replica")
    await migrate(pool, "replica", tmp_path, (PARTICIPANTS_TRACK,))
    yield pool
    await pool.close()


HANDLERS = {**replica.PARTICIPANT_SUBSCRIPTIONS, ev.ParticipantErased: replica.erasure_handler("test")}


async def apply(pool: asyncpg.Pool, event) -> Uow:
    async with pool.acquire() as conn, conn.transaction():
        uow = Uow(conn)
        await HANDLERS[type(event)](event, uow, None)
        return uow


def erased(pid: str) -> ev.ParticipantErased:
    return ev.ParticipantErased(participant_id=pid, program_id="prog-1", requested_at=NOW)


def named(pid: str, model=ev.ParticipantOnboarded, **fields):
    return model.model_validate({**person(pid=pid), "name": "İlkay Gündoğan", "email": f"{pid}@example.com",
                                 **fields})


async def row(pool: asyncpg.Pool, pid: str) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT name, email, active, erased FROM participants WHERE participant_id = $1",
                                   pid)


async def test_a_profile_after_the_erasure_is_refused_with_the_reason_erased_and_changes_nothing(pool):
    await apply(pool, named("ana"))
    uow = await apply(pool, erased("ana"))
    assert uow.scrubbed == [("İlkay Gündoğan", "ana@example.com")]
    assert [e.participant_id for e in uow.emitted] == ["ana"]
    for later in (named("ana", ev.ParticipantUpdated), named("ana"), onboarded(pid="ana")):
        with pytest.raises(Erased) as refused:
            await apply(pool, later)
        assert isinstance(refused.value, PermanentError) and str(refused.value) == "erased"
    assert dict(await row(pool, "ana")) == {"name": ERASED_NAME, "email": "erased@erased.invalid", "active": False,
                                            "erased": True}
    async with pool.acquire() as conn:
        people = ParticipantDirectory(conn)
        assert await people.in_program("prog-1") == [] and await people.active() == []
        assert await people.erased_among(["ana", "bo"]) == {"ana"}


async def test_an_erasure_before_the_onboarding_holds(pool):
    uow = await apply(pool, erased("bo"))
    assert uow.scrubbed == [] and [e.participant_id for e in uow.emitted] == ["bo"]  # completion said all the same
    assert await row(pool, "bo") is None
    with pytest.raises(Erased):
        await apply(pool, named("bo"))
    assert await row(pool, "bo") is None
    # Their choices arriving later are ignored (not waited for as "profile not here yet").
    await apply(pool, ev.ParticipantPreferencesChanged(participant_id="bo", program_id="prog-1", changed_at=NOW,
                                                       locale="tr"))
    async with pool.acquire() as conn:
        assert await ParticipantDirectory(conn).is_erased("bo")


async def test_an_erasure_twice_keeps_one_tombstone_and_says_done_twice(pool):
    await apply(pool, named("cy"))
    first, second = await apply(pool, erased("cy")), await apply(pool, erased("cy"))
    assert len(first.scrubbed) == 1 and second.scrubbed == [] and len(second.emitted) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM erased_participants WHERE participant_id = 'cy'") == 1


async def test_save_never_turns_an_erased_row_back_even_without_its_tombstone(pool):
    """The upsert itself keeps an erased row: a row erased some other way (a manual fix, a restore
    that lost the tombstones) is not brought back by a profile."""
    await apply(pool, named("dee"))
    await apply(pool, erased("dee"))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM erased_participants")
        with pytest.raises(Erased):
            await ParticipantDirectory(conn).save(Participant.from_profile(named("dee")))
    assert (await row(pool, "dee"))["erased"] is True


async def test_a_save_racing_an_erasure_of_someone_unknown_is_refused_or_erased(pool):
    """The erasure of someone not known yet and their onboarding, in two transactions at once: the
    person ends up either refused or erased, never stored in full."""
    for n in range(5):
        pid = f"racer-{n}"
        async with pool.acquire() as a, pool.acquire() as b:
            ta, tb = a.transaction(), b.transaction()
            await ta.start()
            await tb.start()
            erasing = Uow(a)
            await replica.erasure_handler("test")(erased(pid), erasing, None)
            saving = asyncio.create_task(ParticipantDirectory(b).save(Participant.from_profile(named(pid))))
            await waiting_for_a_lock(pool, b.get_server_pid())  # the erasure's, on the person's id
            await ta.commit()
            with pytest.raises(Erased):
                await saving
            await tb.rollback()
        assert await row(pool, pid) is None


async def waiting_for_a_lock(pool: asyncpg.Pool, pid: int) -> None:
    async with pool.acquire() as conn:
        for _ in range(500):
            if await conn.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) == "Lock":
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the save did not wait for the erasure")


async def test_the_migration_writes_tombstones_for_people_erased_before_it(database_url, tmp_path):
    pool = await create_pool(database_url, "replica_upgrade")
    try:
        # The first two participant migrations only, as a service had them before tombstones.
        old, service = tmp_path / "old", tmp_path / "service"
        old.mkdir()
        service.mkdir()
        for path in sorted(PARTICIPANTS_TRACK[1].glob("00[12]_*.sql")):
            (old / path.name).write_text(path.read_text())
        await migrate(pool, "replica_upgrade", service, (("participants", old),))
        async with pool.acquire() as conn:
            for pid in ("old-erased", "old-kept"):
                await conn.execute(
                    "INSERT INTO participants (participant_id, program_id, roles, name, email, locale, languages, "
                    "timezone, country, region, sector, seniority, skills, goals, mentor_capacity, "
                    "diverse_perspective, availability, channel, style, response_time_hours, erased) VALUES "
                    "($1, 'p', '{mentee}', 'x', 'x@example.com', 'en', '{en}', 'UTC', 'ZZ', 'r', 's', 1, '{}', "
                    "'{}', 0, false, '[]', 'email', 'direct', 48, $2)", pid, pid == "old-erased")
        await migrate(pool, "replica_upgrade", service, (PARTICIPANTS_TRACK,))
        async with pool.acquire() as conn:
            people = ParticipantDirectory(conn)
            assert await people.erased_among(["old-erased", "old-kept"]) == {"old-erased"}
    finally:
        await pool.close()



async def test_an_erasure_waits_for_a_transaction_that_read_the_person_and_then_forgets_what_it_wrote(pool):
    """A service that writes what it reads (an address into its mail) reads with `hold_what_is_read`:
    an erasure that comes while such a transaction is open waits for it, so the address it wrote
    is there to be forgotten. Without the hold the erasure runs first and the address outlives it."""
    await apply(pool, named("eve"))
    await pool.execute("CREATE TABLE mail (recipient_id text, address text)")

    async def forget_their_mail(uow, person: Participant) -> None:
        await uow.conn.execute("DELETE FROM mail WHERE recipient_id = $1", person.participant_id)

    async with pool.acquire() as writer, pool.acquire() as eraser:
        writing, erasing = writer.transaction(), eraser.transaction()
        await writing.start()
        (eve,) = (await ParticipantDirectory(writer, hold_what_is_read=True).many(["eve"])).values()
        await erasing.start()
        erasure = asyncio.create_task(
            replica.erasure_handler("test", also=forget_their_mail)(erased("eve"), Uow(eraser), None))
        await waiting_for_a_lock(pool, eraser.get_server_pid())  # on the row the writer read
        await writer.execute("INSERT INTO mail VALUES ($1, $2)", eve.participant_id, eve.email)
        await writing.commit()
        await erasure
        await erasing.commit()
    assert await pool.fetchval("SELECT count(*) FROM mail") == 0


async def test_a_held_read_that_waits_on_an_erasure_gets_the_erased_person(pool):
    await apply(pool, named("fay"))
    async with pool.acquire() as reader, pool.acquire() as eraser:
        erasing = eraser.transaction()
        await erasing.start()
        await replica.erasure_handler("test")(erased("fay"), Uow(eraser), None)
        async with reader.transaction():
            reading = asyncio.create_task(ParticipantDirectory(reader, hold_what_is_read=True).get("fay"))
            await waiting_for_a_lock(pool, reader.get_server_pid())
            await erasing.commit()
            fay = await reading
        assert fay is not None and fay.erased and fay.email != "fay@example.com"
