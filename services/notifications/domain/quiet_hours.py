"""Quiet hours: a person's own night (or any span they choose), read on their own wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.contracts.profile import parse_clock


def _inside(minute: int, start: int, end: int) -> bool:
    if start == end:
        return False
    return start <= minute < end if start < end else minute >= start or minute < end


def next_allowed(now: datetime, timezone: str, quiet_start: str | None, quiet_end: str | None) -> datetime:
    """`now` if it is outside the quiet hours, else the moment they end (in UTC, as `now`'s zone)."""
    if not quiet_start or not quiet_end:
        return now
    start, end = parse_clock(quiet_start) % 1440, parse_clock(quiet_end) % 1440
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    if not _inside(local.hour * 60 + local.minute, start, end):
        return now
    end_day = local.date() if local.hour * 60 + local.minute < end else local.date() + timedelta(days=1)
    resumes = _first_instant_at(datetime(end_day.year, end_day.month, end_day.day, end // 60, end % 60), zone)
    return max(now, resumes.astimezone(now.tzinfo))


def _first_instant_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant whose wall-clock time in `zone` is `wall` or, if a DST jump skips it, just after."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped by a jump forward: quiet hours end at the jump itself, found by bisection to the second.
    lo, hi = sorted((int(wall.replace(tzinfo=zone, fold=f).timestamp()) for f in (0, 1)))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == datetime.fromtimestamp(lo, zone).utcoffset():
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, zone)
