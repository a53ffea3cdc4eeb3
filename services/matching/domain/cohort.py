"""The cohort round: one global assignment of mentees to mentors.

The objective is lexicographic (`objective`): as many pairs as the hard rules allow, then the most
total goal fit, then the fewest matched mentees without the diverse perspective they asked for, then
the weighted score with load spread as tie-breakers. No amount of a lower criterion buys a higher one.

1. Candidates: for each mentee, its best `candidates_per_mentee` feasible mentors by ranking key
   (the objective's order within one row), from vectorised rows (mentees of one availability class
   share the overlap work), pruned to each mentee's best few plus each mentor's best few incoming
   arcs; and, from the same rows, each mentor's own best mentees over the whole pool (so a mentor
   with a rare skill reaches the mentees who need it).
2. Proof of maximum cardinality on the *full* feasible graph: a maximum matching of the sparse
   graph (OR-Tools max flow), then an alternating search from every mentor with free places over
   all feasible mentees (mentor-side rows, never pairwise Python). Reaching an unmatched mentee
   means an augmenting path: its arcs (and those mentors' best arcs) join the graph and the max flow
   runs again. When the search finds none, no matching with more pairs exists (Berge), so the
   matched count is the true maximum the hard rules allow.
3. One min-cost flow (OR-Tools) of exactly that many pairs on the final graph, with integer arc
   costs that stack the criteria (`objective.lexicographic_costs`); a mentor's n-th new mentee costs
   `load_spread * (load + n - 1)` of score, so load spreads. Scales that no lower level can outweigh
   over a whole assignment make costs so large that cost scaling slows 5-10x, so the scales first
   only order exchanges of a few pairs, and node potentials of the result then prove it optimal on
   every level (`optimality`); only if they cannot is it solved again with larger scales, at last
   with those that order every assignment. On the complete graph (candidates_per_mentee >= mentors)
   this is the exact lexicographic optimum.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from shared.availability import to_epoch
from shared.people import Participant

from .candidates import (
    NEG,
    BlockTopK,
    ColumnTopK,
    PartCache,
    TermHolders,
    Weights,
    availability_part,
    base_part,
    funnel,
    goal_part_by_holders,
    goal_part_sparse,
    goal_values,
    perspective_part,
    score_of_key,
)
from .features import AvailabilityClasses, PeopleTable, Vocabularies
from .objective import (
    FINEST_TIE_BREAK,
    GOAL_FIT,
    GOAL_UNIT_FALLBACKS,
    FlowCosts,
    diverse_met,
    goal_units,
    lexicographic_costs,
)
from .optimality import optimal_face
from .overlap import MeetingStarts, OverlapTable, class_intervals, week_of
from .reasons import reason_for, taken_in_round
from .results import CohortResult, PairProposal, Unmatched
from .rules import ManagementGraph, exclusions
from .scoring import explain_pairs
from .settings import MatchSettings

CACHE_BYTES = 768 * 2**20
THREADS = min(4, os.cpu_count() or 1)
CHUNK = 64  # mentees scored together: 64 rows of 25,000 mentors stay in cache
# The graph handed to the solvers: each mentee's best few candidates plus, for each mentor, its best
# few incoming candidates relative to its free places. Arcs found by the proof step are added to it.
MENTEE_CORE = 4
SPARSE_GOALS = 16  # a mentee's goal part goes sparse when its goals' holders are under 1/16 of the mentors
MENTOR_CORE = (3, 4)  # keep the best 3 * free_places + 4 arcs into each mentor
# Each mentor's own best mentees over the whole pool (4 * free_places + 4 of them) join the graph:
# a mentor with a rare skill or another region reaches the mentees who need it even when it is
# not among those mentees' top few (measured: the goal-fit and diversity optimum lives there).
MENTOR_SIDE = (4, 4)
# The min-cost flow first orders only exchanges of up to this many pairs (small costs: cost scaling
# is 5-10x faster than with scales that order every assignment, measured at 100k), then proves the
# result optimal on every level from node potentials; failing that, the next bound; at last the
# matching's size, which orders every assignment and needs no proof.
EXCHANGE_BOUNDS = (4, 64)


def solve_cohort(
    mentees: Sequence[Participant],
    mentors: Sequence[Participant],
    *,
    at: datetime,
    settings: MatchSettings = MatchSettings(),
    load: Mapping[str, int] = {},
    excluded_pairs: Collection[tuple[str, str]] = (),
    directory: Mapping[str, str | None] | None = None,
) -> CohortResult:
    """Propose pairs for a whole pool at once. People with both roles may appear in both lists.

    `load`: mentor_id -> current active mentees; `excluded_pairs`: (mentee_id, mentor_id) never to
    propose; `directory`: participant_id -> manager_id for everyone known (chains may pass through
    people outside this round); people missing from it use their own profile's manager_id.
    """
    with _collector_paused():
        return _Round(mentees, mentors, at=at, settings=settings, load=load, excluded_pairs=excluded_pairs,
                      directory=directory).run()


@contextmanager
def _collector_paused():
    """The round allocates millions of small acyclic objects; with 100k+ profiles alive, every
    automatic cycle collection walks them all (measured: ~60 µs per explanation). Pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Round:
    def __init__(self, mentees, mentors, *, at, settings, load, excluded_pairs, directory) -> None:
        self.clock: dict[str, tuple[float, float]] = {}
        self._stamp("start")
        self.at, self.settings = at, settings
        self.start, self.end = week_of(to_epoch(at))  # naive `at` raises here
        _unique(mentees, "mentees")
        _unique(mentors, "mentors")
        self.mentee_profiles = list(mentees)
        self.mentor_profiles = [p for p in mentors if p.is_mentor]  # hard rule: only people with the mentor role

        vocab = Vocabularies()
        vocab.learn_all((*self.mentee_profiles, *self.mentor_profiles))
        self.e_classes, self.m_classes = AvailabilityClasses(), AvailabilityClasses()
        free = [max(0, p.mentor_capacity - max(0, load.get(p.participant_id, 0))) for p in self.mentor_profiles]
        self.load = np.array([max(0, load.get(p.participant_id, 0)) for p in self.mentor_profiles], dtype=np.int64)
        self.E = PeopleTable.build(self.mentee_profiles, vocab, self.e_classes, terms="goals")
        self.M = PeopleTable.build(self.mentor_profiles, vocab, self.m_classes, terms="skills", free=free)
        self.w = Weights(settings, max_goals=int(self.E.n_terms.max(initial=1)))

        managers = {p.participant_id: p.manager_id for p in (*self.mentee_profiles, *self.mentor_profiles)}
        managers.update(directory or {})
        self.graph = ManagementGraph(managers)
        mentor_index = {pid: j for j, pid in enumerate(self.M.ids)}
        self.ex_rows, self.ex_cols, self.ex_kinds = exclusions(self.E.ids, mentor_index, self.graph, excluded_pairs)
        self.ex_ptr = np.searchsorted(self.ex_rows, np.arange(len(self.E) + 1))
        # The same exclusions by mentor, for the mentor-side passes.
        by_col = np.argsort(self.ex_cols, kind="stable")
        self.exT_cols, self.exT_rows = self.ex_cols[by_col], self.ex_rows[by_col]
        self.exT_ptr = np.searchsorted(self.exT_cols, np.arange(len(self.M) + 1))

        self.m_overlap = OverlapTable(self.m_classes.keys, self.start, self.end, query_keys=self.e_classes.keys)
        # Where a meeting may start, per class: a pair with enough hours must also share one stretch
        # long enough for a meeting (hours in many short stretches cannot hold a kickoff).
        self.starts = MeetingStarts(settings.meeting_seconds, settings.slot_seconds)
        self.m_starts = OverlapTable(self.m_classes.keys, self.start, self.end, query_keys=self.e_classes.keys,
                                     intervals_of=self.starts)
        self._e_overlap: OverlapTable | None = None
        self._e_starts: OverlapTable | None = None
        self._stamp("prepared")

    def _stamp(self, name: str) -> None:
        self.clock[name] = (time.perf_counter(), time.process_time())

    # --- 1. candidate graph ---

    def candidate_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        E, M, w = self.E, self.M, self.w
        k = max(1, min(self.settings.candidates_per_mentee, len(M)))
        n = len(E)
        self.best_idx = np.full((n, k), -1, dtype=np.int64)
        self.best_val = np.full((n, k), NEG, dtype=np.float32)

        # Mentees sharing a key share a part; the part itself is a row over all mentors.
        lang_key = _row_keys(E.lang)
        base_key = _combine(E.seniority, E.first, lang_key)
        persp_key = _combine(E.diverse, np.where(E.diverse, E.region, -1), np.where(E.diverse, E.country, -1), E.sector)
        goal_key = _combine(_row_keys(E.terms), E.n_terms)
        row_bytes = 4 * len(M)
        base = PartCache(lambda i: base_part(w, E.row(i), M), row_bytes, CACHE_BYTES // 4)
        persp = PartCache(lambda i: perspective_part(w, E.row(i), M), row_bytes, CACHE_BYTES // 4)
        holders = TermHolders(M)
        goal = PartCache(lambda i: goal_part_by_holders(w, E.row(i), holders), row_bytes, CACHE_BYTES // 2)
        # Mentees whose goals few mentors hold (many rare skills): their goal part is added where it
        # is not 0, without a row of its own.
        sparse_goal = (holders.holdings(E.terms) * SPARSE_GOALS < len(M)).tolist()
        goal_terms = holders.terms_by_row(E.terms)
        goal_tables = {n: goal_values(w, n) for n in np.unique(E.n_terms).tolist()}
        self._mentee_parts = ((base, base_key), (persp, persp_key), (goal, goal_key))

        # Mentees in availability-class order: a class's overlap row is computed once, for a chunk.
        order = np.argsort(E.avail, kind="stable")
        chunks = np.array_split(order, max(1, -(-n // CHUNK))) if n and len(M) else []

        complete = self.settings.candidates_per_mentee >= len(M)
        quota = np.zeros(len(M), np.int64) if complete else MENTOR_SIDE[0] * M.free + MENTOR_SIDE[1]

        def work(part: list[np.ndarray]) -> ColumnTopK:
            pick = BlockTopK(k)
            by_mentor = ColumnTopK(quota)
            block = np.empty((CHUNK, len(M)), dtype=np.float32)
            class_rows: dict[int, np.ndarray] = {}
            for chunk in part:
                classes = np.unique(E.avail[chunk]).tolist()
                missing = [c for c in classes if c not in class_rows]
                class_rows = {c: class_rows[c] for c in classes if c in class_rows}
                class_rows.update(zip(missing, self.class_rows(missing)))
                rows = block[: len(chunk)]
                for r, i in enumerate(chunk.tolist()):
                    out = rows[r]
                    np.add(base.get(base_key[i], i), persp.get(persp_key[i], i), out=out)
                    if sparse_goal[i]:
                        cols, values = goal_part_sparse(holders, goal_terms[i], goal_tables[n_terms[i]])
                        out[cols] += values
                    else:
                        out += goal.get(goal_key[i], i)
                    out += class_rows[avail[i]]
                    lo, hi = ex_ptr[i], ex_ptr[i + 1]
                    if hi > lo:
                        out[self.ex_cols[lo:hi]] = NEG
                self.best_idx[chunk], self.best_val[chunk] = pick(rows)
                if not complete:
                    by_mentor.add(rows, chunk)
            return by_mentor

        avail, ex_ptr, n_terms = E.avail.tolist(), self.ex_ptr.tolist(), E.n_terms.tolist()
        # numpy releases the GIL inside its loops, so threads overlap the block arithmetic.
        threads = max(1, min(THREADS, len(chunks)))
        if threads == 1:
            found = [work(chunks)]
        else:
            with ThreadPoolExecutor(threads) as pool:
                found = list(pool.map(work, [chunks[t::threads] for t in range(threads)]))
        for other in found[1:]:
            found[0].merge(other)
        self.mentor_best = found[0].result() if found else (np.empty(0, np.int64),) * 2 + (np.empty(0, np.float32),)
        self.feasible = self.best_idx[:, 0] >= 0  # has a feasible mentor with free places
        keep = self.best_idx >= 0
        rows = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
        self._stamp("candidates")
        return rows, self.best_idx[keep], self.best_val[keep]

    def mentee_row(self, i: int) -> np.ndarray:
        """Scores of mentee i against every mentor, as in the candidate pass (after candidate_arcs)."""
        (base, base_key), (persp, persp_key), (goal, goal_key) = self._mentee_parts
        row = base.get(base_key[i], i) + persp.get(persp_key[i], i)  # same order as the pass: same float32 sums
        row += goal.get(goal_key[i], i)
        row += self.class_rows([int(self.E.avail[i])])[0]
        row[self.ex_cols[self.ex_ptr[i]:self.ex_ptr[i + 1]]] = NEG
        return row

    def class_rows(self, classes: list[int]) -> np.ndarray:
        """Availability part over all mentors for mentee availability classes (-inf below the rule)."""
        if not classes:
            return np.empty((0, len(self.M)), dtype=np.float32)
        keys = [self.e_classes.keys[c] for c in classes]
        seconds = self.m_overlap.overlap_seconds_many([class_intervals(k, self.start, self.end) for k in keys])
        starts = self.m_starts.overlap_seconds_many([self.starts(k, self.start, self.end) for k in keys])
        return availability_part(self.w, seconds, starts)[:, self.M.avail]

    def prune(self, e: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keep arcs among a mentee's best MENTEE_CORE or a mentor's best incoming ones.

        Arcs come best-first per mentee. Dropping the rest costs little score (measured in the
        benchmark) and never cardinality: step 3 re-adds whatever a maximum matching needs.
        With candidates_per_mentee >= the number of mentors nothing is dropped: the exact optimum.
        """
        if self.settings.candidates_per_mentee >= len(self.M):
            return e, m, s
        rank_e = np.arange(len(e)) - np.searchsorted(e, e)
        by_mentor = np.lexsort((-s, m))
        sorted_m = m[by_mentor]
        rank_m = np.empty(len(e), dtype=np.int64)
        rank_m[by_mentor] = np.arange(len(e)) - np.searchsorted(sorted_m, sorted_m)
        keep = (rank_e < MENTEE_CORE) | (rank_m < MENTOR_CORE[0] * self.M.free[m] + MENTOR_CORE[1])
        return e[keep], m[keep], s[keep]

    # --- the solvers: maximum matching (step 2) and max-flow-min-cost (step 3) ---

    def _network(self, e: np.ndarray, m: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        """source -> mentee (1) -> mentor (1 per arc) -> sink; mentee arcs come after the source arcs."""
        n_e, n_m = len(self.E), len(self.M)
        mentees_used = np.unique(e)
        sink = 1 + n_e + n_m
        tails = np.concatenate([np.zeros(len(mentees_used), np.int64), 1 + e])
        heads = np.concatenate([1 + mentees_used, 1 + n_e + m])
        return len(mentees_used), sink, tails, heads, mentees_used

    def max_matching(self, e: np.ndarray, m: np.ndarray) -> np.ndarray:
        """A maximum matching of the arcs (mentor row per mentee, -1 unmatched), ignoring scores."""
        matched = np.full(len(self.E), -1, dtype=np.int64)
        if len(e) == 0:
            return matched
        first, sink, tails, heads, _ = self._network(e, m)
        n_m = len(self.M)
        flow = max_flow.SimpleMaxFlow()
        flow.add_arcs_with_capacity(
            np.concatenate([tails, 1 + len(self.E) + np.arange(n_m)]),
            np.concatenate([heads, np.full(n_m, sink)]),
            np.concatenate([np.ones(len(tails), np.int64), np.maximum(self.M.free, 0).astype(np.int64)]))
        status = flow.solve(0, sink)
        if status != flow.OPTIMAL:
            raise RuntimeError(f"max-flow solver failed with status {status}")
        used = flow.flows(np.arange(first, first + len(e))) > 0
        matched[e[used]] = m[used]
        return matched

    def assign(self, e: np.ndarray, m: np.ndarray, key: np.ndarray, pairs: int | None = None) -> np.ndarray:
        """mentor row per mentee (-1 unmatched): maximum flow on these arcs (`pairs`, if known),
        then the lexicographic minimum cost (goal fit, diversity, score and load; see `objective`)."""
        n_e, n_m = len(self.E), len(self.M)
        matched = np.full(n_e, -1, dtype=np.int64)
        if len(e) == 0:
            return matched
        if pairs is None:
            pairs = int((self.max_matching(e, m) >= 0).sum())
        first, sink, tails, heads, _ = self._network(e, m)
        # Convex load cost: a mentor's places in order, each dearer by load_spread than the previous.
        units = np.minimum(self.M.free, np.bincount(m, minlength=n_m)).astype(np.int64)
        unit_mentor = np.repeat(np.arange(n_m), units)
        unit_rank = np.arange(len(unit_mentor)) - np.repeat(np.cumsum(units) - units, units)
        flow, costs = self._solve_flow(e, m, key, pairs, tails, heads, first, sink, unit_mentor, unit_rank)
        self.tie_break_units, self.goal_units = costs.tie_break_units, costs.goal_units
        used = flow.flows(np.arange(first, first + len(e))) > 0
        matched[e[used]] = m[used]
        places = flow.flows(np.arange(first + len(e), first + len(e) + len(unit_mentor))) > 0
        # What each level came to (total shortfall; the tie-breaker's cost, load spread included).
        self.objective = {"pairs": int(used.sum()),
                          **{level: int(shortfall[used].sum())
                             for level, shortfall in zip(self.settings.priorities, costs.shortfalls)},
                          "tie_break": int(costs.tie[used].sum() + costs.unit[places].sum())}
        return matched

    def _solve_flow(self, e, m, key, pairs, tails, heads, first, sink, unit_mentor, unit_rank):
        """Exactly `pairs` units in the lexicographic order of the levels (see the module doc).

        Scales that order only exchanges of up to a few pairs keep the costs small and cost scaling
        fast; node potentials of the result then prove it optimal on every level (`optimality`). If
        they do not, larger scales, and at last scales that order every assignment (no proof needed).
        """
        n_e = len(self.E)
        tails = np.concatenate([tails, 1 + n_e + unit_mentor])
        heads = np.concatenate([heads, np.full(len(unit_mentor), sink)])
        capacity = np.ones(len(tails), dtype=np.int64)
        place_rank = self.load[unit_mentor] + unit_rank
        for exchange in (*[b for b in EXCHANGE_BOUNDS if b < pairs], pairs):
            flow, costs = self._min_cost_flow(e, m, key, pairs, exchange, tails, heads, capacity, first, sink,
                                              place_rank)
            if exchange >= pairs:
                proof = "scales"
                break
            flows = flow.flows(np.arange(len(tails)))
            pad = np.zeros(first, np.int64), np.zeros(len(unit_mentor), np.int64)
            levels = [np.concatenate([pad[0], shortfall, pad[1]]) for shortfall in costs.shortfalls]
            if optimal_face(sink + 1, tails, heads, capacity, flows, levels) is not None:
                proof = "potentials"
                break
        self.flow_proof = {"proof": proof, "exchange_bound": exchange}
        return flow, costs

    def _min_cost_flow(self, e, m, key, pairs, exchange, tails, heads, capacity, first, sink, place_rank):
        """Exactly `pairs` units at least cost; if OR-Tools finds the costs too large for its cost
        scaling, the tie-breaker gets coarser (the levels above it stay exact) and it runs again."""
        finest = FINEST_TIE_BREAK
        while True:
            costs = self.arc_costs(e, m, key, place_rank, exchange, finest)
            flow = min_cost_flow.SimpleMinCostFlow()
            flow.add_arcs_with_capacity_and_unit_cost(
                tails, heads, capacity, np.concatenate([np.zeros(first, np.int64), costs.pair, costs.unit]))
            flow.set_nodes_supplies(np.array([0, sink]), np.array([pairs, -pairs]))
            status = flow.solve()
            if status != flow.BAD_COST_RANGE or costs.tie_break_units == 1:
                break
            finest = costs.tie_break_units // 2
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost-flow solver failed with status {status}")
        return flow, costs

    def arc_levels(self, e: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Goals covered, goal count and diverse perspective met, per arc."""
        E, M = self.E, self.M
        covered = np.bitwise_count(E.terms[e] & M.terms[m]).sum(axis=-1).astype(np.int64)
        met = diverse_met(E.diverse[e], M.region[m] != E.region[e], M.sector[m] != E.sector[e])
        return covered, E.n_terms[e].astype(np.int64), met

    def arc_costs(self, e: np.ndarray, m: np.ndarray, key: np.ndarray, place_rank: np.ndarray, pairs: int,
                  finest: int = FINEST_TIE_BREAK) -> FlowCosts:
        """Lexicographic integer costs of the arcs, exact for exchanges of up to `pairs` pairs (the
        matching's size: for every assignment); goal-fit units get coarser only if even the coarsest
        tie-breaker leaves no room in int64 (a pool far beyond 100k with many goal counts)."""
        covered, n_goals, met = self.arc_levels(e, m)
        score = score_of_key(self.w, key, covered, n_goals, met)
        jitter = ((e * 2_654_435_761 + m * 40_503) % 1024) / 1024
        nodes = 2 + len(self.E) + len(self.M)
        for most in GOAL_UNIT_FALLBACKS:
            levels, q = [], 0
            for level in self.settings.priorities:
                if level == GOAL_FIT:
                    units, q = goal_units(covered, n_goals, most)
                    levels.append((q - units, q, len(np.unique(e[n_goals > 0]))))
                else:  # DIVERSE: a mentee who asked and does not get it falls one short
                    asked = self.E.diverse[e]
                    levels.append(((asked & ~met).astype(np.int64), 1, len(np.unique(e[asked]))))
            try:
                costs = lexicographic_costs(levels, score, jitter, place_rank, spread=self.settings.load_spread,
                                            pairs=pairs, nodes=nodes, finest=finest)
            except ValueError:
                continue
            return dataclasses.replace(costs, goal_units=q)
        raise ValueError("the lexicographic cost scales do not fit in int64 for a pool this size")

    # --- step 2: the alternating search over the full feasible graph ---

    def mentor_row(self, j: int) -> np.ndarray:
        """Scores of mentor j against every mentee (-inf where a hard rule fails)."""
        if self._e_overlap is None:
            E, M, w = self.E, self.M, self.w
            self._e_overlap = OverlapTable(self.e_classes.keys, self.start, self.end, query_keys=self.m_classes.keys)
            self._e_starts = OverlapTable(self.e_classes.keys, self.start, self.end, query_keys=self.m_classes.keys,
                                          intervals_of=self.starts)
            row_bytes, budget = 4 * len(E), CACHE_BYTES // 4
            self._m_keys = (_combine(M.seniority, M.first, _row_keys(M.lang), M.free > 0),
                            _combine(M.region, M.country, M.sector))
            self._m_parts = (PartCache(lambda j: base_part(w, E, M.row(j)), row_bytes, budget),
                             PartCache(lambda j: perspective_part(w, E, M.row(j)), row_bytes, budget))
            # Mentees by goal: a mentor's skills covered per mentee is |goals & skills| either way round.
            self._e_holders = TermHolders(E)
        mentor = self.M.row(j)
        key = self.m_classes.keys[mentor.avail]
        seconds = self._e_overlap.overlap_seconds(class_intervals(key, self.start, self.end))
        starts = self._e_starts.overlap_seconds(self.starts(key, self.start, self.end))  # type: ignore[union-attr]
        row = self._m_parts[0].get(self._m_keys[0][j], j) + self._m_parts[1].get(self._m_keys[1][j], j)
        row += goal_part_by_holders(self.w, mentor, self._e_holders, self.E.n_terms)
        row += availability_part(self.w, seconds, starts)[self.E.avail]
        row[self.exT_rows[self.exT_ptr[j]:self.exT_ptr[j + 1]]] = NEG
        return row

    def augmenting_arcs(self, matched: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Arcs completing augmenting paths for `matched`, or None when it is provably maximum.

        Breadth-first and backwards: from mentors with free places to mentees feasible with them
        (not via their own matched arc), from matched mentees to their mentors, and so on. Reaching
        an unmatched mentee closes an augmenting path.
        """
        n_e, n_m = len(self.E), len(self.M)
        assigned = np.bincount(matched[matched >= 0], minlength=n_m)
        residual = np.where(self.M.active, self.M.free - assigned, 0)
        if not ((matched < 0) & self.feasible).any() or not (residual > 0).any():
            return None  # every mentee who could take a mentor has one, or every place is taken
        frontier = np.flatnonzero(residual > 0)
        seen_m = np.zeros(n_m, dtype=bool)
        seen_m[frontier] = True
        seen_e = np.zeros(n_e, dtype=bool)
        via_mentor = np.full(n_e, -1, dtype=np.int64)  # mentee -> mentor reached from it (an unused arc)
        via_score = np.zeros(n_e, dtype=np.float32)
        via_mentee = np.full(n_m, -1, dtype=np.int64)  # mentor -> its matched mentee that leads on
        extra = 2 * self.settings.candidates_per_mentee
        new: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        ends: list[np.ndarray] = []
        while frontier.size:
            layer: list[np.ndarray] = []
            for j in frontier.tolist():
                row = self.mentor_row(j)
                feas = np.flatnonzero(row != NEG)
                feas = feas[matched[feas] != j]
                fresh = feas[~seen_e[feas]]
                seen_e[fresh] = True
                via_mentor[fresh], via_score[fresh] = j, row[fresh]
                unmatched = fresh[matched[fresh] < 0]
                ends.append(unmatched)
                if residual[j] > 0 and (matched[feas] < 0).any():
                    # A mentor with free places: give the solver its best options, not only one path.
                    for pool in (feas, feas[matched[feas] < 0]):
                        top = _best(pool, row[pool], extra + 2 * int(residual[j]))
                        new.append((top, np.full(len(top), j), row[top]))
                onward = fresh[matched[fresh] >= 0]
                mentors, first = np.unique(matched[onward], return_index=True)
                unseen = ~seen_m[mentors]
                mentors = mentors[unseen]
                seen_m[mentors] = True
                via_mentee[mentors] = onward[first[unseen]]
                layer.append(mentors)
            if any(len(x) for x in ends):
                break
            frontier = np.concatenate(layer) if layer else np.empty(0, dtype=np.int64)
        if not any(len(x) for x in ends):
            return None
        # Each path, walked from its unmatched mentee back to a mentor with free places.
        path: list[int] = []
        for i in np.concatenate(ends).tolist():
            while i >= 0:
                path.append(i)
                j = int(via_mentor[i])
                i = int(via_mentee[j]) if residual[j] <= 0 else -1
        pe = np.array(path, dtype=np.int64)
        new.append((pe, via_mentor[pe], via_score[pe]))
        return tuple(np.concatenate(parts) for parts in zip(*new))  # type: ignore[return-value]

    # --- the round ---

    def graph_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sparse graph: each mentee's pruned candidates and each mentor's best mentees."""
        e, m, s = self.prune(*self.candidate_arcs())
        be, bm, bs = self.mentor_best
        return _dedupe(np.concatenate([e, be]), np.concatenate([m, bm]), np.concatenate([s, bs]))

    def run(self) -> CohortResult:
        e, m, s = self.graph_arcs()
        rounds = 0
        while True:  # grow the graph until its maximum matching is a maximum of the full feasible graph
            rounds += 1
            matched = self.max_matching(e, m)
            extra = self.augmenting_arcs(matched)
            if extra is None:
                break
            e, m, s = _dedupe(np.concatenate([e, extra[0]]), np.concatenate([m, extra[1]]),
                              np.concatenate([s, extra[2]]))
        maximum = int((matched >= 0).sum())
        self._stamp("proven")
        matched = self.assign(e, m, s, maximum)
        if int((matched >= 0).sum()) != maximum:  # same arcs, so the same maximum flow
            raise RuntimeError("min-cost-flow returned fewer pairs than the proven maximum")
        self._stamp("solved")
        pairs = self.proposals(matched)
        unmatched = self.reasons(matched)
        self._stamp("explained")
        return CohortResult(pairs, unmatched, self.stats(pairs, unmatched, len(e), rounds))

    def proposals(self, matched: np.ndarray) -> list[PairProposal]:
        rows = np.flatnonzero(matched >= 0)
        cols = matched[rows]
        seconds = np.zeros(len(rows), dtype=np.int64)
        by_class = np.argsort(self.E.avail[rows], kind="stable")
        classes = self.E.avail[rows][by_class]
        for part in np.split(by_class, np.flatnonzero(np.diff(classes)) + 1) if len(rows) else ():
            key = self.e_classes.keys[self.E.avail[rows[part[0]]]]
            per_class = self.m_overlap.overlap_seconds(class_intervals(key, self.start, self.end))
            seconds[part] = per_class[self.M.avail[cols[part]]]
        explained = explain_pairs([self.mentee_profiles[i] for i in rows.tolist()],
                                  [self.mentor_profiles[j] for j in cols.tolist()], seconds, at=self.at,
                                  settings=self.settings, free_places=self.M.free[cols])
        return [PairProposal(self.E.ids[i], self.M.ids[j], round(score, 4), why)
                for i, j, (score, why) in zip(rows.tolist(), cols.tolist(), explained)]

    def reasons(self, matched: np.ndarray) -> list[Unmatched]:
        out: list[Unmatched] = []
        h, minutes = self.settings.min_overlap_hours, self.settings.meeting_minutes
        for i in np.flatnonzero(matched < 0).tolist():
            pid = self.E.ids[i]
            if self.feasible[i]:
                out.append(taken_in_round(pid))
                continue
            key = self.e_classes.keys[self.E.avail[i]]
            seconds = self.m_overlap.overlap_seconds(class_intervals(key, self.start, self.end))
            starts = self.m_starts.overlap_seconds(self.starts(key, self.start, self.end))
            lo, hi = self.ex_ptr[i], self.ex_ptr[i + 1]
            counts = funnel(self.w, self.E.row(i), self.M, seconds, starts, self.ex_cols[lo:hi],
                            self.ex_kinds[lo:hi])
            out.append(reason_for(pid, counts, min_overlap_hours=h, meeting_minutes=minutes))
        return out

    def stats(self, pairs: list[PairProposal], unmatched: list[Unmatched], arcs: int, rounds: int) -> dict:
        by_reason: dict[str, int] = {}
        for u in unmatched:
            by_reason[u.reason_code] = by_reason.get(u.reason_code, 0) + 1
        c = self.clock
        return {
            "mentees": len(self.E),
            "mentors": len(self.M),
            "free_places": int(self.M.free.sum()),
            "matched": len(pairs),
            "unmatched": len(unmatched),
            "unmatched_by_reason": by_reason,
            "mean_score": round(float(np.mean([p.score for p in pairs])), 4) if pairs else 0.0,
            "mean_goal_fit": round(float(np.mean([p.explanation["components"]["goal_fit"]["value"] for p in pairs])), 4)
            if pairs else 0.0,
            # fsum: exact whatever the pairs' order, so equal assignments report equal totals.
            "total_goal_fit": round(math.fsum(p.explanation["components"]["goal_fit"]["value"] for p in pairs), 4),
            "diverse_asked": sum(p.explanation["priorities"]["diverse_perspective"]["asked"] for p in pairs),
            "diverse_met": sum(p.explanation["priorities"]["diverse_perspective"]["met"] for p in pairs),
            "priorities": ["coverage", *self.settings.priorities, "score"],
            "tie_break_units": getattr(self, "tie_break_units", None),
            "goal_fit_units": getattr(self, "goal_units", None),
            "flow_proof": getattr(self, "flow_proof", None),
            "objective": getattr(self, "objective", None),
            "maximum_cardinality_proven": True,
            "candidate_arcs": arcs,
            "solver_rounds": rounds,
            "seconds": _stages(c, 0),
            "cpu_seconds": _stages(c, 1),  # process CPU time: every thread of the round counts
        }


def _stages(clock: Mapping[str, tuple[float, float]], which: int) -> dict[str, float]:
    """Seconds per stage from the round's stamps (which: 0 wall clock, 1 process CPU)."""
    spans = {"prepare": ("start", "prepared"), "candidates": ("prepared", "candidates"),
             "prove_maximum": ("candidates", "proven"), "min_cost_flow": ("proven", "solved"),
             "explain": ("solved", "explained"), "total": ("start", "explained")}
    return {name: round(clock[b][which] - clock[a][which], 3) for name, (a, b) in spans.items()}


def _best(items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The k best-scoring items (ties by position), without sorting them all."""
    if len(items) > k:
        keep = np.sort(np.argpartition(-scores, k - 1)[:k])
        items, scores = items[keep], scores[keep]
    return items[np.argsort(-scores, kind="stable")]


def _unique(people: Sequence[Participant], what: str) -> None:
    seen: set[str] = set()
    for p in people:
        if p.participant_id in seen:
            raise ValueError(f"duplicate participant_id {p.participant_id!r} among {what}")
        seen.add(p.participant_id)


def _row_keys(bits: np.ndarray) -> np.ndarray:
    """A small int per distinct bitset row."""
    if len(bits) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(bits, axis=0, return_inverse=True)[1].reshape(-1)


def _combine(*columns: np.ndarray) -> np.ndarray:
    """A small int per distinct combination of the columns."""
    if len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    stacked = np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1)


def _dedupe(e: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = e * (int(m.max()) + 1 if len(m) else 1) + m
    _, first = np.unique(key, return_index=True)
    return e[first], m[first], s[first]
