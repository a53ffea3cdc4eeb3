"""Matching benchmark: the cohort round at 100,000 x 25,000 (time, memory, quality against bounds
and greedy baselines), its goal fit and diversity against the exact lexicographic optimum on every
population generator, the price-of-each-criterion report, and on-demand latency.

    .venv/bin/python -m benchmarks.matching            # full run, writes docs/benchmarks.md
    .venv/bin/python -m benchmarks.matching --quick    # 20,000 x 5,000 and smaller optimum cases

Every proposed pair is re-checked here against the hard rules, written independently of the
engine (shared.availability for the overlap and its longest common window, plain dict walks for
management chains). The exact optimum is computed here too, without engine code: the complete
feasible graph from the profiles (overlap and meeting-long stretches on a minute grid from
shared.availability), then one OR-Tools min-cost flow whose integer
costs stack the levels with provable scales. Big rounds run in a child process so their peak RSS
is their own.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path

import numpy as np
from ortools.graph.python import min_cost_flow

from benchmarks.report import write_section
from services.matching.domain import MatchIndex, MatchSettings, PairProposal, ScoreWeights, solve_cohort
from services.matching.domain.cohort import _Round
from services.matching.domain.pricing import price_criteria
from shared.availability import available_intervals, longest_common_window, weekly_overlap_hours
from tandem.population import POPULATIONS, population, population_dicts

AT = datetime(2027, 3, 22, 7, 30, tzinfo=UTC)  # a Monday; the US is already on summer time, Europe is not
FULL = 10**9  # candidates_per_mentee above the mentor count: the complete graph, exact optimum
# The meeting-window rule as every run here uses it: one stretch holding a whole meeting on a slot step.
MEETING, SLOT = MatchSettings().meeting_seconds, MatchSettings().slot_seconds


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def split(people):
    return [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]


# --- independent checks ---


class Rules:
    """The hard rules, each checked on its own, for (mentee_id, mentor_id) pairs of one population."""

    def __init__(self, people) -> None:
        self.by_id = {p.participant_id: p for p in people}
        self.managers = {p.participant_id: p.manager_id for p in people}

    def above(self, pid):
        seen, current = {pid}, self.managers.get(pid)
        while current is not None and current not in seen:
            seen.add(current)
            yield current
            current = self.managers.get(current)

    def broken(self, pairs, *, min_hours: float, load=None, at: datetime = AT) -> list[str]:
        load = load or {}
        problems = []
        for e_id, m_id in pairs:
            e, m = self.by_id[e_id], self.by_id[m_id]
            if "mentor" not in m.roles:
                problems.append(f"{m_id} is not a mentor")
            if e_id == m_id:
                problems.append(f"{e_id} paired with themselves")
            if not set(e.languages) & set(m.languages):
                problems.append(f"{e_id}/{m_id} share no language")
            if m.seniority <= e.seniority:
                problems.append(f"{e_id}/{m_id} mentor not more senior")
            if m_id in set(self.above(e_id)) or e_id in set(self.above(m_id)):
                problems.append(f"{e_id}/{m_id} in one management chain")
            if weekly_overlap_hours(e.timezone, e.availability, m.timezone, m.availability, at) < min_hours:
                problems.append(f"{e_id}/{m_id} overlap below {min_hours} h")
            if longest_common_window(e.timezone, e.availability, m.timezone, m.availability, at, step=SLOT) < MEETING:
                problems.append(f"{e_id}/{m_id} no stretch holds a {MEETING // 60}-minute meeting")
        for m_id, n in Counter(m for _, m in pairs).items():
            if n > self.by_id[m_id].mentor_capacity - load.get(m_id, 0):
                problems.append(f"{m_id} over capacity ({n})")
        return problems


def broken_pairs(pairs, people, *, min_hours: float, load=None, at: datetime = AT) -> list[str]:
    return Rules(people).broken(pairs, min_hours=min_hours, load=load, at=at)


def goal_fit(e, m) -> float:
    return len(set(e.goals) & set(m.skills)) / len(e.goals) if e.goals else 0.0


def diverse(e, m) -> bool:
    """A mentee who asked for a diverse perspective got a mentor from another region or sector."""
    return bool(e.diverse_perspective and (e.region != m.region or e.sector != m.sector))


WEIGHTED = MatchSettings(priorities=())  # the engine as it was: the weighted score alone


# --- greedy baselines ---


def greedy(mentees, mentors, settings: MatchSettings, *, list_size: int = 32):
    """Mentees in input order; each takes its best feasible mentor with a free place by the ranking
    key of `settings` (priorities=(): the weighted score; ("goal_fit",): goal fit, ties by score).

    Same rules as the engine: each mentee's best `list_size` feasible mentors come from the engine's
    candidate pass; when all of them are full, the mentee's whole row (all mentors) is ranked again.
    """
    started = time.perf_counter()
    rnd = _Round(mentees, mentors, at=AT, settings=settings.model_copy(update={"candidates_per_mentee": list_size}),
                 load={}, excluded_pairs=(), directory=None)
    rnd.candidate_arcs()
    free = rnd.M.free.astype(np.int64).copy()
    pairs, keys, fallbacks = [], [], 0
    for i, mentee in enumerate(mentees):
        row = rnd.best_idx[i]
        hit = next((k for k, j in enumerate(row) if j >= 0 and free[j] > 0), None)
        if hit is not None:
            j, key = int(row[hit]), float(rnd.best_val[i, hit])
        elif rnd.feasible[i] and row[-1] >= 0:  # a full list: maybe someone further down has room
            fallbacks += 1
            full = rnd.mentee_row(i)
            full[free <= 0] = -np.inf
            j = int(np.argmax(full))  # ties: lowest position, like the candidate lists
            if full[j] == -np.inf:
                continue
            key = float(full[j])
        else:
            continue
        free[j] -= 1
        pairs.append((mentee.participant_id, rnd.M.ids[j]))
        keys.append(key)
    return pairs, keys, {"seconds": time.perf_counter() - started, "fallbacks": fallbacks}


# --- bounds on the optimum (the big case, where the complete graph is too large) ---


def best_per_mentee(mentees, mentors, settings: MatchSettings) -> np.ndarray:
    """Each mentee's best key among feasible mentors with free places (-inf if none)."""
    rnd = _Round(mentees, mentors, at=AT, settings=settings.model_copy(update={"candidates_per_mentee": 1}),
                 load={}, excluded_pairs=(), directory=None)
    rnd.candidate_arcs()
    return rnd.best_val[:, 0].astype(np.float64)


