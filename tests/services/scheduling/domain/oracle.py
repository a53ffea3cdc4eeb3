"""Independent checks for the planner: read instants on each person's wall clock with zoneinfo.

Nothing here uses shared.availability or the planner's own interval code; windows are parsed from
their "HH:MM" text again, so a bug there cannot hide a bug in the planner.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import accumulate
from zoneinfo import ZoneInfo

from shared.contracts.profile import ParticipantProfile
from shared.people import Participant

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = 300  # test windows and busy times use whole 5 minutes; every offset is a multiple of 15


def profile(pid: str, zone: str, *windows: tuple[str, str, str] | tuple[tuple[str, ...], str, str],
            email: str | None = None, name: str | None = None) -> Participant:
    """profile("m", "Europe/Amsterdam", ("mon-fri", "09:00", "17:00"), (("sat",), "10:00", "12:00"))

    Validated as the onboarding contract, then converted at the edge like every profile that arrives.
    """
    rows = []
    for days, start, end in windows:
        if isinstance(days, str):
            first, _, last = days.partition("-")
            days = DAYS[DAYS.index(first):DAYS.index(last or first) + 1]
        rows.append({"days": list(days), "start": start, "end": end})
    return Participant.from_profile(ParticipantProfile.model_validate({
        "participant_id": pid, "program_id": "test", "roles": ["mentor"], "name": name or f"Person {pid}",
        "email": email or f"{pid}@example.com", "languages": ["en"], "timezone": zone, "country": "NL",
        "region": "EMEA", "sector": "engineering", "seniority": 5, "availability": rows,
    }))


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def available_at(person: Participant, instant: int) -> bool:
    """Is `instant` (epoch seconds) inside one of the person's windows on their own wall clock?"""
    local = datetime.fromtimestamp(instant, ZoneInfo(person.timezone))
    minute = local.hour * 60 + local.minute
    today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
    for window in person.availability:
        start, end = _minutes(window.start), _minutes(window.end)
        if end <= start:  # runs past midnight into the next day
            end += 1440
        if today in window.days and start <= minute < end:
            return True
        if end > 1440 and yesterday in window.days and minute < end - 1440:
            return True
    return False


def inside(person: Participant, start: int, end: int) -> bool:
    """Every minute of [start, end) is available: start, each minute after it, and end - 1 s.

    Window edges and clock changes fall on whole minutes, so this is exhaustive.
    """
    probes = list(range(start, end, 60)) + [end - 1]
    return all(available_at(person, t) for t in probes)


def local_clock(person: Participant, instant: int) -> str:
    return datetime.fromtimestamp(instant, ZoneInfo(person.timezone)).strftime("%H:%M")


def epoch(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


class Grid:
    """Availability of several people sampled every 5 minutes over [lo, hi), for range queries."""

    def __init__(self, people: list[Participant], lo: int, hi: int) -> None:
        self.lo = lo - lo % STEP
        self.n = -(-(hi - self.lo) // STEP)
        self.prefix = {}
        for person in people:
            flags = [available_at(person, self.lo + i * STEP) for i in range(self.n)]
            self.prefix[person.participant_id] = [0, *accumulate(flags)]

    def all_available(self, pid: str, start: int, end: int) -> bool:
        i, j = (start - self.lo) // STEP, -(-(end - self.lo) // STEP)
        if i < 0 or j > self.n:
            raise ValueError("query outside the sampled range")
        return self.prefix[pid][j] - self.prefix[pid][i] == j - i


def clashes(start: int, end: int, meetings: list[tuple[int, int]], buffer: int) -> bool:
    return any(start < b_end + buffer and b_start < end + buffer for b_start, b_end in meetings)
