"""Benchmark: `tandem plan-meetings` for 10,000 pairs x 10 occurrences, checked independently.

Runs the real CLI in a child process (parsing, planning and writing included), measures its wall
time and peak RSS, then re-checks every placed meeting with zoneinfo alone: inside both people's
windows on their own wall clock, no one double-booked (15-minute buffer), minimum notice, and each
occurrence within the tolerance of kickoff + (k - 1) x cadence.

    .venv/bin/python -m benchmarks.scheduling_planner [--pairs 10000] [--occurrences 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.report import write_section
from services.scheduling.domain import PlanningRules
from tandem.population import pair_dicts

START = "2026-03-02T09:00:00Z"  # spans the March/April and Morocco's Ramadan clock changes
TARGET_SECONDS = 30
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROBE = 300  # every 5 minutes, plus the last second; see _inside


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class WallClock:
    """One person's windows read on their own clock with zoneinfo (no shared.availability)."""

    def __init__(self, person: dict) -> None:
        self.zone = ZoneInfo(person["timezone"])
        self.windows = []
        for w in person["availability"]:
            start, end = _minutes(w["start"]), _minutes(w["end"])
            self.windows.append((set(w["days"]), start, end + 1440 if end <= start else end))

    def available(self, instant: int) -> bool:
        local = datetime.fromtimestamp(instant, self.zone)
        minute = local.hour * 60 + local.minute
        today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
        return any((today in days and start <= minute < end)
                   or (end > 1440 and yesterday in days and minute < end - 1440)
                   for days, start, end in self.windows)

    def inside(self, start: int, end: int) -> bool:
        # Population windows start and end on :00 or :30 local, every offset is a multiple of 15
        # minutes and clock changes happen on whole quarter hours UTC, so probing every 5 minutes
        # from a quarter-hour start (and the last second) cannot miss a boundary.
        return all(self.available(t) for t in (*range(start, end, PROBE), end - 1))


KINDS = (
    ("never overlaps", "pair infeasible: availability never overlaps"),
    ("overlaps by at most", "pair infeasible: overlap always shorter than the meeting"),
    ("days from", "kickoff: no common slot in the horizon (they overlap at other times of year)"),
    ("no time when both are available", "occurrence: no common time within +-3 days"),
    ("stretches shorter", "occurrence: common time within +-3 days too short"),
    ("clashes with their other meetings", "occurrence: both free times taken by other meetings"),
    ("is over before", "occurrence: window over before the earliest allowed start"),
)


