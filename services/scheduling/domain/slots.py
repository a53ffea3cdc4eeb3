"""Where a meeting of a pair may start, worked out on exact UTC intervals (never minute by minute).

A start `s` is possible when [s, s + duration) lies inside one availability interval of each person
and keeps `buffer` away from their other meetings. It is *comfortable* when, in addition,
[s - comfort, s + duration + comfort) lies inside both people's windows, i.e. the meeting is not
squeezed against the start or the end of someone's day.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from itertools import pairwise
from operator import itemgetter

from shared.availability import (
    DAY,
    Interval,
    available_intervals,
    intersect,
    merge,
    offset_segments,
    subtract,
    to_epoch,
)
from shared.people import Participant

from .busy import BusyCalendar
from .outcomes import Slot
from .rules import PlanningRules

_start = itemgetter(0)
_end = itemgetter(1)

# Availability is expanded in whole weeks aligned to the epoch (every block starts on a Thursday at
# 00:00 UTC), so a week's pattern can be reused for every week with the same UTC offset.
_BLOCK = 7 * DAY
# Queries are widened by a day on both sides so window edges near the searched range are the real
# edges, not the range's clipping (comfort margins are measured from real edges).
_PAD = DAY
_expand = getattr(available_intervals, "__wrapped__", available_intervals)  # uncached: we keep patterns


class PersonWindows:
    """One (zone, windows) combination as UTC intervals, shared by everyone who has it.

    With a constant UTC offset a person's windows repeat exactly every 7 days, so the pattern of an
    aligned week depends only on the offset: it is expanded once (by shared.availability) and
    shifted. Weeks with a clock change in them are expanded directly.
    """

    __slots__ = ("_patterns", "timezone", "windows")

    def __init__(self, timezone: str, windows: tuple) -> None:
        self.timezone, self.windows = timezone, windows
        self._patterns: dict[int, tuple[Interval, ...]] = {}

    def _block(self, block: int) -> Sequence[Interval]:
        lo, hi = block * _BLOCK, (block + 1) * _BLOCK
        segments = offset_segments(self.timezone, lo, hi)
        if len(segments) > 1:
            return available_intervals(self.timezone, self.windows, lo, hi)
        offset = segments[0][2]
        pattern = self._patterns.get(offset)
        if pattern is None:
            pattern = self._patterns[offset] = tuple(
                (s - lo, e - lo) for s, e in _expand(self.timezone, self.windows, lo, hi))
        return [(lo + s, lo + e) for s, e in pattern]

    def between(self, lo: int, hi: int, *, clip: bool = True) -> list[Interval]:
        """Merged intervals overlapping [lo, hi); clipped to it unless `clip` is false."""
        if hi <= lo or not self.windows:
            return []
        merged = _blocks_merged(self, lo // _BLOCK, (hi - 1) // _BLOCK)
        found = merged[bisect_right(merged, lo, key=_end):bisect_left(merged, hi, key=_start)]
        if clip and found:
            (s, e), (s2, e2) = found[0], found[-1]
            found[0] = (max(s, lo), e)
            found[-1] = (s2 if len(found) > 1 else max(s2, lo), min(e2, hi))
        return found

    def expand(self, first: int, last: int) -> list[Interval]:
        """Merged intervals of blocks `first` to `last`, both included."""
        pieces: list[Interval] = []
        for block in range(first, last + 1):
            pieces.extend(self._block(block))
        return merge(pieces)


# A wave's searches cover the same few weeks of the same people's windows: their merged intervals
# are kept (never changed: `between` slices copies). Keyed by block numbers, and the weeks with a
# clock change are expanded by zoneinfo like any other, so DST needs no care here. Bounded.
@lru_cache(maxsize=2048)
def _blocks_merged(windows: PersonWindows, first: int, last: int) -> list[Interval]:
    return windows.expand(first, last)


@lru_cache(maxsize=16_384)
def windows_of(timezone: str, windows: tuple) -> PersonWindows:
    return PersonWindows(timezone, windows)


def person_windows(person: Participant, lo: int, hi: int) -> list[Interval]:
    """Merged UTC intervals within [lo, hi) when `person` is inside one of their own windows."""
    return windows_of(person.timezone, person.availability).between(lo, hi)


def covers(intervals: Sequence[Interval], lo: int, hi: int) -> bool:
    """Does one interval of the merged list contain [lo, hi)?"""
    i = bisect_right(intervals, lo, key=_start) - 1
    return i >= 0 and intervals[i][1] >= hi


def overlaps(intervals: Sequence[Interval], lo: int, hi: int) -> bool:
    """Does any interval of the merged list overlap [lo, hi)?"""
    i = bisect_right(intervals, lo, key=_end)
    return i < len(intervals) and intervals[i][0] < hi


def shrink(intervals: Sequence[Interval], margin: int) -> list[Interval]:
    if not margin:
        return list(intervals)
    return [(s + margin, e - margin) for s, e in intervals if e - s > 2 * margin]


def start_regions(free: Sequence[Interval], lo: int, hi: int, duration: int) -> list[Interval]:
    """Closed ranges [x, y] of starts in [lo, hi] whose whole meeting fits one free interval."""
    out = []
    for s, e in free:
        x, y = max(s, lo), min(e - duration, hi)
        if x <= y:
            out.append((x, y))
    return out


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def first_start(regions: Sequence[Interval], step: int) -> int | None:
    for x, y in regions:
        s = _ceil(x, step)
        if s <= y:
            return s
    return None


def closest_start(regions: Sequence[Interval], point: int, step: int) -> int | None:
    """The aligned start nearest to `point`; on a tie the earlier one."""
    best: int | None = None
    for x, y in regions:
        lo, hi = _ceil(x, step), y // step * step
        if lo > hi:
            continue
        clamped = min(max(point, lo), hi)
        below = clamped // step * step
        for s in (below, below + step) if below >= lo else (lo,):
            if lo <= s <= hi and (best is None or (abs(s - point), s) < (abs(best - point), best)):
                best = s
    return best


def is_start(regions: Sequence[Interval], s: int, step: int) -> bool:
    return s % step == 0 and any(x <= s <= y for x, y in regions)


class PairWindow:
    """Possible starts for one pair in the closed range [lo, hi], given their other meetings."""

    def __init__(self, a: Participant, b: Participant, lo: int, hi: int,
                 rules: PlanningRules, busy: BusyCalendar, *,
                 windows: tuple[PersonWindows, PersonWindows] | None = None) -> None:
        self.a, self.b, self.lo, self.hi, self.rules = a, b, lo, hi, rules
        d = rules.duration
        wa, wb = windows or (windows_of(a.timezone, a.availability), windows_of(b.timezone, b.availability))
        # Unclipped: the real window edges matter for the comfort margin.
        self.avail_a = wa.between(lo - _PAD, hi + d + _PAD, clip=False)
        self.avail_b = wb.between(lo - _PAD, hi + d + _PAD, clip=False)
        self.blocked = busy.blocked((a.participant_id, b.participant_id), lo, hi + d, rules.buffer)

    def allows(self, start: int, margin: int) -> bool:
        """Is `start` a possible start, `margin` clear of both people's window edges?

        Same answer as membership in `comfortable`/`fitting`, without computing all regions.
        """
        end = start + self.rules.duration
        return (self.lo <= start <= self.hi and start % self.rules.granularity == 0
                and covers(self.avail_a, start - margin, end + margin)
                and covers(self.avail_b, start - margin, end + margin)
                and not overlaps(self.blocked, start, end))

    def _regions(self, margin: int, with_busy: bool = True) -> list[Interval]:
        # [s, s + d) inside a window shrunk by `margin` <=> [s - margin, s + d + margin) inside it.
        common = intersect(shrink(self.avail_a, margin), shrink(self.avail_b, margin))
        if with_busy and self.blocked:
            common = subtract(common, self.blocked)
        return start_regions(common, self.lo, self.hi, self.rules.duration)

    @cached_property
    def comfortable(self) -> list[Interval]:
        return self._regions(self.rules.comfort)

    @cached_property
    def fitting(self) -> list[Interval]:
        return self._regions(0)

    @cached_property
    def fitting_ignoring_busy(self) -> list[Interval]:
        return self._regions(0, with_busy=False)

    def common_raw(self) -> list[Interval]:
        """Both available (any length), inside the meetings' reach [lo, hi + duration)."""
        return intersect(intersect(self.avail_a, self.avail_b), [(self.lo, self.hi + self.rules.duration)])


