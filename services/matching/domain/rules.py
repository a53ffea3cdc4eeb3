"""Hard constraints that are about people, not columns: management chains and pair exclusions.

The column rules (shared language, seniority, capacity, overlap) live in `candidates`; the rules
here are sparse (a handful of mentors per mentee), so they are listed per pair and applied on top.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping

import numpy as np

# Why a (mentee, mentor) pair is ruled out regardless of columns; the funnel reports them in this order.
SELF, CHAIN, EXCLUDED = 1, 2, 3


class ManagementGraph:
    """Who reports to whom, for everyone known; walks are cycle-safe (data may contain loops)."""

    def __init__(self, managers: Mapping[str, str | None] | None = None) -> None:
        self._manager: dict[str, str] = {}
        self._reports: dict[str, set[str]] = defaultdict(set)
        for pid, manager in (managers or {}).items():
            self.set_manager(pid, manager)

    def manager_of(self, pid: str) -> str | None:
        return self._manager.get(pid)

    def set_manager(self, pid: str, manager: str | None) -> None:
        old = self._manager.pop(pid, None)
        if old is not None:
            self._reports[old].discard(pid)
            if not self._reports[old]:
                del self._reports[old]
        if manager is not None:
            self._manager[pid] = manager
            self._reports[manager].add(pid)

    def remove(self, pid: str) -> None:
        """Forget pid's own manager link; people who name pid as manager still point at pid."""
        self.set_manager(pid, None)

    def above(self, pid: str) -> list[str]:
        """pid's managers, their managers, ... (pid itself only if a loop leads back, never listed)."""
        chain: list[str] = []
        seen = {pid}
        current = self._manager.get(pid)
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            current = self._manager.get(current)
        return chain

    def below(self, pid: str) -> set[str]:
        """Everyone whose chain reaches pid (direct and indirect reports)."""
        if pid not in self._reports:
            return set()
        found: set[str] = set()
        stack = list(self._reports[pid])
        while stack:
            current = stack.pop()
            if current in found or current == pid:
                continue
            found.add(current)
            stack.extend(self._reports.get(current, ()))
        return found

    def related(self, a: str, b: str) -> bool:
        """Is either one in the other's management chain?"""
        return b in self.above(a) or a in self.above(b)


def exclusions(mentee_ids: list[str], mentor_index: Mapping[str, int], graph: ManagementGraph,
               excluded_pairs: Iterable[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse (mentee row, mentor row, kind) triples for pairs no column rule can see.

    Sorted by mentee row, so each mentee's exclusions are one contiguous slice.
    """
    rows: list[int] = []
    cols: list[int] = []
    kinds: list[int] = []
    mentee_rows = {pid: i for i, pid in enumerate(mentee_ids)}
    for i, pid in enumerate(mentee_ids):
        j = mentor_index.get(pid)
        if j is not None:
            rows.append(i), cols.append(j), kinds.append(SELF)
        for other in graph.above(pid):
            j = mentor_index.get(other)
            if j is not None:
                rows.append(i), cols.append(j), kinds.append(CHAIN)
        for other in graph.below(pid):
            j = mentor_index.get(other)
            if j is not None:
                rows.append(i), cols.append(j), kinds.append(CHAIN)
    for mentee_id, mentor_id in excluded_pairs:
        i, j = mentee_rows.get(mentee_id), mentor_index.get(mentor_id)
        if i is not None and j is not None:
            rows.append(i), cols.append(j), kinds.append(EXCLUDED)
    r = np.asarray(rows, dtype=np.int64)
    order = np.argsort(r, kind="stable")
    return r[order], np.asarray(cols, dtype=np.int64)[order], np.asarray(kinds, dtype=np.int8)[order]


def excluded_for(mentee_id: str, mentor_index: Mapping[str, int], graph: ManagementGraph,
                 exclude: Collection[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mentor rows, kinds) ruled out for one mentee: the on-demand counterpart of `exclusions`."""
    pairs: dict[int, int] = {}
    for other in exclude:
        j = mentor_index.get(other)
        if j is not None:
            pairs[j] = EXCLUDED
    for other in (*graph.above(mentee_id), *graph.below(mentee_id)):
        j = mentor_index.get(other)
        if j is not None:
            pairs[j] = CHAIN
    j = mentor_index.get(mentee_id)
    if j is not None:
        pairs[j] = SELF
    return np.fromiter(pairs.keys(), dtype=np.int64, count=len(pairs)), np.fromiter(pairs.values(), dtype=np.int8,
                                                                                    count=len(pairs))
