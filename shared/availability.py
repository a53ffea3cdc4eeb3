"""Availability windows (wall-clock, in a person's own IANA zone) as exact UTC intervals.

An instant is available when, read on the person's own wall clock, it falls on a listed weekday
between the window's start and end. Across a DST change that makes a window shorter (spring
forward) or longer (fall back); zones with 30- or 45-minute shifts (Lord Howe, Chatham) and odd
offsets (Kathmandu, St John's) need no special case because we never assume whole hours.

Method: split the range into segments of constant UTC offset (transitions found by probing
zoneinfo and bisecting to the second); inside a segment wall time is UTC plus a constant, so each
window maps to one UTC interval. Intervals are integer seconds since the Unix epoch, half-open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.contracts.profile import WEEKDAYS
from shared.people import Window

Interval = tuple[int, int]
DAY = 86_400
_PROBE_STEP = 3 * 3600  # no zone changes its offset twice within three hours


def _offset_at(zone: ZoneInfo, instant: int) -> int:
    return int(datetime.fromtimestamp(instant, zone).utcoffset().total_seconds())  # type: ignore[union-attr]


@lru_cache(maxsize=4096)
def offset_segments(timezone: str, start: int, end: int) -> tuple[tuple[int, int, int], ...]:
    """[(segment_start, segment_end, utc_offset_seconds)] covering [start, end)."""
    zone = ZoneInfo(timezone)
    segments: list[tuple[int, int, int]] = []
    seg_start, offset = start, _offset_at(zone, start)
    probe = start
    while probe < end:
        nxt = min(probe + _PROBE_STEP, end)
        nxt_offset = _offset_at(zone, nxt) if nxt < end else offset
        if nxt_offset != offset:
            lo, hi = probe, nxt  # offset(lo) == offset, offset(hi) != offset
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(zone, mid) == offset:
                    lo = mid
                else:
                    hi = mid
            segments.append((seg_start, hi, offset))
            seg_start, offset = hi, _offset_at(zone, hi)
        probe = nxt
    segments.append((seg_start, end, offset))
    return tuple(s for s in segments if s[0] < s[1])


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, with touching intervals joined."""
    result: list[Interval] = []
    for lo, hi in sorted(intervals):
        if hi <= lo:
            continue
        if result and lo <= result[-1][1]:
            if hi > result[-1][1]:
                result[-1] = (result[-1][0], hi)
        else:
            result.append((lo, hi))
    return result


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two merged interval lists (linear merge)."""
    out: list[Interval] = []
    na, nb = len(a), len(b)
    if not na or not nb:
        return out
    # Hot in planning and matching: the current pair of intervals is kept in locals, and whichever
    # ends first is the one to move past (its end is the piece's end).
    i = j = 0
    alo, ahi = a[0]
    blo, bhi = b[0]
    while True:
        lo = alo if alo > blo else blo
        if ahi < bhi:
            if lo < ahi:
                out.append((lo, ahi))
            i += 1
            if i == na:
                return out
            alo, ahi = a[i]
        else:
            if lo < bhi:
                out.append((lo, bhi))
            j += 1
            if j == nb:
                return out
            blo, bhi = b[j]


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Parts of merged list `a` not covered by merged list `b`."""
    out: list[Interval] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] <= lo:
            j += 1
        k, cur = j, lo
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < hi:
            out.append((cur, hi))
    return out


def total_seconds(intervals: Iterable[Interval]) -> int:
    return sum(hi - lo for lo, hi in intervals)


@lru_cache(maxsize=65536)
def available_intervals(timezone: str, windows: tuple[Window, ...], start: int, end: int) -> tuple[Interval, ...]:
    """UTC intervals within [start, end) during which the person is inside one of their windows."""
    found: list[Interval] = []
    for seg_start, seg_end, offset in offset_segments(timezone, start, end):
        # Local dates whose windows can reach into this segment (a window may cross midnight).
        first_day = _local_date(seg_start + offset) - timedelta(days=1)
        last_day = _local_date(seg_end + offset)
        day = first_day
        while day <= last_day:
            midnight_utc = _epoch(day) - offset
            weekday = WEEKDAYS[day.weekday()]
            for window in windows:
                if weekday in window.days:
                    lo = max(midnight_utc + window.start_minute * 60, seg_start)
                    hi = min(midnight_utc + window.end_minute * 60, seg_end)
                    if lo < hi:
                        found.append((lo, hi))
            day += timedelta(days=1)
    return tuple(merge(found))


def _local_date(local_seconds: int) -> date:
    return date(1970, 1, 1) + timedelta(days=local_seconds // DAY)


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give an aware instant (e.g. with +00:00)")
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def weekly_overlap_hours(
    a_zone: str,
    a_windows: tuple[Window, ...],
    b_zone: str,
    b_windows: tuple[Window, ...],
    at: datetime,
) -> float:
    """Hours in [at, at + 7 days) during which both people are inside their own windows."""
    return total_seconds(_common_week(a_zone, a_windows, b_zone, b_windows, at)) / 3600


def _common_week(
    a_zone: str, a_windows: tuple[Window, ...], b_zone: str, b_windows: tuple[Window, ...], at: datetime
) -> list[Interval]:
    """UTC intervals in [at, at + 7 days) during which both people are inside their own windows."""
    start = to_epoch(at)
    end = start + 7 * DAY
    return intersect(
        available_intervals(a_zone, a_windows, start, end), available_intervals(b_zone, b_windows, start, end)
    )


def meeting_starts(intervals: Iterable[Interval], duration: int, step: int = 1) -> list[Interval]:
    """Where a meeting of `duration` seconds may start so that it lies inside one of the merged
    `intervals`, starting on a multiple of `step` seconds (UTC), as scheduling places meetings.

    Each range of starts [first, last] is given as the half-open [first, last + step): unions of
    whole aligned steps, so two such lists share a start exactly when they share any second, and
    the starts of a meeting inside two people's common time are the intersection of each one's.
    """
    found = []
    for lo, hi in intervals:
        first, last = -(-lo // step) * step, (hi - duration) // step * step
        if first <= last:
            found.append((first, last + step))
    return merge(found)


def longest_common_window(
    a_zone: str,
    a_windows: tuple[Window, ...],
    b_zone: str,
    b_windows: tuple[Window, ...],
    at: datetime,
    *,
    step: int = 1,
) -> int:
    """Seconds of the longest stretch in [at, at + 7 days) during which both people are inside their
    own windows at once, counted from its first instant on a multiple of `step` seconds (UTC): the
    longest meeting that can start on such an instant (0 if none)."""
    both = _common_week(a_zone, a_windows, b_zone, b_windows, at)
    return max([0, *(hi - -(-lo // step) * step for lo, hi in both)])
