"""The programs replica's many-read (a wave's programs at once) gives what the one-program read
gives: the team's settings over the defaults, the defaults for a program nobody configured, in one
statement however many programs are asked."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared import programs
from shared.db import create_database, create_pool, migrate
from shared.settings import ServiceSettings

pytestmark = pytest.mark.integration
AT = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
DEFAULTS = ServiceSettings(cadence_days=14, response_window_hours=72, program_timezone="Europe/Amsterdam")
PILOT = programs.ConfiguredProgram(
    program_id="prog-1", name="Pilot", configured_at=AT, timezone="Europe/London", cadence_days=7,
    reminder_offsets_minutes=(1440, 60, 15), matching_weights={"goal_fit": 2.0},
    ops_contacts=(programs.OpsContact("Ann", "ann@example.com", "nl"),), organizer_email="team@pilot.example")
PLAIN = programs.ConfiguredProgram(program_id="prog-2", name="Plain", configured_at=AT)  # all else: the defaults


class CountingConnection:
    """The connection, counting the statements sent through it."""

    def __init__(self, conn) -> None:
        self.conn, self.statements = conn, 0

    def __getattr__(self, name: str):
        method = getattr(self.conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute"):
            self.statements += 1
        return method


@contextlib.asynccontextmanager
async def programs_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "programs"), "programs", size=2)
    try:
        await migrate(pool, "programs", Path(__file__).parent / "plumbing_migrations",
                      replicas=[programs.PROGRAMS_TRACK])
        yield pool
    finally:
        await pool.close()


async def test_get_many_answers_what_get_answers_for_each_program_asked(database_url):
    asked = ["prog-2", "nobody-set-me", "prog-1", "prog-1"]
    async with programs_database(database_url) as pool, pool.acquire() as conn:
        directory = programs.ProgramDirectory(conn)
        nothing_yet = await directory.get_many(asked, DEFAULTS)
        assert nothing_yet == {i: programs.ProgramSettings.resolve(i, None, DEFAULTS) for i in asked}
        assert not any(s.configured for s in nothing_yet.values())
        for program in (PILOT, PLAIN):
            await directory.save(program)
        one_at_a_time = {i: await directory.get(i, DEFAULTS) for i in asked}
        counting = CountingConnection(conn)
        many = await programs.ProgramDirectory(counting).get_many(iter(asked), DEFAULTS)  # type: ignore[arg-type]
        assert counting.statements == 1
    assert many == one_at_a_time and set(many) == {"prog-1", "prog-2", "nobody-set-me"}
    assert (many["prog-1"].timezone, many["prog-1"].cadence_days, many["prog-1"].response_window_hours) == (
        "Europe/London", 7, 72)
    assert many["prog-1"].ops_contacts[0].email == "ann@example.com" and many["prog-1"].configured
    assert many["prog-2"].configured and many["prog-2"].reminder_offsets_minutes == (1440, 60)
    unknown = many["nobody-set-me"]
    assert not unknown.configured and unknown.name == "nobody-set-me" and unknown.timezone == "Europe/Amsterdam"


async def test_configured_many_holds_only_the_configured_as_stored(database_url):
    async with programs_database(database_url) as pool, pool.acquire() as conn:
        directory = programs.ProgramDirectory(conn)
        for program in (PILOT, PLAIN):
            await directory.save(program)
        found = await directory.configured_many(["prog-1", "nobody-set-me", "prog-2"])
        assert found == {"prog-1": await directory.configured("prog-1"), "prog-2": await directory.configured("prog-2")}
        assert found["prog-1"] == PILOT and found["prog-2"] == PLAIN
        assert await directory.configured_many([]) == {} and await directory.get_many([], DEFAULTS) == {}
