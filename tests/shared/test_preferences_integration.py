"""A person's own choices in the participant replica on a real PostgreSQL: the migration, the
handlers every service shares, the lookups, erasure and the bulk load that leaves the choices out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared import replica
from shared.contracts import events as ev
from shared.db import create_pool, migrate
from shared.errors import NotYetKnown
from shared.people import Participant
from shared.replica import PARTICIPANT_COLUMNS, PARTICIPANTS_TRACK, ParticipantDirectory, participant_values
from tests.support.people import onboarded, person

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 9, 18, tzinfo=UTC)


@dataclass
class Uow:
    participants: ParticipantDirectory


@pytest.fixture
async def pool(database_url, tmp_path):
    pool = await create_pool(database_url, "replica")
    await migrate(pool, "replica", tmp_path, (PARTICIPANTS_TRACK,))  # the replica's track alone
    yield pool
    await pool.close()


async def apply(pool: asyncpg.Pool, *events) -> None:
    """Each event in its own transaction, by the handler the services share."""
    for event in events:
        async with pool.acquire() as conn, conn.transaction():
            await replica.PARTICIPANT_SUBSCRIPTIONS[type(event)](event, Uow(ParticipantDirectory(conn)), None)


async def read(pool: asyncpg.Pool, pid: str) -> Participant:
    async with pool.acquire() as conn:
        return await ParticipantDirectory(conn).get(pid)


def preferences(pid: str, *, at: datetime = NOW, **fields) -> ev.ParticipantPreferencesChanged:
    return ev.ParticipantPreferencesChanged.model_validate(
        {"participant_id": pid, "program_id": "prog-1", "changed_at": at, **fields})


async def test_onboarded_then_preferences_then_an_hris_update_reads_back_with_the_choices(pool):
    await apply(pool,
                onboarded(pid="ana", locale="en-GB", style="direct", quiet=("22:00", "07:00"), channel="slack",
                          webhook_url="https://hooks.slack.com/services/T0/B0/x"),
                preferences("ana", muted=["reminders", "nudges"], channel="email", quiet_hours=None, locale="pt-BR",
                            style="indirect"),
                ev.ParticipantUpdated.model_validate(person(
                    pid="ana", locale="de-DE", style="direct", quiet=("23:00", "06:00"), channel="teams",
                    webhook_url="https://example.webhook.office.com/x", seniority=8)))
    ana = await read(pool, "ana")
    assert ana.seniority == 8 and ana.communication.webhook_url == "https://example.webhook.office.com/x"
    assert (ana.locale, ana.communication.style, ana.communication.channel) == ("pt-BR", "indirect", "email")
    assert (ana.communication.quiet_start, ana.communication.quiet_end) == (None, None)
    assert ana.muted == frozenset({"reminders", "nudges"}) and ana.choices.changed_at == NOW
    async with pool.acquire() as conn:
        people = ParticipantDirectory(conn)
        assert await people.require("ana") == [ana]
        assert await people.many(["ana"]) == {"ana": ana}
        assert await people.in_program("prog-1") == [ana] == await people.active()
        # The profile columns keep what the HRIS said; the choices have columns of their own.
        row = await conn.fetchrow("SELECT locale, style, channel, quiet_start, preferences, muted, "
                                  "preferences_changed_at FROM participants WHERE participant_id = 'ana'")
    assert (row["locale"], row["style"], row["channel"], row["quiet_start"]) == ("de-DE", "direct", "teams", "23:00")
    assert row["preferences"] == {"channel": "email", "quiet_hours": None, "locale": "pt-BR", "style": "indirect"}
    assert sorted(row["muted"]) == ["nudges", "reminders"] and row["preferences_changed_at"] == NOW


async def test_older_choices_are_ignored_unknown_people_wait_and_erasure_forgets_the_choices(pool):
    await apply(pool, onboarded(pid="ana", locale="en-GB"),
                preferences("ana", muted=["checkins"], locale="pt-BR", channel="chat"),
                preferences("ana", at=NOW - timedelta(hours=1), locale="fr-FR"))
    ana = await read(pool, "ana")
    assert (ana.locale, ana.muted, ana.communication.channel) == ("pt-BR", frozenset({"checkins"}), "email")

    with pytest.raises(NotYetKnown):
        await apply(pool, preferences("nobody"))

    async with pool.acquire() as conn, conn.transaction():
        assert (await ParticipantDirectory(conn).erase("ana")).locale == "pt-BR"
    await apply(pool, preferences("ana", at=NOW + timedelta(days=1), muted=["nudges"], locale="pt-BR"))
    gone = await read(pool, "ana")
    assert gone.erased and gone.choices is None and gone.muted == frozenset() and gone.locale == "en"
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT preferences, muted, preferences_changed_at FROM participants")
    assert (row["preferences"], row["muted"], row["preferences_changed_at"]) == (None, [], None)


async def test_a_bulk_load_of_profiles_leaves_the_choices_to_their_defaults(pool):
    people = [Participant.from_profile(onboarded(pid=f"p-{i}")) for i in range(3)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("participants", columns=PARTICIPANT_COLUMNS,
                                         records=[participant_values(p) for p in people])
    await apply(pool, preferences("p-1", muted=["reminders"]))
    assert await read(pool, "p-0") == people[0]
    assert (await read(pool, "p-1")).muted == frozenset({"reminders"})
