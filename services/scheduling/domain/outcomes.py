"""What the planner answers: a slot, or a plain-words reason why there is none."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.availability import from_epoch, to_epoch


@dataclass(frozen=True)
class Slot:
    """A meeting time; both ends are aware UTC datetimes, end exclusive."""

    start: datetime
    end: datetime

    @classmethod
    def from_epoch(cls, start: int, end: int) -> Slot:
        return cls(from_epoch(start), from_epoch(end))

    @property
    def interval(self) -> tuple[int, int]:
        return to_epoch(self.start), to_epoch(self.end)


@dataclass(frozen=True)
class Unplaceable:
    """No slot for this meeting (or this occurrence); the rest of the series may still work."""

    reason: str
    reason_code: str


@dataclass(frozen=True)
class Infeasible:
    """The pair can never meet under these rules: their windows do not overlap long enough."""

    reason: str
    reason_code: str


@dataclass(frozen=True)
class PlannedOccurrence:
    """Occurrence `number` (1 = kickoff) of a series, aimed at `target`."""

    number: int
    target: datetime
    outcome: Slot | Unplaceable
    # Participant ids whose wall-clock time matches the kickoff's (DST policy, see planner).
    kept_wall_clock: tuple[str, ...] = field(default=())
    comfortable: bool = False

    @property
    def slot(self) -> Slot | None:
        return self.outcome if isinstance(self.outcome, Slot) else None
