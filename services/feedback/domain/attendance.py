"""Missed meetings in a row: the latest meetings (by start) that did not happen, up to the last one
held. Two or more make a streak: both people get one kind, non-blaming nudge per streak, and the
relationship is on watch at best until a meeting is held again (health.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .health import MISSED_IN_A_ROW


@dataclass(frozen=True)
class Streak:
    count: int = 0
    first_meeting_id: str | None = None  # the first miss of the streak: what makes it this streak

    @property
    def worth_a_nudge(self) -> bool:
        return self.count >= MISSED_IN_A_ROW


def trailing_misses(outcomes: Iterable[tuple[str, bool]]) -> Streak:
    """(meeting_id, held) in meeting order -> the streak of misses at the end."""
    streak = Streak()
    for meeting_id, held in outcomes:
        if held:
            streak = Streak()
        else:
            streak = Streak(streak.count + 1, streak.first_meeting_id or meeting_id)
    return streak