def top_sum(values: np.ndarray, count: int) -> float:
    """No matching of `count` mentees can sum more than the `count` largest per-mentee maxima."""
    finite = np.sort(values[np.isfinite(values)])[::-1]
    return float(finite[:count].sum())


# --- the big case (child process) ---


def big_case(kind: str, mentees_n: int, mentors_n: int, full: bool) -> dict:
    """One round at scale; with `full`, also bounds, greedy baselines and on-demand latency."""
    out: dict = {"kind": kind, "mentees": mentees_n, "mentors": mentors_n}
    t = time.perf_counter()
    people = population(kind, mentees_n, mentors_n, seed=7)
    mentees, mentors = split(people)
    out["profiles_seconds"] = time.perf_counter() - t
    gc.collect()
    out["rss_before_gib"] = peak_gib()
    settings = MatchSettings()

    t = time.perf_counter()
    result = solve_cohort(mentees, mentors, at=AT, settings=settings)
    out["solve_seconds"] = time.perf_counter() - t
    out["solve_cpu_seconds"] = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    out["peak_gib"] = peak_gib()
    out["stats"] = result.stats

    pairs = [(p.mentee_id, p.mentor_id) for p in result.pairs]
    by_id = {p.participant_id: p for p in people}
    t = time.perf_counter()
    out["broken"] = broken_pairs(pairs, people, min_hours=settings.min_overlap_hours)[:20]
    out["verify_seconds"] = time.perf_counter() - t
    out["engine"] = quality(pairs, [p.score for p in result.pairs], by_id)
    del result
    gc.collect()
    if not full:
        return out

    # Upper bounds: per-mentee maxima of the score and of goal fit alone (same hard rules).
    matched = len(pairs)
    out["bound_score"] = top_sum(best_per_mentee(mentees, mentors, WEIGHTED), matched)
    goal_only = WEIGHTED.model_copy(update={"weights": ScoreWeights(goal_fit=1, availability=0, seniority=0,
                                                                    perspective=0, language=0)})
    out["bound_goal_fit"] = top_sum(best_per_mentee(mentees, mentors, goal_only), matched)
    t = time.perf_counter()
    weighted = solve_cohort(mentees, mentors, at=AT, settings=WEIGHTED)
    w_pairs = [(p.mentee_id, p.mentor_id) for p in weighted.pairs]
    out["weighted"] = {**quality(w_pairs, [p.score for p in weighted.pairs], by_id), "seconds": time.perf_counter() - t}
    del weighted
    for name, ranking in (("greedy", WEIGHTED), ("greedy_goal", MatchSettings(priorities=("goal_fit",)))):
        g_pairs, g_keys, g_info = greedy(mentees, mentors, ranking)
        scores = g_keys if name == "greedy" else None
        out[name] = {**quality(g_pairs, scores, by_id), **g_info,
                     "broken": len(broken_pairs(g_pairs, people, min_hours=settings.min_overlap_hours))}
    out["on_demand"] = on_demand(people, mentees, settings)
    return out


