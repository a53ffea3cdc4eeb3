"""Quiet hours: a person's own night (or any span they choose), read on their own wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta
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
    # Walk forward to the end of the quiet span on the local clock; a DST jump can move it.
    end_day = local.date() if local.hour * 60 + local.minute < end else local.date() + timedelta(days=1)
    naive_end = datetime(end_day.year, end_day.month, end_day.day, end // 60, end % 60)
    resumes = naive_end.replace(tzinfo=zone)
    if resumes.astimezone(zone).replace(tzinfo=None) != naive_end:  # the end fell in a DST gap
        resumes = resumes + timedelta(hours=1)
    return max(now, resumes.astimezone(now.tzinfo))
