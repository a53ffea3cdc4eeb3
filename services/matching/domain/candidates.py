"""Rules and ranking keys for one person against a whole table, as float32 rows.

A row holds the ranking key of every pair, or -inf where a column hard rule fails (shared
language, more senior mentor, free capacity, overlap: enough hours a week, and one stretch long
enough for a meeting). The key is the weighted score plus the
priority levels stacked above it (`objective.RowSteps`): sorting by key sorts by goal fit, then a
diverse perspective met, then score. The row is a sum of four parts that each
depend on few attributes, so the cohort round caches parts by key (mentees with the same
seniority and languages share one "base" part) while the on-demand index computes them fresh;
both call the same functions. Functions take `e` (mentee side) and `m` (mentor side), each a
PeopleTable or a PersonRow, and broadcast: mentee-vs-all-mentors and mentor-vs-all-mentees alike.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .features import PeopleTable, PersonRow
from .objective import RowSteps, diverse_met
from .rules import CHAIN, EXCLUDED, SELF
from .scoring import availability_fit, goal_fit, language_ease, perspective_fit, seniority_fit
from .settings import MatchSettings

Side = PeopleTable | PersonRow
NEG = np.float32(-np.inf)


class Weights:
    """Settings turned into the constants the row functions need: normalised float32 weights and
    the priority steps, valid for mentees with up to `max_goals` goals."""

    def __init__(self, settings: MatchSettings, max_goals: int = 1) -> None:
        w = settings.weights.normalised()
        self.goal, self.avail, self.sen, self.persp, self.lang = (
            np.float32(w[c]) for c in ("goal_fit", "availability", "seniority", "perspective", "language"))
        self.min_hours = settings.min_overlap_hours
        self.target_hours = settings.overlap_target_hours
        # Seniority contribution by gap + 10 (gaps run from -9 to 9).
        self.sen_by_gap = (self.sen * seniority_fit(np.arange(-10, 11), *settings.ideal_gap)).astype(np.float32)
        self.max_goals = max(1, max_goals)
        self.steps = RowSteps.stacked(settings.priorities, self.max_goals)
        self.goal_key = np.float32(self.goal + self.steps.goal)  # per 1.0 of goal fit: weight + level
        self.diverse_key = np.float32(self.steps.diverse)


# --- column hard rules ---


def _and_any(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[-1] == 1 and b.shape[-1] == 1:
        return (a[..., 0] & b[..., 0]) != 0
    return np.any((a & b) != 0, axis=-1)


def shares_language(e: Side, m: Side) -> np.ndarray:
    return _and_any(e.lang, m.lang)


def more_senior(e: Side, m: Side) -> np.ndarray:
    return np.asarray(m.seniority > e.seniority)


def has_capacity(m: Side) -> np.ndarray:
    return np.asarray((m.free > 0) & m.active)


def overlap_ok(weights: Weights, seconds: np.ndarray) -> np.ndarray:
    # Same expression as shared.availability.weekly_overlap_hours: seconds / 3600, compared as hours.
    return seconds / 3600 >= weights.min_hours


def can_meet(common_starts: np.ndarray) -> np.ndarray:
    """From seconds shared by the two people's meeting-start sets (`overlap.MeetingStarts`): is there
    one stretch of common time long enough for a whole meeting? Hours spread over many short
    stretches pass `overlap_ok` but cannot hold one."""
    return np.asarray(common_starts) > 0


def has_bit(bits: np.ndarray, idx) -> np.ndarray:
    """Is term `idx` in the bitset(s)? Broadcasts one bitset vs many ids and many bitsets vs one id."""
    idx = np.asarray(idx)
    safe = np.maximum(idx, 0)
    word, shift = safe // 64, (safe % 64).astype(np.uint64)
    if bits.ndim == 1:
        w = bits[word]
    elif idx.ndim == 0:
        w = bits[:, int(word)]
    else:
        w = np.take_along_axis(bits, word[:, None], axis=1)[:, 0]
    return ((w >> shift) & np.uint64(1)).astype(bool) & (idx >= 0)


# --- row parts ---


def base_part(w: Weights, e: Side, m: Side) -> np.ndarray:
    """Seniority and language-ease contributions; -inf unless languages, seniority and capacity allow."""
    return _base(w, e, m, shares_language(e, m) & more_senior(e, m) & has_capacity(m))


def base_part_any_capacity(w: Weights, e: Side, m: Side) -> np.ndarray:
    """`base_part` without the capacity rule: it stays valid while loads change (the on-demand index
    keeps it per mentee kind and applies capacity to the whole row)."""
    return _base(w, e, m, shares_language(e, m) & more_senior(e, m))


def _base(w: Weights, e: Side, m: Side, ok: np.ndarray) -> np.ndarray:
    gap = np.asarray(m.seniority, dtype=np.int64) - np.asarray(e.seniority, dtype=np.int64)
    sen = w.sen_by_gap[gap + 10]
    same = np.asarray(m.first == e.first) & (np.asarray(e.first) >= 0)
    spoken = has_bit(m.lang, e.first) | has_bit(e.lang, m.first)
    value = sen + w.lang * language_ease(same, spoken).astype(np.float32)
    return np.where(ok, value, NEG).astype(np.float32)


def perspective_part(w: Weights, e: Side, m: Side) -> np.ndarray:
    """Perspective contribution, plus the diversity level where a mentee who asked gets it."""
    other_region, other_sector = m.region != e.region, m.sector != e.sector
    value = w.persp * perspective_fit(e.diverse, other_region, m.country != e.country, other_sector).astype(np.float32)
    if w.diverse_key:
        value += w.diverse_key * diverse_met(e.diverse, other_region, other_sector).astype(np.float32)
    return value.astype(np.float32)


def covered_goals(e: Side, m: Side) -> np.ndarray:
    both = np.bitwise_count(e.terms & m.terms)
    return both[..., 0] if both.shape[-1] == 1 else both.sum(axis=-1)


def goal_part(w: Weights, e: Side, m: Side) -> np.ndarray:
    """Goal-fit contribution plus the goal-fit level (both proportional to the fit)."""
    return (w.goal_key * goal_fit(covered_goals(e, m), e.n_terms).astype(np.float32)).astype(np.float32)


class TermHolders:
    """For each skill term, the table rows that hold it: a mentee's goals covered by every mentor is
    then a few scatter-adds over the (usually short) holder lists, instead of a bitset AND across all
    mentors. It pays when skills are many and each is rare; results equal `covered_goals`."""

    def __init__(self, m: PeopleTable) -> None:
        bits = np.unpackbits(m.terms.view(np.uint8), axis=1, bitorder="little")  # rows x terms (uint8)
        rows, terms = np.nonzero(bits)
        order = np.argsort(terms, kind="stable")
        self.rows = rows[order]
        self.start = np.searchsorted(terms[order], np.arange(bits.shape[1] + 1))
        self.size = len(m)

    def covered(self, goal_bits: np.ndarray) -> np.ndarray:
        counts = np.zeros(self.size, dtype=np.int16)
        for t in self._terms(goal_bits):
            counts[self.rows[self.start[t]:self.start[t + 1]]] += 1
        return counts

    def covering(self, goal_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding at least one of the terms (ascending) and how many of them each holds:
        `covered` without the rows that hold none."""
        return self.covering_terms(self._terms(goal_bits))

    def covering_terms(self, terms: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """`covering` for term ids (as `terms_by_row` gives them)."""
        lists = [self.rows[self.start[t]:self.start[t + 1]] for t in terms]
        if len(lists) <= 1:  # a term's holders are stored ascending
            rows = lists[0] if lists else self.rows[:0]
            return rows, np.ones(len(rows), dtype=np.int64)
        rows = np.concatenate(lists)
        rows.sort()
        first = np.empty(len(rows), dtype=bool)
        first[:1] = True
        np.not_equal(rows[1:], rows[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        return rows[starts], np.diff(starts, append=len(rows))

    def holdings(self, goal_bits: np.ndarray) -> np.ndarray:
        """Per bitset row of `goal_bits` (2-D), how many (row, term) holdings its terms have in all."""
        bits = np.unpackbits(goal_bits.view(np.uint8), axis=1, bitorder="little")[:, : len(self.start) - 1]
        return bits.astype(np.int64) @ np.diff(self.start)

    def terms_by_row(self, goal_bits: np.ndarray) -> list[list[int]]:
        """Per bitset row of `goal_bits` (2-D), its term ids that some row here holds."""
        bits = np.unpackbits(goal_bits.view(np.uint8), axis=1, bitorder="little")[:, : len(self.start) - 1]
        rows, terms = np.nonzero(bits)
        ptr, terms = np.searchsorted(rows, np.arange(len(goal_bits) + 1)).tolist(), terms.tolist()
        return [terms[lo:hi] for lo, hi in zip(ptr[:-1], ptr[1:])]

    def _terms(self, goal_bits: np.ndarray) -> list[int]:
        terms = np.flatnonzero(np.unpackbits(goal_bits.view(np.uint8), bitorder="little")).tolist()
        return [t for t in terms if t + 1 < len(self.start)]  # a term no row holds has no holder list


def goal_part_by_holders(w: Weights, person: PersonRow, holders: TermHolders, n_goals=None) -> np.ndarray:
    """`goal_part` of one person against a whole table, from the table's term holders: a mentee
    against mentors (holders of skills), or a mentor against mentees (holders of goals; then
    `n_goals` is the mentees' goal counts)."""
    n_goals = person.n_terms if n_goals is None else n_goals
    return (w.goal_key * goal_fit(holders.covered(person.terms), n_goals).astype(np.float32)).astype(np.float32)


def goal_values(w: Weights, n_goals: int) -> np.ndarray:
    """`goal_part` by goals covered (0..n_goals) for a mentee with `n_goals` goals: the same float32
    values, element for element, as the row functions give."""
    return (w.goal_key * goal_fit(np.arange(n_goals + 1), n_goals).astype(np.float32)).astype(np.float32)


def goal_part_sparse(holders: TermHolders, goals: list[int], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`goal_part` where it is not 0, as (mentor rows, values), for a mentee with these goal term
    ids (`TermHolders.terms_by_row`); `values`: `goal_values` for the mentee's goal count. Adding
    them to a row at those rows gives the same float32 row as adding the whole `goal_part`
    (x + 0 == x), for a fraction of the work when few mentors hold the mentee's goals."""
    rows, counts = holders.covering_terms(goals)
    return rows, values[counts]


def score_of_key(w: Weights, key: np.ndarray, covered: np.ndarray, n_goals: np.ndarray, met: np.ndarray) -> np.ndarray:
    """The weighted score inside ranking keys, given each pair's goals covered and diversity met."""
    levels = w.steps.goal * goal_fit(covered, n_goals) + w.steps.diverse * met
    return np.asarray(key, dtype=np.float64) - levels


def availability_part(w: Weights, seconds: np.ndarray, common_starts: np.ndarray) -> np.ndarray:
    """Per availability class: contribution, or -inf where the overlap rule fails (too few hours,
    or no stretch long enough for a meeting). The contribution counts all the hours, as before."""
    return np.where(can_meet(common_starts), hours_part(w, seconds), NEG).astype(np.float32)


def hours_part(w: Weights, seconds: np.ndarray) -> np.ndarray:
    """`availability_part` without the meeting-window rule (for a caller that checks it on the few
    classes that can still win: the rule only ever turns an entry into -inf)."""
    value = w.avail * availability_fit(seconds / 3600, w.target_hours).astype(np.float32)
    return np.where(overlap_ok(w, seconds), value, NEG).astype(np.float32)


def pair_row(w: Weights, e: Side, m: Side, class_seconds: np.ndarray, other_avail: np.ndarray,
             class_starts: np.ndarray) -> np.ndarray:
    """Complete row without caching (on-demand, and the mentor-side passes of the cohort round).
    `class_seconds`, `class_starts`: per availability class of the other side, the overlap seconds
    and the seconds of common meeting starts."""
    row = base_part(w, e, m)
    row += perspective_part(w, e, m)
    row += goal_part(w, e, m)
    row += availability_part(w, class_seconds, class_starts)[other_avail]
    return row


# --- the pieces of a row, cached by key ---


class PartCache:
    """Rows by key, computed on first use; dropped wholesale when they would exceed the byte budget."""

    def __init__(self, compute: Callable[[Any], np.ndarray], row_bytes: int, budget_bytes: int) -> None:
        self._compute = compute
        self._rows: dict[Hashable, np.ndarray] = {}
        self._limit = max(16, budget_bytes // max(row_bytes, 1))

    def get(self, key: Hashable, example: Any) -> np.ndarray:
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) >= self._limit:
                self._rows.clear()
            row = self._rows[key] = self._compute(example)
        return row

    def clear(self) -> None:
        self._rows.clear()


# --- picking the best few ---


class TopK:
    """The k highest finite entries of a row, best first, without sorting the whole row.

    Entries within `delta` of the row maximum are usually a few dozen; delta adapts as rows come.
    `span` bounds the keys (they lie in [0, span]).
    """

    def __init__(self, k: int, span: float = 1.0) -> None:
        self.k = k
        self.span = span
        self.delta = 0.05

    def __call__(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best = row.max() if row.size else NEG
        if best == NEG:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        delta = self.delta
        while True:
            idx = np.flatnonzero(row >= best - delta)
            if len(idx) >= self.k or delta > self.span:  # keys lie in [0, span]: every finite entry passed
                break
            delta *= 4
        self.delta = delta * 0.8 if len(idx) > 16 * self.k else delta if delta > self.delta else self.delta
        # idx is ascending, so a stable sort keeps ties in column order: reproducible results.
        order = np.argsort(-row[idx], kind="stable")[: self.k]
        return idx[order], row[idx[order]]


class BlockTopK:
    """TopK for a block of rows at once: one threshold per row, one pass and one sort for the block.

    Each row is cut into `groups_per_k * k` runs of columns; the threshold is the k-th best of the
    runs' maxima. Those k maxima are k distinct entries, so at least k entries reach it (all the
    finite ones when fewer than k runs have one), and rarely many more: the k best entries mostly
    lie in different runs. One max per run and a partition of a few dozen values per row, instead
    of a partition of the row.
    """

    def __init__(self, k: int, groups_per_k: int = 4) -> None:
        self.k = k
        self.groups_per_k = groups_per_k

    def __call__(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best columns, -1 padded; their scores) per row of `block`, best first, ties by column."""
        b, n = block.shape
        k = self.k
        if b >= 128 or n >= 1 << 24:
            raise ValueError("BlockTopK packs (row, column) into 7 + 24 bits")
        idx = np.full((b, k), -1, dtype=np.int64)
        vals = np.full((b, k), NEG, dtype=np.float32)
        groups = min(n, self.groups_per_k * k)  # one column per run when the row is short: exact
        run_max = np.maximum.reduceat(block, (np.arange(groups) * n) // groups, axis=1)
        if groups >= k:
            kth = np.partition(run_max, groups - k, axis=1)[:, groups - k]
        else:
            kth = np.full(b, NEG, dtype=np.float32)
        floor = np.maximum(kth, np.nextafter(NEG, np.float32(0)))  # never a broken rule (-inf)
        cells = np.flatnonzero(block >= floor[:, None])
        r, c = cells // n, cells % n
        v = block.ravel()[cells]
        # One int64 key sorts by row, then key descending, then column: the bits of a float >= 0
        # order like the float, and every key here is >= 0 (only failed rules are -inf).
        desc = np.int64(0x7FFFFFFF) - v.view(np.int32).astype(np.int64)
        order = np.argsort((r << 56) | (desc << 24) | c)  # keys are unique
        r, c, v = r[order], c[order], v[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r)
        top = rank < k
        idx[r[top], rank[top]] = c[top]
        vals[r[top], rank[top]] = v[top]
        return idx, vals


class ColumnTopK:
    """Each column's best `quota[j]` entries over a stream of row blocks: a mentor's best mentees.

    Blocks add only entries above the column's current floor (its quota-th best so far); the buffer
    is cut back to the quotas now and then, which raises the floors, so few entries pass later.
    """

    def __init__(self, quota: np.ndarray, buffer_cells: int = 1 << 20) -> None:
        self.quota = np.asarray(quota, dtype=np.int64)
        self.floor = np.full(len(self.quota), NEG, dtype=np.float32)
        self.buffer_cells = buffer_cells
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._size = 0

    def add(self, block: np.ndarray, row_ids: np.ndarray) -> None:
        cols = np.flatnonzero(block.max(axis=0) > self.floor)  # -inf (a broken rule) never passes
        if not len(cols):
            return
        sub = block[:, cols]
        r, c = np.nonzero(sub > self.floor[cols])
        if len(r):
            self._parts.append((row_ids[r], cols[c], sub[r, c]))
            self._size += len(r)
            if self._size > self.buffer_cells:
                self._compact()

    def merge(self, other: ColumnTopK) -> None:
        self._parts.extend(other._parts)
        self._size += other._size

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, columns, values) kept, sorted by row."""
        self._compact()
        rows, cols, vals = self._parts[0] if self._parts else (np.empty(0, np.int64),) * 2 + (np.empty(0, np.float32),)
        order = np.argsort(rows, kind="stable")
        return rows[order], cols[order], vals[order]

    def _compact(self) -> None:
        if not self._parts:
            return
        rows, cols, vals = (np.concatenate(x) for x in zip(*self._parts))
        # By column, then best first: the bits of a float >= 0 order like the float.
        order = np.argsort((cols.astype(np.int64) << 32) | (0x7FFFFFFF - vals.view(np.int32).astype(np.int64)),
                           kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        rank = np.arange(len(cols)) - np.searchsorted(cols, cols)
        keep = rank < self.quota[cols]
        full = keep & (rank == self.quota[cols] - 1)
        self.floor[cols[full]] = vals[full]
        self._parts = [(rows[keep], cols[keep], vals[keep])]
        self._size = int(keep.sum())


# --- why nobody fits ---

def funnel(w: Weights, e: Side, m: PeopleTable, class_seconds: np.ndarray, class_starts: np.ndarray,
           excluded_cols: np.ndarray, excluded_kinds: np.ndarray) -> dict[str, int]:
    """How many mentors are left after each hard rule, applied in the order reasons are reported."""
    alive = m.active.copy()
    counts = {"mentors": int(alive.sum())}
    alive &= shares_language(e, m)
    counts["shared_language"] = int(alive.sum())
    alive &= more_senior(e, m)
    counts["more_senior"] = int(alive.sum())
    for step, kind in (("not_themselves", SELF), ("outside_chain", CHAIN), ("not_excluded", EXCLUDED)):
        alive[excluded_cols[excluded_kinds == kind]] = False
        counts[step] = int(alive.sum())
    classes = m.avail
    alive &= overlap_ok(w, class_seconds)[classes]
    counts["overlap"] = int(alive.sum())
    alive &= can_meet(class_starts)[classes]
    counts["meeting_window"] = int(alive.sum())
    alive &= m.free > 0
    counts["free_capacity"] = int(alive.sum())
    return counts