def quality(pairs, scores, by_id) -> dict:
    fits = [goal_fit(by_id[e], by_id[m]) for e, m in pairs]
    asked = sum(by_id[e].diverse_perspective for e, _ in pairs)
    return {"matched": len(pairs), "total_score": float(np.sum(scores)) if scores is not None else None,
            "mean_score": float(np.mean(scores or [0])) if scores is not None else None,
            "total_goal_fit": float(np.sum(fits)), "mean_goal_fit": float(np.mean(fits or [0])),
            "asked": int(asked), "diverse": sum(diverse(by_id[e], by_id[m]) for e, m in pairs)}


def on_demand(people, mentees, settings, requests: int = 2000) -> dict:
    rng = random.Random(3)
    index = MatchIndex(settings)
    t = time.perf_counter()
    for p in people:
        index.upsert(p)
    load_seconds = time.perf_counter() - t
    mentors = [p for p in people if p.is_mentor]
    asks = [(rng.choice(mentees).participant_id, AT + timedelta(seconds=rng.randrange(7 * 86400)))
            for _ in range(requests)]
    for pid, at in asks[:20]:  # warm-up: both weekly horizons built once
        index.best_mentor(pid, at=at)
    out = {"mentors_loaded": index.mentor_count, "people_loaded": len(index), "load_seconds": load_seconds}
    answers = []
    for label, churn in (("steady", False), ("with_updates", True)):
        times = []
        for k, (pid, at) in enumerate(asks):
            if churn:  # an event between requests: a mentor's load changes, a mentor edits their profile
                m = mentors[k % len(mentors)]
                index.set_load(m.participant_id, k % 3)
                index.upsert(m.with_(seniority=min(10, m.seniority + k % 2)))
            t = time.perf_counter()
            answer = index.best_mentor(pid, at=at)
            times.append(time.perf_counter() - t)
            if not churn:
                answers.append((pid, answer, at))
        ms = np.array(times) * 1000
        out[label] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                      "max_ms": float(ms.max())}
    rules = Rules(people)
    broken = sum(bool(rules.broken([(pid, a.mentor_id)], min_hours=settings.min_overlap_hours, at=at))
                 for pid, a, at in answers if isinstance(a, PairProposal))
    out["answered"] = sum(isinstance(a, PairProposal) for _, a, _ in answers)
    out["broken"] = broken
    return out


# --- the exact optimum on the complete graph (independent of the engine) ---


