"""Plain-words descriptions for reasons shown to program staff."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.contracts.profile import WEEKDAYS
from shared.people import Participant


def days_text(days: tuple[str, ...]) -> str:
    """('mon', 'tue', 'wed', 'fri') -> 'Mon-Wed, Fri' (runs in week order)."""
    index = sorted({WEEKDAYS.index(d) for d in days})
    runs: list[list[int]] = []
    for i in index:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    names = [WEEKDAYS[i].capitalize() for i in range(7)]
    return ", ".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}-{names[r[-1]]}" for r in runs)


def windows_text(person: Participant) -> str:
    """'09:00-17:00 Mon-Fri Europe/Amsterdam'; several windows joined with ' and '."""
    if not person.availability:
        return f"no availability given ({person.timezone})"
    parts = [f"{w.start}-{w.end} {days_text(w.days)}" for w in person.availability]
    return f"{' and '.join(parts)} {person.timezone}"


def pair_text(mentor: Participant, mentee: Participant) -> str:
    return f"mentor {windows_text(mentor)}, mentee {windows_text(mentee)}"


def utc_text(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC"


def _offset_minutes(zone: str, epoch: int) -> int:
    return int(datetime.fromtimestamp(epoch, ZoneInfo(zone)).utcoffset().total_seconds()) // 60  # type: ignore[union-attr]


def _hours(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}"


def clock_gap_note(a: Participant, b: Participant, reference: int | None, at: int) -> str:
    """Explains a shifted overlap when the two clocks moved apart (or together) since `reference`."""
    if reference is None:
        return ""
    then = _offset_minutes(a.timezone, reference) - _offset_minutes(b.timezone, reference)
    now = _offset_minutes(a.timezone, at) - _offset_minutes(b.timezone, at)
    if then == now:
        return ""
    return (f"; their clocks are {_hours(abs(now))} apart here instead of {_hours(abs(then))} at the kickoff, "
            f"because one of them changed (daylight saving time)")
