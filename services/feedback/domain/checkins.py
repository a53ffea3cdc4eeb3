"""Check-ins: on fixed days after establishment both people are asked how it goes.

The days come from the program settings in force when a check-in falls due (`checkin_first_day`,
then every `checkin_every_days`), and only inside the planned term (`term_days`): the end has its
own closure survey. An unanswered check-in is reminded once when it falls due, then, unanswered
after the reminder's grace, it counts against the relationship's health (health.py).

Rules where the issue is silent:
- a check-in is due at establishment + N days (the same time of day as the match);
- when several check-ins fell due while nobody asked (the service was away, the settings moved
  them earlier), only the latest is asked, and only while it is fresh (no older than its answer
  window); the earlier ones are skipped, never sent in a burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.programs import ProgramSettings


@dataclass(frozen=True)
class CheckinCadence:
    first_day: int
    every_days: int
    term_days: int

    @classmethod
    def of(cls, settings: ProgramSettings) -> CheckinCadence:
        return cls(settings.checkin_first_day, settings.checkin_every_days, settings.term_days)

    def due(self, established_at: datetime, number: int) -> datetime | None:
        """When check-in `number` (1, 2, ...) is due; None when that day is not inside the term."""
        day = self.first_day + (number - 1) * self.every_days
        return established_at + timedelta(days=day) if day < self.term_days else None


@dataclass
class CheckinSchedule:
    """How far one relationship's check-ins have got: `asked` so far, the next due at `next_at`."""

    relationship_id: str
    established_at: datetime
    asked: int = 0
    next_at: datetime | None = None

    def plan(self, cadence: CheckinCadence) -> None:
        self.next_at = cadence.due(self.established_at, self.asked + 1)

    def take_due(self, cadence: CheckinCadence, *, now: datetime, fresh_for: timedelta) -> int | None:
        """The number of the check-in to ask now, if any; the schedule moves past every one due."""
        latest: datetime | None = None
        while (due := cadence.due(self.established_at, self.asked + 1)) is not None and due <= now:
            self.asked += 1
            latest = due
        self.plan(cadence)
        return self.asked if latest is not None and now - latest <= fresh_for else None
