"""The program clock. Real time by default; the demo and tests can set its origin and speed it up.

All time-based behaviour (proposal expiry, reminders, meetings held, quiet hours) asks this clock,
never `datetime.now()`, so a whole program can run in minutes. Every process of one deployment gets
the same origin and speed through the environment, so they agree on "now".
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class ProgramClock:
    def __init__(self, start: datetime | None = None, origin: float | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self.speed = speed
        self._origin_real = origin if origin is not None else time.time()
        self._origin_program = (start or datetime.fromtimestamp(self._origin_real, UTC)).astimezone(UTC)

    @classmethod
    def from_settings(cls, settings) -> ProgramClock:
        return cls(settings.clock_start, settings.clock_origin, settings.clock_speed)

    def now(self) -> datetime:
        elapsed = (time.time() - self._origin_real) * self.speed
        return self._origin_program + timedelta(seconds=elapsed)

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds until the program clock reaches `moment` (0 if it already has)."""
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)

    def real_seconds(self, program_seconds: float) -> float:
        return program_seconds / self.speed

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(self.real_seconds_until(moment))

    def env(self) -> dict[str, str]:
        """Environment that makes another process share this clock."""
        return {
            "TANDEM_CLOCK_START": self._origin_program.isoformat(),
            "TANDEM_CLOCK_ORIGIN": repr(self._origin_real),
            "TANDEM_CLOCK_SPEED": repr(self.speed),
        }
