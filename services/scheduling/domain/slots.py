"""Where a meeting of a pair may start, worked out on exact UTC intervals (never minute by minute).

A start `s` is possible when [s, s + duration) lies inside one availability interval of each person
and keeps `buffer` away from their other meetings. It is *comfortable* when, in addition,
[s - comfort, s + duration + comfort) lies inside both people's windows, i.e. the meeting is not
squeezed against the start or the end of someone's day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from itertools import pairwise

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
from shared.contracts.profile import ParticipantProfile

from .busy import BusyCalendar
from .outcomes import Slot
from .rules import PlanningRules

# Availability is expanded in whole weeks aligned to the epoch so the lru cache in
# shared.availability is hit by every query that falls in the same weeks.
_BLOCK = 7 * DAY
# Queries are widened by a day on both sides so window edges near the searched range are the real
# edges, not the range's clipping (comfort margins are measured from real edges).
_PAD = DAY


# Windows relative to the start of an aligned week, per (zone, windows, UTC offset); see _block.
_PATTERNS: dict[tuple[str, tuple, int], tuple[Interval, ...]] = {}
_MAX_PATTERNS = 65_536
_expand = getattr(available_intervals, "__wrapped__", available_intervals)  # uncached: we cache patterns


def _block(timezone: str, windows: tuple, block: int) -> Sequence[Interval]:
    """Availability in one aligned week.

    With a constant UTC offset a person's windows repeat exactly every 7 days, and every block starts
    on the same weekday at 00:00 UTC, so the pattern relative to the block start depends only on the
    offset: it is expanded once and shifted. Weeks with a clock change are expanded directly.
    """
    lo, hi = block * _BLOCK, (block + 1) * _BLOCK
    segments = offset_segments(timezone, lo, hi)
    if len(segments) > 1:
        return available_intervals(timezone, windows, lo, hi)
    key = (timezone, windows, segments[0][2])
    pattern = _PATTERNS.get(key)
    if pattern is None:
        if len(_PATTERNS) >= _MAX_PATTERNS:  # crude bound on memory for long-running services
            _PATTERNS.clear()
        pattern = _PATTERNS[key] = tuple((s - lo, e - lo) for s, e in _expand(timezone, windows, lo, hi))
    return [(lo + s, lo + e) for s, e in pattern]


def person_windows(profile: ParticipantProfile, lo: int, hi: int) -> list[Interval]:
    """Merged UTC intervals within [lo, hi) when `profile` is inside one of their own windows."""
    if hi <= lo or not profile.availability:
        return []
    pieces: list[Interval] = []
    for block in range(lo // _BLOCK, (hi - 1) // _BLOCK + 1):
        pieces.extend(_block(profile.timezone, profile.availability, block))
    return [(max(s, lo), min(e, hi)) for s, e in merge(pieces) if s < hi and e > lo]


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

    def __init__(self, a: ParticipantProfile, b: ParticipantProfile, lo: int, hi: int,
                 rules: PlanningRules, busy: BusyCalendar) -> None:
        self.a, self.b, self.lo, self.hi, self.rules = a, b, lo, hi, rules
        d = rules.duration
        self.avail_a = person_windows(a, lo - _PAD, hi + d + _PAD)
        self.avail_b = person_windows(b, lo - _PAD, hi + d + _PAD)
        self.blocked = busy.blocked((a.participant_id, b.participant_id), lo, hi + d, rules.buffer)

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


def fits_window(profile: ParticipantProfile, slot: Slot) -> bool:
    """Exact: the whole meeting lies inside one of the person's windows on their own clock."""
    start, end = slot.interval
    return any(s <= start and end <= e for s, e in person_windows(profile, start - _PAD, end + _PAD))


def common_availability(a: ParticipantProfile, b: ParticipantProfile, start: datetime, end: datetime) -> list[Interval]:
    """UTC intervals in [start, end) when both people are inside their own windows."""
    lo, hi = to_epoch(start), to_epoch(end)
    return intersect(person_windows(a, lo, hi), person_windows(b, lo, hi))


def longest_common_stretch(a: ParticipantProfile, b: ParticipantProfile, start: int, *,
                           period: int = 366 * DAY, enough: int | None = None) -> int:
    """Longest time both are available at once during [start, start + period), in seconds.

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
        best = max([best, *(e - s for s, e in common)])
        if enough is not None and best >= enough:
            break
    return best