def minute_grid(timezone, windows, start: int) -> np.ndarray:
    """The week [start, start + 7 days) as packed bits, one per minute the person is available."""
    bits = np.zeros(7 * 1440, dtype=bool)
    for lo, hi in available_intervals(timezone, windows, start, start + 7 * 86400):
        lo, hi = max(lo, start), min(hi, start + 7 * 86400)
        if hi > lo:
            if (lo - start) % 60 or (hi - start) % 60:
                raise ValueError("windows off the minute grid")
            bits[(lo - start) // 60:(hi - start) // 60] = True
    return np.packbits(bits)


def complete_graph(mentees, mentors, *, min_hours: float) -> dict:
    """Every feasible (mentee, mentor) pair by the hard rules, with goals covered and diversity."""
    start = int(AT.timestamp())
    languages = {x: k for k, x in enumerate(sorted({x for p in (*mentees, *mentors) for x in p.languages}))}
    if len(languages) > 62:
        raise ValueError("more languages than one int64 mask holds")
    mask = lambda p: sum(1 << languages[x] for x in p.languages)  # noqa: E731
    m_lang = np.array([mask(m) for m in mentors], dtype=np.int64)
    m_senior = np.array([m.seniority for m in mentors])
    free = np.array([m.mentor_capacity for m in mentors])
    classes: dict = {}
    e_class = [classes.setdefault((p.timezone, p.availability), len(classes)) for p in mentees]
    m_class = np.array([classes.setdefault((p.timezone, p.availability), len(classes)) for p in mentors])
    grids = np.stack([minute_grid(tz, w, start) for tz, w in classes])
    ones = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)
    # Meeting window: the week in slot-long blocks, True where the whole block is available. With the
    # week starting on a slot step and meetings a whole number of slots long, a meeting fits exactly
    # when that many consecutive blocks are common to both.
    if start % SLOT or MEETING % SLOT:
        raise ValueError("the minute-grid check needs a week starting on a slot step and whole-slot meetings")
    per_block = SLOT // 60
    blocks = np.unpackbits(grids, axis=1)[:, : 7 * 1440].reshape(len(classes), -1, per_block).all(axis=2)
    span = MEETING // SLOT
    rules = Rules([*mentees, *mentors])
    column = {m.participant_id: j for j, m in enumerate(mentors)}
    reports_to: dict[str, list[int]] = {}  # person -> mentors whose chain passes through them
    for j, m in enumerate(mentors):
        for boss in rules.above(m.participant_id):
            reports_to.setdefault(boss, []).append(j)
    skills = {x: k for k, x in enumerate(sorted({x for p in (*mentees, *mentors) for x in (*p.skills, *p.goals)}))}
    has_skill = np.zeros((len(mentors), max(1, len(skills))), dtype=np.int8)
    for j, m in enumerate(mentors):
        has_skill[j, [skills[x] for x in m.skills]] = 1
    region, sector = np.array([m.region for m in mentors]), np.array([m.sector for m in mentors])
    overlap_ok: dict[int, np.ndarray] = {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("e", "m", "covered", "goals", "diverse", "asked")}
    for i, e in enumerate(mentees):
        c = e_class[i]
        if c not in overlap_ok:
            hours_ok = ones[grids[c][None, :] & grids[m_class]].sum(axis=1) * 60 / 3600 >= min_hours
            common = blocks[c][None, :] & blocks[m_class]
            run = common[:, : common.shape[1] - span + 1].copy()
            for k in range(1, span):
                run &= common[:, k: common.shape[1] - span + 1 + k]
            overlap_ok[c] = hours_ok & run.any(axis=1)
        ok = overlap_ok[c] & ((m_lang & mask(e)) != 0) & (m_senior > e.seniority) & (free > 0)
        for other in [e.participant_id, *rules.above(e.participant_id)]:
            if other in column:
                ok[column[other]] = False
        ok[reports_to.get(e.participant_id, [])] = False
        js = np.flatnonzero(ok)
        goal_cols = [skills[x] for x in e.goals]
        parts["e"].append(np.full(len(js), i))
        parts["m"].append(js)
        parts["covered"].append(has_skill[js][:, goal_cols].sum(axis=1) if goal_cols else np.zeros(len(js), int))
        parts["goals"].append(np.full(len(js), len(e.goals)))
        parts["diverse"].append(((region[js] != e.region) | (sector[js] != e.sector)) & e.diverse_perspective)
        parts["asked"].append(np.full(len(js), e.diverse_perspective))
    graph = {k: np.concatenate(v).astype(np.int64) for k, v in parts.items()}
    graph["free"] = free
    return graph


