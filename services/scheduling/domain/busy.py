"""Each person's other meetings, kept sorted so lookups stay logarithmic for large programs."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter

from shared.availability import Interval, merge

_start = itemgetter(0)
_end = itemgetter(1)


class BusyCalendar:
    """participant_id -> sorted, merged UTC intervals (epoch seconds) of meetings they already have.

    Merged lists have increasing starts and increasing ends, so both ends can be bisected.
    """

    def __init__(self, busy: Mapping[str, Iterable[Interval]] | None = None) -> None:
        self._busy: dict[str, list[Interval]] = {}
        for pid, intervals in (busy or {}).items():
            merged = merge(intervals)
            if merged:
                self._busy[pid] = merged

    @classmethod
    def of(cls, busy: Mapping[str, Iterable[Interval]] | BusyCalendar | None) -> BusyCalendar:
        return busy if isinstance(busy, BusyCalendar) else cls(busy)

    def add(self, pid: str, interval: Interval) -> None:
        lo, hi = interval
        if hi <= lo:
            return
        items = self._busy.setdefault(pid, [])
        # Neighbours that overlap or touch the new interval are folded into it.
        i = bisect_left(items, lo, key=_end)
        j = bisect_right(items, hi, key=_start)
        if i < j:
            lo, hi = min(lo, items[i][0]), max(hi, items[j - 1][1])
        items[i:j] = [(lo, hi)]

    def between(self, pid: str, lo: int, hi: int) -> Sequence[Interval]:
        """Intervals of `pid` that overlap [lo, hi)."""
        items = self._busy.get(pid)
        if not items:
            return ()
        return items[bisect_right(items, lo, key=_end):bisect_left(items, hi, key=_start)]

    def blocked(self, pids: Iterable[str], lo: int, hi: int, buffer: int) -> list[Interval]:
        """Times within reach of [lo, hi) that a meeting of these people must not touch."""
        found: list[Interval] = []
        for pid in set(pids):
            found.extend((s - buffer, e + buffer) for s, e in self.between(pid, lo - buffer, hi + buffer))
        return merge(found)

    def intervals(self, pid: str) -> list[Interval]:
        return list(self._busy.get(pid, ()))

    def as_dict(self) -> dict[str, list[Interval]]:
        return {pid: list(items) for pid, items in self._busy.items()}