def fits_window(person: Participant, slot: Slot) -> bool:
    """Exact: the whole meeting lies inside one of the person's windows on their own clock."""
    start, end = slot.interval
    return any(s <= start and end <= e for s, e in person_windows(person, start - _PAD, end + _PAD))


def common_availability(a: Participant, b: Participant, start: datetime, end: datetime) -> list[Interval]:
    """UTC intervals in [start, end) when both people are inside their own windows."""
    lo, hi = to_epoch(start), to_epoch(end)
    return intersect(person_windows(a, lo, hi), person_windows(b, lo, hi))


def longest_common_stretch(a: Participant, b: Participant, start: int, *,
                           period: int = 366 * DAY, enough: int | None = None, step: int = 1) -> int:
    """Longest time both are available at once during [start, start + period), in seconds,
    counted from the first start aligned to `step` seconds (a meeting must begin on one).

    Between two clock changes (of either zone) both schedules repeat every week, so one sample of
    eight days per combination of the two UTC offsets answers for the whole stretch; a year covers
    every seasonal change (DST in either hemisphere, Morocco's Ramadan hour). Stops early once a
    stretch of `enough` seconds is found.
    """
    start = start // DAY * DAY  # whole days, so offset_segments' cache is shared across calls
    end = start + period
    seg_a = offset_segments(a.timezone, start, end)
    seg_b = offset_segments(b.timezone, start, end)
    cuts = sorted({s for s, _, _ in seg_a} | {s for s, _, _ in seg_b} | {end})
    sampled: set[tuple[int, int]] = set()
    best = 0
    ia = ib = 0
    for lo, hi in pairwise(cuts):
        while seg_a[ia][1] <= lo:
            ia += 1
        while seg_b[ib][1] <= lo:
            ib += 1
        offsets = (seg_a[ia][2], seg_b[ib][2])
        if offsets in sampled:
            continue
        sample_hi = min(hi, lo + 8 * DAY)
        if sample_hi - lo == 8 * DAY:
            sampled.add(offsets)
        common = intersect(person_windows(a, lo, sample_hi), person_windows(b, lo, sample_hi))
        best = max([best, *(e - _ceil(s, step) for s, e in common)])  # never below 0: best starts at 0
        if enough is not None and best >= enough:
            break
    return best