def exact_optimum(graph: dict, n_mentees: int, levels: tuple[str, ...]) -> dict:
    """Most pairs, then the most of each level in turn ("goal": total goal fit, exactly in units of
    1/lcm(goal counts); "diverse": pairs whose mentee did not ask for a diverse perspective or got
    one, i.e. the fewest matched mentees who asked and did not get one)."""
    n = graph["goals"]
    q = reduce(math.lcm, sorted(set(n[n > 0].tolist())), 1)
    values = {"goal": np.where(n > 0, graph["covered"] * (q // np.maximum(n, 1)), 0),
              "diverse": (graph["asked"] == 0) | (graph["diverse"] == 1)}
    cost, scale = np.zeros(len(n), dtype=np.int64), 1
    for level in reversed(levels):  # each level's scale exceeds all the levels below can total
        cost -= values[level].astype(np.int64) * scale
        scale *= int(values[level].max(initial=0)) * n_mentees + 1
    e, m, free = graph["e"], graph["m"], graph["free"]
    n_m, sink = len(free), 1 + n_mentees + len(free)
    used = np.unique(e)
    tails = np.concatenate([np.zeros(len(used), np.int64), 1 + e, 1 + n_mentees + np.arange(n_m)])
    heads = np.concatenate([1 + used, 1 + n_mentees + m, np.full(n_m, sink)])
    caps = np.concatenate([np.ones(len(used) + len(e), np.int64), free.astype(np.int64)])
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, np.concatenate(
        [np.zeros(len(used), np.int64), cost, np.zeros(n_m, np.int64)]))
    flow.set_nodes_supplies(np.array([0, sink]), np.array([len(used), -len(used)]))
    if flow.solve_max_flow_with_min_cost() != flow.OPTIMAL:
        raise RuntimeError("exact optimum: the flow solver failed")
    on = flow.flows(np.arange(len(used), len(used) + len(e))) > 0
    fit = np.where(n > 0, graph["covered"] / np.maximum(n, 1), 0.0)
    return {"matched": int(on.sum()), "total_goal_fit": float(fit[on].sum()),
            "diverse": int(graph["diverse"][on].sum()), "asked": int(graph["asked"][on].sum())}


def greedy_by_goal_fit(graph: dict, n_mentees: int) -> dict:
    """Mentees in input order, each taking the feasible mentor with a free place that covers the
    most of its goals (ties: the lowest mentor position): a plain greedy pick by goal fit."""
    free = graph["free"].copy()
    order = np.lexsort((graph["m"], -graph["covered"], graph["e"]))
    e, m = graph["e"][order], graph["m"][order]
    starts = np.searchsorted(e, np.arange(n_mentees + 1))
    taken = []
    for i in range(n_mentees):
        for k in range(starts[i], starts[i + 1]):
            if free[m[k]] > 0:
                free[m[k]] -= 1
                taken.append(order[k])
                break
    on = np.zeros(len(graph["e"]), dtype=bool)
    on[taken] = True
    n = graph["goals"]
    fit = np.where(n > 0, graph["covered"] / np.maximum(n, 1), 0.0)
    return {"matched": int(on.sum()), "total_goal_fit": float(fit[on].sum()),
            "diverse": int(graph["diverse"][on].sum()), "asked": int(graph["asked"][on].sum())}


def optimum_case(kind: str, mentees_n: int, mentors_n: int, seed: int) -> dict:
    """The engine (sparse and complete graph), the weighted-score engine and a greedy pick, against the
    exact lexicographic optimum and the diversity-only optimum, on one population."""
    people = population(kind, mentees_n, mentors_n, seed=seed)
    mentees, mentors = split(people)
    by_id = {p.participant_id: p for p in people}
    t = time.perf_counter()
    graph = complete_graph(mentees, mentors, min_hours=2.0)
    exact = exact_optimum(graph, len(mentees), ("goal", "diverse"))
    out = {"kind": kind, "case": f"{mentees_n:,} x {mentors_n:,}", "arcs": len(graph["e"]),
           "exact": exact, "exact_seconds": time.perf_counter() - t,
           "diverse_only": exact_optimum(graph, len(mentees), ("diverse",)),
           "greedy_goal": greedy_by_goal_fit(graph, len(mentees))}
    runs = (("engine", MatchSettings()), ("engine_complete", MatchSettings(candidates_per_mentee=FULL)),
            ("weighted", WEIGHTED))
    for label, settings in runs:
        t = time.perf_counter()
        result = solve_cohort(mentees, mentors, at=AT, settings=settings)
        seconds = time.perf_counter() - t
        pairs = [(p.mentee_id, p.mentor_id) for p in result.pairs]
        broken = broken_pairs(pairs, people, min_hours=settings.min_overlap_hours)
        out[label] = {**quality(pairs, [p.score for p in result.pairs], by_id), "seconds": seconds,
                      "broken": len(broken)}
    return out


def cost_report(kind: str, mentees_n: int, mentors_n: int, seed: int) -> dict:
    people = population(kind, mentees_n, mentors_n, seed=seed)
    mentees, mentors = split(people)
    t = time.perf_counter()
    report = price_criteria(lambda s: solve_cohort(mentees, mentors, at=AT, settings=s), MatchSettings())
    return {"kind": kind, "case": f"{mentees_n:,} x {mentors_n:,}", "lines": report.lines(),
            "seconds": time.perf_counter() - t}


# --- report ---


def cli_end_to_end(mentees_n: int, mentors_n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with src.open("w") as f:
            for d in population_dicts("default", mentees_n, mentors_n, seed=7):
                f.write(json.dumps(d) + "\n")
        t = time.perf_counter()
        run = subprocess.run([str(Path(sys.executable).parent / "tandem"), "match-cohort", "--participants", str(src),
                              "--out", str(dst), "--at", AT.isoformat()], capture_output=True, text=True)
        seconds = time.perf_counter() - t
        return {"seconds": seconds, "returncode": run.returncode, "summary": run.stderr.strip(),
                "lines": sum(1 for _ in dst.open()) if dst.exists() else 0, "input_mib": src.stat().st_size / 2**20}


def _pct(part: float, whole: float, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f} %" if whole else "-"


def render_big(big: dict, quick: bool) -> list[str]:
    s, e = big["stats"], big["engine"]
    n = f"{big['mentees']:,} mentees x {big['mentors']:,} mentors"
    return [
        f"Cohort round on the `{big['kind']}` population (seed 7, capacities 1-4), {n}, `at` = {AT.isoformat()}, "
        "default settings (≥ 2 h overlap, goal fit then diversity then score, 16 candidates per mentee)."
        + (" **Quick run** (`--quick`), not the 100k target." if quick else ""),
        "",
        "| Cohort round | Result |",
        "|---|---|",
        f"| `solve_cohort` wall time | **{big['solve_seconds']:.1f} s** (prepare {s['seconds']['prepare']:.1f}, "
        f"candidates {s['seconds']['candidates']:.1f}, proof of maximum {s['seconds']['prove_maximum']:.1f}, "
        f"min-cost flow {s['seconds']['min_cost_flow']:.1f}, explanations {s['seconds']['explain']:.1f}); "
        f"target 60 s: {'meets' if big['solve_seconds'] <= 60 else 'misses'} |",
        f"| Peak RSS of the process | **{big['peak_gib']:.2f} GiB** ({big['rss_before_gib']:.2f} GiB before the round: "
        f"the {big['mentees'] + big['mentors']:,} profile objects); target 4 GiB: "
        f"{'meets' if big['peak_gib'] <= 4 else 'misses'} |",
        f"| Matched | **{s['matched']:,}** = maximum the hard rules allow (proved: no augmenting path in the full "
        f"feasible graph; {s['free_places']:,} free places), {s['unmatched']:,} unmatched: "
        + ", ".join(f"{k} {v:,}" for k, v in s["unmatched_by_reason"].items()) + " |",
        f"| Goal fit / diversity | total goal fit {e['total_goal_fit']:,.1f} (mean {e['mean_goal_fit']:.4f}); "
        f"{e['diverse']:,} of {e['asked']:,} matched mentees who asked got a mentor from another region or sector "
        f"({_pct(e['diverse'], e['asked'], 2)}) |",
        f"| Hard rules re-checked independently | {s['matched']:,} pairs, **{len(big['broken'])} broken** "
        f"({big['verify_seconds']:.1f} s) |",
        f"| Candidate graph, flow costs | {s['candidate_arcs']:,} arcs, {s['solver_rounds']} max-flow rounds; "
        f"tie-breaker resolution 1/{s['tie_break_units']:,} of score |",
    ]


def render_quality(big: dict) -> list[str]:
    s, e, w, g, gg = big["stats"], big["engine"], big["weighted"], big["greedy"], big["greedy_goal"]
    return [
        "",
        "| Quality (same pool) | Engine (goal fit first) | Weighted score only | Greedy by score | Greedy by goal fit "
        "| Upper bound |",
        "|---|---|---|---|---|---|",
        f"| Matched | {e['matched']:,} | {w['matched']:,} | {g['matched']:,} | {gg['matched']:,} | {s['matched']:,} |",
        f"| Total goal fit | **{e['total_goal_fit']:,.1f}** ({_pct(e['total_goal_fit'], big['bound_goal_fit'], 2)} of "
        f"the bound) | {w['total_goal_fit']:,.1f} | {g['total_goal_fit']:,.1f} | {gg['total_goal_fit']:,.1f} | "
        f"{big['bound_goal_fit']:,.1f} |",
        f"| Diverse perspective, of matched who asked | {_pct(e['diverse'], e['asked'], 2)} | "
        f"{_pct(w['diverse'], w['asked'], 2)} | {_pct(g['diverse'], g['asked'], 2)} | "
        f"{_pct(gg['diverse'], gg['asked'], 2)} | |",
        f"| Total score | {e['total_score']:,.1f} | {w['total_score']:,.1f} | {g['total_score']:,.1f} | | "
        f"{big['bound_score']:,.1f} |",
        f"| Wall time | {big['solve_seconds']:.1f} s | {w['seconds']:.1f} s | {g['seconds']:.1f} s "
        f"({g['fallbacks']:,} full-row fallbacks) | {gg['seconds']:.1f} s | |",
        "",
        "Upper bounds: no matching of F mentees can beat the sum of the F largest per-mentee maxima (best "
        "feasible goal fit, resp. score, each over all mentors); the complete graph (2.5 billion pairs) is too "
        "large for the exact optimum here, see the table below for that. Greedy: mentees in input order, each "
        "takes its best feasible mentor with a free place (same rules); greedy pairs broke "
        f"{g['broken'] + gg['broken']} rules.",
    ]


def render_optimum(cases: list[dict]) -> list[str]:
    lines = [
        "",
        "Against the exact optimum, per population generator (`tandem.population.POPULATIONS`: `default` 20 skills, "
        "mentors offer 3-6; `many-skills` 120 skills, mentors offer 2-5, mentees want 1-3; `thin` 400 skills spread "
        "thin, mentors offer 1-3, demand skewed to skills few offer, skills tied to sectors, mentors concentrated in "
        "two regions):",
        "",
        "| Population | Method | Matched | Goal fit (of the optimum) | Asked for a diverse perspective: served "
        "(share) | Asked, not served (optimum) | Seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = (("exact", "**exact lexicographic optimum**"), ("engine", "engine (default, sparse graph)"),
              ("engine_complete", "engine on the complete graph"),
              ("weighted", "weighted score only (the old objective)"),
              ("greedy_goal", "greedy by goal fit"), ("diverse_only", "optimum of diversity alone"))
    for case in cases:
        x = case["exact"]
        for key, label in labels:
            r = case[key]
            seconds = case["exact_seconds"] if key == "exact" else r.get("seconds")
            lines.append(
                f"| {case['kind']} {case['case']} | {label} | {r['matched']:,} | {r['total_goal_fit']:,.1f} "
                f"({_pct(r['total_goal_fit'], x['total_goal_fit'], 2)}) | {r['diverse']:,} of {r['asked']:,} "
                f"({_pct(r['diverse'], r['asked'], 1)}) | {r['asked'] - r['diverse']:,} "
                f"({x['asked'] - x['diverse']:,}) | "
                + (f"{seconds:.1f} |" if seconds is not None else " |"))
    broken = sum(case[k]["broken"] for case in cases for k in ("engine", "engine_complete", "weighted"))
    lines += [
        "",
        "Exact optimum: the complete feasible graph built here from the profiles without engine code (hard rules "
        "as in the re-check, overlap and a stretch holding a whole meeting from `shared.availability` on a minute "
        "grid), then one OR-Tools min-cost flow "
        "of maximum flow whose integer arc costs are goal fit in units of 1/lcm(goal counts) times a scale above "
        "any total diversity can reach, plus diversity (the fewest matched mentees who asked for a diverse "
        "perspective and did not get one, as the engine counts it): exact for coverage, then goal fit, then "
        "diversity. \"Optimum of diversity alone\" drops goal fit. Targets: goal fit ≥ 98 % of the optimum and "
        "≥ 98 % of those who asked served, in the same run, where the optimum allows it (on `thin` even the "
        "optimum serves fewer: goal fit comes first). Engine pairs re-checked against the hard rules: "
        f"{broken} broken.",
    ]
    return lines


def render(bigs: list[dict], cases: list[dict], reports: list[dict], cli: dict | None, quick: bool) -> str:
    big = bigs[0]
    od = big["on_demand"]
    lines = render_big(big, quick) + render_quality(big)
    for other in bigs[1:]:
        lines += [""] + render_big(other, quick)
    lines += render_optimum(cases)
    for report in reports:
        lines += ["", f"The price of each criterion (`tandem match-cohort --report`) on the `{report['kind']}` "
                      f"population, {report['case']} (four rounds, {report['seconds']:.1f} s):",
                  "", "```", *report["lines"], "```"]
    if reports:
        lines += ["", "Goal fit moving by a few tenths of a percent when diversity or load spread is dropped is not a "
                      "trade (goal fit ranks above both): each re-solve builds its own sparse candidate graph, and "
                      "the sparse graph is within 99.3-100 % of the goal-fit optimum (table above)."]
    lines += [
        "",
        f"| On-demand (`MatchIndex.best_mentor`, {od['mentors_loaded']:,} mentors, {od['people_loaded']:,} people "
        "loaded; goal fit, then diversity, then score) | p50 | p99 | max |",
        "|---|---|---|---|",
        f"| 2,000 requests, random mentee, random `at` in the week | {od['steady']['p50_ms']:.2f} ms | "
        f"**{od['steady']['p99_ms']:.2f} ms** | {od['steady']['max_ms']:.1f} ms |",
        f"| same, with a mentor upsert + load change before every request | {od['with_updates']['p50_ms']:.2f} ms | "
        f"**{od['with_updates']['p99_ms']:.2f} ms** | {od['with_updates']['max_ms']:.1f} ms |",
        "",
        f"Index load: {od['load_seconds']:.1f} s for {od['people_loaded']:,} upserts. {od['answered']:,} of 2,000 "
        f"requests found a mentor; {od['broken']} answers broke a rule when re-checked.",
    ]
    if cli:
        lines += ["", f"`tandem match-cohort` end to end on the same {big['mentees']:,} x {big['mentors']:,} "
                      f"({cli['input_mib']:.0f} MiB JSONL, {cli['lines']:,} output lines): {cli['seconds']:.1f} s, "
                      f"exit {cli['returncode']}. Its summary:", "", "```", cli["summary"], "```"]
    return "\n".join(lines)


def run_child(kind: str, mentees_n: int, mentors_n: int, full: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.json"
        subprocess.run([sys.executable, "-m", "benchmarks.matching", "--child", kind, str(mentees_n), str(mentors_n),
                        "full" if full else "light", str(out)], check=True)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.matching")
    parser.add_argument("--quick", action="store_true", help="20,000 x 5,000 instead of 100,000 x 25,000")
    parser.add_argument("--child", nargs=5, metavar=("KIND", "MENTEES", "MENTORS", "FULL", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI timing")
    parser.add_argument("--load-note", default="", help="a note on the machine's load, printed in the report")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.child:
        kind, mentees_n, mentors_n, full, path = args.child
        Path(path).write_text(json.dumps(big_case(kind, int(mentees_n), int(mentors_n), full == "full"), default=float))
        return 0
    load_before = os.getloadavg()
    mentees_n, mentors_n = (20_000, 5_000) if args.quick else (100_000, 25_000)
    bigs = [run_child("default", mentees_n, mentors_n, True), run_child("thin", mentees_n, mentors_n, False)]
    print(json.dumps([{k: v for k, v in b.items() if k != "stats"} for b in bigs], indent=1, default=float),
          file=sys.stderr)
    sizes = [(2000, 500, 6)] if args.quick else [(2000, 500, 6), (5000, 1250, 8)]
    cases = [optimum_case(kind, e, m, seed) for e, m, seed in sizes for kind in POPULATIONS]
    e_n, m_n, seed = sizes[-1]
    # Two pools: one where every place is taken (load spread cannot matter), one with spare places.
    reports = [cost_report("thin", e_n, m_n, seed), cost_report("many-skills", e_n, 2 * m_n, seed)]
    cli = None if args.no_cli else cli_end_to_end(mentees_n, mentors_n)
    body = render(bigs, cases, reports, cli, args.quick)
    load_after = os.getloadavg()
    busy = max(load_before[0], load_after[0]) > 2.5
    body += ("\n\nLoad average (1 min) on this 2-core machine: "
             f"{load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end"
             + (f"; {args.load_note}" if args.load_note else "")
             + (": **busy**, other work shared the cores, so wall times are longer than on a quiet machine."
                if busy else ": quiet (the benchmark itself uses up to 2 threads).")
             + " Figures are single runs.")
    if not args.no_write:
        write_section("matching", "Matching", body)
    print(body)
    broken = any(b["broken"] for b in bigs) or big_broken(bigs) or any(
        case[k]["broken"] for case in cases for k in ("engine", "engine_complete", "weighted"))
    return 1 if broken else 0


def big_broken(bigs: list[dict]) -> bool:
    return bool(bigs[0]["on_demand"]["broken"])


if __name__ == "__main__":
    sys.exit(main())
