"""Program settings for many programs in one read (a wave's relationships span a few programs)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from shared.programs import _COLUMNS, ProgramDefaults, ProgramSettings, _row


class ProgramSettingsReader:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get_many(self, program_ids: Iterable[str], defaults: ProgramDefaults) -> dict[str, ProgramSettings]:
        """`ProgramDirectory.get` for several programs, in one statement, by program id."""
        ids = sorted(set(program_ids))
        rows = await self.conn.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM programs WHERE program_id = ANY($1::text[])", ids)
        configured = {r["program_id"]: _row(r) for r in rows}
        return {i: ProgramSettings.resolve(i, configured.get(i), defaults) for i in ids}
