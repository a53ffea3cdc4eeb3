"""Exact availability overlap between one person and every availability class at once.

`shared.availability` is the reference: it gives each class its exact UTC intervals. Here those
intervals are cut into "atoms" at every boundary any class has, so inside an atom each class is
either fully available or not. Then the seconds a class is available before instant t are
`cum[a] + cover[a] * (t - bounds[a])` for the atom a holding t, and one person's overlap with all
classes is a handful of row gathers: integer arithmetic, no rounding, no fixed time grid (so
windows at odd minutes and zones with 45-minute offsets need no special case).

The same table answers "is there one stretch long enough for a meeting?" when it is built over
where a meeting may start (`MeetingStarts`) instead of over the available time: a meeting fits in
both people's common time exactly when it can start inside both (`shared.availability.meeting_starts`),
so a pair can meet when their start sets share a second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from shared.availability import DAY, Interval, available_intervals, intersect, meeting_starts

from .features import AvailabilityKey

WEEK = 7 * DAY


def class_intervals(key: AvailabilityKey, start: int, end: int) -> tuple[Interval, ...]:
    timezone, windows = key
    return available_intervals(timezone, windows, start, end)


IntervalsOf = Callable[[AvailabilityKey, int, int], Sequence[Interval]]


class MeetingStarts:
    """Where a meeting of the program's length may start inside a class's time in [start, end):
    aligned to `step` seconds in UTC, the whole meeting inside one of the class's stretches."""

    def __init__(self, duration: int, step: int) -> None:
        self.duration, self.step = duration, step
        # A class is asked for twice in a round (its table's boundaries, then its query): kept.
        self._cached = lru_cache(maxsize=65_536)(self._class_starts)

    def __call__(self, key: AvailabilityKey, start: int, end: int) -> tuple[Interval, ...]:
        return self._cached(key, start, end)

    def _class_starts(self, key: AvailabilityKey, start: int, end: int) -> tuple[Interval, ...]:
        starts = self.of(class_intervals(key, start, end))
        if starts and starts[-1][1] > end:  # a last start's step may reach past the horizon (short meetings)
            starts[-1] = (starts[-1][0], end)
        return tuple(starts)

    def of(self, intervals: Sequence[Interval]) -> list[Interval]:
        """The starts inside already expanded (merged) intervals."""
        return meeting_starts(intervals, self.duration, self.step)


class OverlapTable:
    """Availability of many classes over the horizon [start, end), ready for exact overlap queries."""

    def __init__(self, keys: Sequence[AvailabilityKey], start: int, end: int,
                 query_keys: Sequence[AvailabilityKey] = (), intervals_of: IntervalsOf = class_intervals) -> None:
        """`query_keys`: classes that will be asked about; their boundaries become atom boundaries
        too, which makes their queries a plain row lookup. `intervals_of`: a class's intervals (its
        available time; `MeetingStarts` for where a meeting may start)."""
        self.start, self.end = start, end
        self.size = len(keys)
        per_class = [intervals_of(k, start, end) for k in keys]
        self.intervals = per_class  # each class's own intervals, for a query about one class
        lows = np.fromiter((lo for ivs in per_class for lo, _ in ivs), dtype=np.int64)
        highs = np.fromiter((hi for ivs in per_class for _, hi in ivs), dtype=np.int64)
        owner = np.repeat(np.arange(self.size), [len(ivs) for ivs in per_class])
        asked = np.fromiter((x for k in query_keys for iv in intervals_of(k, start, end) for x in iv), dtype=np.int64)
        self.bounds = np.unique(np.concatenate([lows, highs, asked, np.array([start, end], dtype=np.int64)]))
        atoms = len(self.bounds) - 1
        # +1 where a class's interval starts, -1 where it ends; running sums give coverage per atom.
        diff = np.zeros((atoms + 1, max(self.size, 1)), dtype=np.int32)
        np.add.at(diff, (np.searchsorted(self.bounds, lows), owner), 1)
        np.add.at(diff, (np.searchsorted(self.bounds, highs), owner), -1)
        cover = np.cumsum(diff, axis=0)[:atoms] > 0
        widths = np.diff(self.bounds).astype(np.int32)
        self.cum = np.zeros((atoms + 1, max(self.size, 1)), dtype=np.int32)
        np.cumsum(cover * widths[:, None], axis=0, out=self.cum[1:])
        # A zero row after the last atom makes `end` itself a valid lookup.
        self.cover = np.zeros((atoms + 1, max(self.size, 1)), dtype=np.int32)
        self.cover[:atoms] = cover

    def seconds_before(self, instants: np.ndarray) -> np.ndarray:
        """(len(instants), classes): seconds each class is available in [start, instant)."""
        t = np.minimum(np.maximum(np.asarray(instants, dtype=np.int64), self.start), self.end)  # np.clip, less overhead
        atom = np.searchsorted(self.bounds, t, side="right") - 1
        if (self.bounds[atom] == t).all():  # every instant on an atom boundary: no partial atom
            return self.cum[atom]
        return self.cum[atom] + self.cover[atom] * (t - self.bounds[atom]).astype(np.int32)[:, None]

    def overlap_seconds_many(self, queries: Sequence[Sequence[Interval]]) -> np.ndarray:
        """(len(queries), classes): exact seconds each class shares with each query's intervals."""
        clipped = [q if _inside(q, self.start, self.end) else intersect(list(q), [(self.start, self.end)])
                   for q in queries]
        counts = np.array([len(q) for q in clipped], dtype=np.int64)
        if self.size == 0 or counts.sum() == 0:
            return np.zeros((len(queries), self.size), dtype=np.int64)
        edges = np.array([x for q in clipped for iv in q for x in iv], dtype=np.int64)
        both = self.seconds_before(edges)[:, : self.size]
        per_interval = (both[1::2] - both[0::2]).astype(np.int64)
        out = np.zeros((len(queries), self.size), dtype=np.int64)
        ends = np.cumsum(counts)
        for q, (lo, hi) in enumerate(zip((ends - counts).tolist(), ends.tolist())):
            if hi > lo:
                out[q] = per_interval[lo:hi].sum(axis=0)
        return out

    def overlap_seconds(self, intervals: Sequence[Interval]) -> np.ndarray:
        """Exact seconds each class shares with `intervals` (merged, as `available_intervals` gives)."""
        inside = intervals if _inside(intervals, self.start, self.end) else intersect(list(intervals),
                                                                                        [(self.start, self.end)])
        if not inside or self.size == 0:
            return np.zeros(self.size, dtype=np.int64)
        edges = np.array(inside, dtype=np.int64)
        both = self.seconds_before(edges.ravel()).astype(np.int64)
        return (both[1::2] - both[0::2]).sum(axis=0)[: self.size]


def _inside(intervals: Sequence[Interval], start: int, end: int) -> bool:
    """Merged intervals already within [start, end) (no clipping needed)."""
    return not intervals or (intervals[0][0] >= start and intervals[-1][1] <= end)


def week_of(at_epoch: int) -> tuple[int, int]:
    """The overlap week [at, at + 7 days) that the hard rule counts."""
    return at_epoch, at_epoch + WEEK