def reason_kind(reason: str) -> str:
    kind = next((label for phrase, label in KINDS if phrase in reason), reason[:60])
    return kind + (" - clocks moved apart" if "clocks are" in reason else "")


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def verify(pairs: list[dict], rows: list[dict], rules: PlanningRules, start: int) -> dict:
    by_id = {p["relationship_id"]: p for p in pairs}
    clocks: dict[str, WallClock] = {}
    meetings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    kickoffs: dict[str, int] = {}
    problems: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    seen: set[str] = set()
    for row in rows:
        rid = row["relationship_id"]
        seen.add(rid)
        if row.get("infeasible"):
            counts["infeasible pairs"] += 1
            reasons[reason_kind(row["reason"])] += 1
            continue
        if row.get("unplaceable"):
            counts["unplaceable occurrences"] += 1
            reasons[reason_kind(row["reason"])] += 1
            continue
        counts["meetings placed"] += 1
        s, e = _epoch(row["start"]), _epoch(row["end"])
        pair = by_id[rid]
        for role in ("mentor", "mentee"):
            person = pair[role]
            clock = clocks.get(person["participant_id"])
            if clock is None:
                clock = clocks[person["participant_id"]] = WallClock(person)
            if not clock.inside(s, e):
                problems[f"outside the {role}'s window"] += 1
            meetings[person["participant_id"]].append((s, e))
        if e - s != rules.duration:
            problems["wrong duration"] += 1
        if s < start + rules.notice:
            problems["less than the minimum notice"] += 1
        if row["occurrence"] == 1:
            kickoffs[rid] = s
        elif rid in kickoffs:
            target = kickoffs[rid] + (row["occurrence"] - 1) * rules.cadence
            if abs(s - target) > rules.tolerance:
                problems["outside the tolerance"] += 1
    for items in meetings.values():
        items.sort()
        problems["double booking"] += sum(1 for a, b in zip(items, items[1:]) if b[0] < a[1] + rules.buffer)
    if seen != set(by_id):
        problems["pairs missing from the output"] += len(set(by_id) - seen)
    return {"counts": counts, "problems": +problems, "reasons": reasons}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(pairs_path: Path, out_path: Path, occurrences: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one plan-meetings run."""
    cpu = _child_cpu()
    began = time.perf_counter()
    done = subprocess.run(
        # Same as the `tandem` console script (python -m tandem.cli would load the CLI module twice).
        [sys.executable, "-c", "import sys; from tandem.cli import main; sys.exit(main())",
         "plan-meetings", "--pairs", str(pairs_path), "--start", START,
         "--occurrences", str(occurrences), "--out", str(out_path)],
        capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"plan-meetings failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, _child_cpu() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--occurrences", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    pairs = pair_dicts(args.pairs, seed=7)
    mentors = Counter(p["mentor"]["participant_id"] for p in pairs)
    people = len({p[r]["participant_id"] for p in pairs for r in ("mentor", "mentee")})
    zones = Counter(p[r]["timezone"] for p in pairs for r in ("mentor", "mentee"))
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        pairs_path, out_path = Path(tmp) / "pairs.jsonl", Path(tmp) / "meetings.jsonl"
        pairs_path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
        measured = [run_cli(pairs_path, out_path, args.occurrences) for _ in range(args.runs)]
        times, cpus = [m[0] for m in measured], [m[1] for m in measured]
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows = [json.loads(line) for line in out_path.read_text().splitlines()]

    rules = PlanningRules()
    began = time.perf_counter()
    checked = verify(pairs, rows, rules, _epoch(START))
    verify_seconds = time.perf_counter() - began
    counts, problems, reasons = checked["counts"], checked["problems"], checked["reasons"]
    median = statistics.median(times)
    verdict = "meets" if median <= TARGET_SECONDS else "MISSES"
    span_end = datetime.fromisoformat(START) + timedelta(days=2 + 21 + (args.occurrences - 1) * 14 + 3)

    reason_lines = "\n".join(f"| {reason} | {n:,} |" for reason, n in reasons.most_common())
    problem_text = ", ".join(f"{k}: {v}" for k, v in problems.items()) or "none"
    body = f"""
`tandem plan-meetings` on {len(pairs):,} pairs x {args.occurrences} occurrences, run as a child process
(JSONL parsing, validation, planning and writing included), {args.runs} runs.

| | |
|---|---|
| pairs / people | {len(pairs):,} / {people:,} ({len(mentors):,} mentors with 1-4 mentees: {dict(sorted(Counter(mentors.values()).items()))}) |
| time zones | {len(zones)} (incl. Lord_Howe, Chatham, Kathmandu, St_Johns, Casablanca), {START} to about {span_end:%Y-%m-%d} |
| wall time (median of {args.runs}) | **{median:.1f} s** (runs: {", ".join(f"{t:.1f}" for t in times)} s); target {TARGET_SECONDS} s: {verdict} |
| CPU time (median) | {statistics.median(cpus):.1f} s (single-threaded; wall above CPU means the machine was shared) |
| peak RSS of the CLI process | {peak_mib:.0f} MiB |
| meetings placed | {counts["meetings placed"]:,} |
| occurrences unplaceable | {counts["unplaceable occurrences"]:,} |
| pairs infeasible | {counts["infeasible pairs"]:,} ({counts["infeasible pairs"] * args.occurrences:,} occurrences) |
| independent check | {len(rows):,} rows; problems: **{problem_text}** ({verify_seconds:.1f} s) |

The check reads every placed meeting on both people's wall clocks with `zoneinfo` only (every
5 minutes and the last second), sorts each person's meetings to find any closer than the 15-minute
buffer, and checks the 48-hour notice and +-3 days around kickoff + (k-1) x 14 days.

Reasons, grouped:

| reason | count |
|---|---|
{reason_lines}

Pairs come from `tandem.population.pair_dicts` (70% of mentees get a mentor from their own region,
the rest anyone), so infeasible pairs are mostly cross-region matches without common hours.
"""
    print(body)
    if problems:
        print(f"VERIFICATION FAILED: {problem_text}", file=sys.stderr)
    if not args.no_write:
        write_section("scheduling-planner", "Scheduling: plan-meetings", body)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
