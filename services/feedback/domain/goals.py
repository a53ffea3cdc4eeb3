"""A relationship's goals: the mentee's goals at `match.established`, each with progress 0-100.

Goals are terms, compared in one spelling (trimmed, lower case), as profiles spell them. A goal is
achieved the first time it reaches 100; that moment is kept, so it is celebrated once, even if
progress is later recorded lower and then 100 again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ACHIEVED = 100


def normalise(term: str) -> str:
    return term.strip().lower()


def goal_terms(terms) -> tuple[str, ...]:
    """Terms in one spelling, in their order, without blanks or repeats."""
    return tuple(dict.fromkeys(t for t in (normalise(x) for x in terms) if t))


@dataclass
class Goal:
    goal: str
    progress: int = 0
    updated_at: datetime | None = None  # None: no progress recorded yet
    achieved_at: datetime | None = None

    def record(self, progress: int, *, now: datetime) -> bool:
        """Take the latest progress; True when this makes the goal achieved for the first time."""
        self.progress, self.updated_at = progress, now
        if progress >= ACHIEVED and self.achieved_at is None:
            self.achieved_at = now
            return True
        return False

    @property
    def tracked(self) -> bool:
        return self.updated_at is not None
