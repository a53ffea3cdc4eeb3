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
from datetime import datetime

import numpy as np

from shared.availability import intersect, to_epoch
from shared.people import Participant

from .candidates import NEG, TopK, Weights, funnel, pair_row
from .features import AvailabilityClasses, PeopleTable, Vocabularies, availability_key, person_row
from .overlap import WEEK, MeetingStarts, OverlapTable, class_intervals
from .reasons import reason_for
from .results import PairProposal, Unmatched
from .rules import ManagementGraph, excluded_for
from .scoring import explain_pairs
from .settings import MatchSettings

SIDE_TABLE_LIMIT = 256  # new availability classes served from the side table before a full rebuild


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
        return np.concatenate([self.main.overlap_seconds(intervals), self.side.overlap_seconds(intervals)])

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
        mentee, e, (seconds, starts), row, cols, kinds = self._score(mentee_id, at, exclude)
        self._pick.k = 1
        idx, _ = self._pick(row)
        if len(idx):
            return self._proposals(mentee, [int(idx[0])], seconds, at)[0]
        counts = funnel(self._weights_for(mentee), e, self._mentors, seconds, starts, cols, kinds)
        return reason_for(mentee_id, counts, min_overlap_hours=self.settings.min_overlap_hours,
                          meeting_minutes=self.settings.meeting_minutes)

    def ranked_mentors(self, mentee_id: str, *, at: datetime, exclude: Collection[str] = (),
                       limit: int = 5) -> list[PairProposal]:
        """Up to `limit` feasible mentors with free places, best first (in the order of `objective`)."""
        if limit <= 0:
            return []
        mentee, _, (seconds, _), row, _, _ = self._score(mentee_id, at, exclude)
        self._pick.k = limit
        idx, _ = self._pick(row)
        return self._proposals(mentee, idx.tolist(), seconds, at)

    def _score(self, mentee_id: str, at: datetime, exclude: Collection[str]):
        mentee = self._profiles.get(mentee_id)
        if mentee is None:
            raise KeyError(f"unknown participant {mentee_id!r}")
        start = to_epoch(at)
        e = person_row(mentee, self._vocab, self._e_classes, terms="goals")
        horizon = self._horizon(start)
        own = class_intervals(availability_key(mentee), horizon.start, horizon.end)
        week = intersect(list(own), [(start, start + WEEK)])
        seconds, starts = horizon.overlap_seconds(week), horizon.common_starts(week)
        w = self._weights_for(mentee)
        self._pick.span = w.steps.span
        row = pair_row(w, e, self._mentors, seconds, self._mentors.avail, starts)
        cols, kinds = excluded_for(mentee_id, self._slot, self._graph, exclude)
        row[cols] = NEG
        return mentee, e, (seconds, starts), row, cols, kinds

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
