"""On-demand matching: the best available mentor for one mentee, now, in about a millisecond.

"Best" follows the cohort round's order (`objective`): goal fit first, then a mentor from another
region or sector if the mentee asked for one, then the program's weighted score.

The index keeps every mentor as a row of numpy columns (slots reused after removals) and the
management graph of everyone it has seen. A request scores the mentee against all mentor rows at
once with the same functions the cohort round uses.

Overlap depends on `at`: mentor availability is expanded per availability class over a
two-week horizon starting at a fixed weekly grid point before `at`, so [at, at + 7 days) always
lies inside it, and the exact overlap of the mentee's own week with every class is read from it
(see `overlap.OverlapTable`), and so is whether they share one stretch long enough for a meeting
(the same tables over where a meeting may start). Classes first seen after a horizon was built go
into a small side table until there are enough of them to rebuild, so upserts never stall
requests for long.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from shared.availability import Interval, intersect, to_epoch
from shared.people import Participant

from .candidates import (
    NEG,
    PartCache,
    TopK,
    Weights,
    base_part_any_capacity,
    can_meet,
    funnel,
    goal_part,
    has_capacity,
    hours_part,
    perspective_part,
)
from .features import AvailabilityClasses, PeopleTable, PersonRow, Vocabularies, availability_key, person_row
from .overlap import WEEK, MeetingStarts, OverlapTable, class_intervals
from .reasons import reason_for
from .results import PairProposal, Unmatched
from .rules import ManagementGraph, excluded_for
from .scoring import explain_pairs
from .settings import MatchSettings

SIDE_TABLE_LIMIT = 256  # new availability classes served from the side table before a full rebuild
LAZY_ROUNDS = 3  # classes failing the meeting window taken out one best at a time, then all checked
MENTEE_ROWS = 65_536  # mentees' encoded rows kept (dropped wholesale beyond)
PART_CACHE_BYTES = 2 << 20  # per part of a row (base, perspective, goals), per program


@dataclass(slots=True)
class _Ask:
    """One request's state between scoring and picking."""

    mentee: Participant
    e: PersonRow
    weights: Weights
    horizon: _Horizon
    week: list[Interval]
    seconds: np.ndarray
    row: np.ndarray
    cols: np.ndarray
    kinds: np.ndarray


class _Horizon:
    def __init__(self, start: int, keys: list, first_new: int, starts: MeetingStarts) -> None:
        self.start, self.end, self.starts = start, start + 2 * WEEK, starts
        self.main = OverlapTable(keys[:first_new], self.start, self.end)
        self.side = OverlapTable(keys[first_new:], self.start, self.end)
        self.main_starts = OverlapTable(keys[:first_new], self.start, self.end, intervals_of=starts)
        self.side_starts = OverlapTable(keys[first_new:], self.start, self.end, intervals_of=starts)

    @property
    def size(self) -> int:
        return self.main.size + self.side.size

    def with_new_classes(self, keys: list) -> _Horizon:
        fresh = object.__new__(_Horizon)
        fresh.start, fresh.end, fresh.starts = self.start, self.end, self.starts
        fresh.main, fresh.main_starts = self.main, self.main_starts
        fresh.side = OverlapTable(keys[self.main.size:], self.start, self.end)
        fresh.side_starts = OverlapTable(keys[self.main.size:], self.start, self.end, intervals_of=self.starts)
        return fresh

    def overlap_seconds(self, intervals) -> np.ndarray:
        main = self.main.overlap_seconds(intervals)
        if not self.side.size:  # the usual case: no class is newer than the horizon
            return main
        return np.concatenate([main, self.side.overlap_seconds(intervals)])

    def can_meet(self, cls: int, mine: list[Interval]) -> bool:
        """`common_starts(...)[cls] > 0` for one class, from the person's meeting starts `mine`
        (`MeetingStarts.of`): do they share a start with the class?"""
        table = self.main_starts if cls < self.main.size else self.side_starts
        theirs = table.intervals[cls if cls < self.main.size else cls - self.main.size]
        return bool(intersect(mine, theirs))

    def common_starts(self, intervals) -> np.ndarray:
        """Per class, seconds of meeting starts shared with `intervals` (a person's time in one week)."""
        mine = self.starts.of(intervals)
        return np.concatenate([self.main_starts.overlap_seconds(mine), self.side_starts.overlap_seconds(mine)])


class MatchIndex:
    """Participants of one program, kept current from events; answers "best mentor now"."""

    def __init__(self, settings: MatchSettings = MatchSettings()) -> None:
        self.settings = settings
        self._weights: dict[int, Weights] = {}  # by the mentee's goal count (it sets the row-key steps)
        self._vocab = Vocabularies()
        self._m_classes = AvailabilityClasses()
        self._e_classes = AvailabilityClasses()
        self._profiles: dict[str, Participant] = {}
        self._graph = ManagementGraph()
        self._mentors = PeopleTable(self._vocab, 0)
        self._slot: dict[str, int] = {}
        self._free_slots: list[int] = []
        self._load: dict[str, int] = {}
        self._horizons: dict[int, _Horizon] = {}
        self._pick = TopK(1)
        self._starts = MeetingStarts(settings.meeting_seconds, settings.slot_seconds)
        self._mentee_rows: dict[str, tuple[Participant, tuple[int, int], PersonRow]] = {}
        self._parts_version = -1
        self._parts: tuple[PartCache, PartCache, PartCache] = self._new_parts()

    def __len__(self) -> int:
        return len(self._profiles)

    @property
    def mentor_count(self) -> int:
        return len(self._slot)

    # --- keeping current ---

    def upsert(self, profile: Participant) -> None:
        """Add or replace anyone (mentees too: management chains run through everyone)."""
        pid = profile.participant_id
        self._profiles[pid] = profile
        self._graph.set_manager(pid, profile.manager_id)
        self._vocab.learn(profile)
        self._mentors.widen()
        if not profile.is_mentor:
            self._drop_slot(pid)
            return
        slot = self._slot.get(pid)
        if slot is None:
            if not self._free_slots:
                size = len(self._mentors)
                self._mentors.grow(max(64, 2 * size))
                self._free_slots.extend(range(len(self._mentors) - 1, size - 1, -1))
            slot = self._slot[pid] = self._free_slots.pop()
        row = person_row(profile, self._vocab, self._m_classes, terms="skills", free=self._free_places(profile))
        self._mentors.put(slot, row, pid)

    def remove(self, participant_id: str) -> None:
        self._profiles.pop(participant_id, None)
        self._mentee_rows.pop(participant_id, None)
        self._graph.remove(participant_id)
        self._drop_slot(participant_id)

    def set_load(self, mentor_id: str, active: int) -> None:
        """Current number of active mentees of a mentor (may arrive before the mentor's profile)."""
        self._load[mentor_id] = max(0, active)
        slot = self._slot.get(mentor_id)
        if slot is not None:
            self._mentors.free[slot] = self._free_places(self._profiles[mentor_id])

    def _free_places(self, profile: Participant) -> int:
        return max(0, profile.mentor_capacity - self._load.get(profile.participant_id, 0))

    def _drop_slot(self, pid: str) -> None:
        slot = self._slot.pop(pid, None)
        if slot is not None:
            self._mentors.active[slot] = False
            self._mentors.free[slot] = 0
            self._mentors.ids[slot] = None
            self._free_slots.append(slot)

    # --- answering ---

    def best_mentor(self, mentee_id: str, *, at: datetime, exclude: Collection[str] = ()) -> PairProposal | Unmatched:
        """The best feasible mentor with a free place, or the reason there is none."""
        ask = self._score(mentee_id, at, exclude)
        idx = self._best(ask, 1)
        if len(idx):
            return self._proposals(ask.mentee, idx, ask.seconds, at)[0]
        starts = ask.horizon.common_starts(ask.week)
        counts = funnel(ask.weights, ask.e, self._mentors, ask.seconds, starts, ask.cols, ask.kinds)
        return reason_for(mentee_id, counts, min_overlap_hours=self.settings.min_overlap_hours,
                          meeting_minutes=self.settings.meeting_minutes)

    def ranked_mentors(self, mentee_id: str, *, at: datetime, exclude: Collection[str] = (),
                       limit: int = 5) -> list[PairProposal]:
        """Up to `limit` feasible mentors with free places, best first (in the order of `objective`)."""
        if limit <= 0:
            return []
        ask = self._score(mentee_id, at, exclude)
        return self._proposals(ask.mentee, self._best(ask, limit), ask.seconds, at)

    def _score(self, mentee_id: str, at: datetime, exclude: Collection[str]) -> _Ask:
        """The mentee's row under every rule but the meeting window (`_best` applies that one)."""
        mentee = self._profiles.get(mentee_id)
        if mentee is None:
            raise KeyError(f"unknown participant {mentee_id!r}")
        start = to_epoch(at)
        e = self._mentee_row(mentee)
        horizon = self._horizon(start)
        own = class_intervals(availability_key(mentee), horizon.start, horizon.end)
        week = intersect(list(own), [(start, start + WEEK)])
        seconds = horizon.overlap_seconds(week)
        w = self._weights_for(mentee)
        self._pick.span = w.steps.span
        row = self._row(w, e, seconds)
        cols, kinds = excluded_for(mentee_id, self._slot, self._graph, exclude)
        row[cols] = NEG
        return _Ask(mentee, e, w, horizon, week, seconds, row, cols, kinds)

    def _row(self, w: Weights, e: PersonRow, seconds: np.ndarray) -> np.ndarray:
        """`pair_row` without the meeting-window rule, from parts kept per mentee kind while the
        mentor table is unchanged; the same float32 sums in the same order, so the same row."""
        m = self._mentors
        if self._parts_version != m.version:
            self._parts_version, self._parts = m.version, self._new_parts()
        base, persp, goal = self._parts
        we = (w, e)  # Weights are kept per goal count, so their id is stable
        row = base.get((id(w), e.seniority, e.first, e.lang.tobytes()), we) + \
            persp.get((id(w), e.region, e.country, e.sector, e.diverse), we)
        row += goal.get((id(w), e.terms.tobytes(), e.n_terms), we)
        row += hours_part(w, seconds)[m.avail]
        row[~has_capacity(m)] = NEG
        return row

    def _new_parts(self) -> tuple[PartCache, PartCache, PartCache]:
        m, row_bytes = self._mentors, 4 * max(len(self._mentors), 1)
        return (PartCache(lambda we: base_part_any_capacity(we[0], we[1], m), row_bytes, PART_CACHE_BYTES),
                PartCache(lambda we: perspective_part(we[0], we[1], m), row_bytes, PART_CACHE_BYTES),
                PartCache(lambda we: goal_part(we[0], we[1], m), row_bytes, PART_CACHE_BYTES))

    def _best(self, ask: _Ask, k: int) -> list[int]:
        """The k best columns of the row once the meeting-window rule is applied: checked only on the
        classes of the current best, a failing class taken out of the row, until the best all pass.
        The rule only turns entries into -inf, so best entries that pass are the best of the full
        row (ties in column order too). After a few rounds the rule is applied to every class."""
        self._pick.k = k
        row, avail = ask.row, self._mentors.avail
        mine = ask.horizon.starts.of(ask.week)
        for _ in range(LAZY_ROUNDS):
            idx, _ = self._pick(row)
            failing = [c for c in set(avail[idx].tolist()) if not ask.horizon.can_meet(c, mine)]
            if not failing:
                return idx.tolist()
            for c in failing:
                row[avail == c] = NEG
        row[~can_meet(ask.horizon.common_starts(ask.week))[avail]] = NEG
        return self._pick(row)[0].tolist()

    def _mentee_row(self, mentee: Participant) -> PersonRow:
        """The mentee's columns, kept while their profile and the vocabularies' widths are unchanged
        (the ids of their terms never change: the vocabularies learned them at their upsert)."""
        words = (self._vocab.languages.words, self._vocab.terms.words)
        found = self._mentee_rows.get(mentee.participant_id)
        if found is not None and found[0] is mentee and found[1] == words:
            return found[2]
        if len(self._mentee_rows) >= MENTEE_ROWS:
            self._mentee_rows.clear()
        row = person_row(mentee, self._vocab, self._e_classes, terms="goals")
        self._mentee_rows[mentee.participant_id] = (mentee, words, row)
        return row

    def _weights_for(self, mentee: Participant) -> Weights:
        goals = max(1, len(mentee.goals))
        found = self._weights.get(goals)
        if found is None:
            found = self._weights[goals] = Weights(self.settings, max_goals=goals)
        return found

    def _horizon(self, start: int) -> _Horizon:
        grid = start - start % WEEK  # [grid, grid + 2 weeks) holds [start, start + 1 week)
        keys = self._m_classes.keys
        horizon = self._horizons.get(grid)
        if horizon is None or len(keys) - horizon.main.size > SIDE_TABLE_LIMIT:
            horizon = _Horizon(grid, keys, len(keys), self._starts)
        elif horizon.size < len(keys):
            horizon = horizon.with_new_classes(keys)
        if self._horizons.get(grid) is not horizon:
            self._horizons = {g: h for g, h in self._horizons.items() if g >= grid - WEEK}  # keep this week and last
            self._horizons[grid] = horizon
        return horizon

    def _proposals(self, mentee: Participant, slots: list[int], seconds: np.ndarray,
                   at: datetime) -> list[PairProposal]:
        mentors = [self._profiles[self._mentors.ids[j]] for j in slots]  # type: ignore[index]
        explained = explain_pairs([mentee] * len(slots), mentors, seconds[self._mentors.avail[slots]], at=at,
                                  settings=self.settings, free_places=self._mentors.free[slots])
        return [PairProposal(mentee.participant_id, m.participant_id, round(score, 4), why)
                for m, (score, why) in zip(mentors, explained)]
