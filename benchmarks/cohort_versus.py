"""`tandem match-cohort` of this checkout against the engine of an earlier commit, side by side in one run.

    .venv/bin/python -m benchmarks.cohort_versus                 # 100,000 x 25,000, default and thin, 2 runs each
    .venv/bin/python -m benchmarks.cohort_versus --quick         # 20,000 x 5,000
    .venv/bin/python -m benchmarks.cohort_versus --baseline REV --repeats 3 --populations default

The baseline defaults to the code of 2026-12-02 (the last commit before 2026-12-03 UTC, before the
goal-first objective), unpacked with `git archive` into a temporary directory. Both engines read the
same JSONL file (benchmarks.matching's populations, seed 7) through their own CLI, each in a fresh
process; runs alternate (baseline, this checkout, this checkout, baseline, ...) so that load from
other work on the machine falls on both alike. Wall time, the CLI's own "matching" figure, CPU
seconds and peak RSS of each process are reported, and the round's stage times from its stats.
Quality is computed here from the output files and the profiles: pairs, total goal fit, diverse
perspective served, mean score, and every pair re-checked against the hard rules
(benchmarks.matching.Rules).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.matching import AT, Rules, diverse, goal_fit
from benchmarks.report import write_section
from tandem.population import population, population_dicts

ROOT = Path(__file__).resolve().parent.parent
BASELINE_BEFORE = "2026-12-03T00:00:00Z"  # the code of 2026-12-02
TARGET_CLI_S, TARGET_MATCHING_S = 60, 30
# Runs `tandem match-cohort` of the tree in argv[1] (first on sys.path, ahead of the editable
# install) and writes the round's stats to argv[2].
DRIVER = '''
import json, sys
tree, stats_path, *cli = sys.argv[1:]
sys.path.insert(0, tree)
import tandem.commands.match_cohort as command
assert command.__file__.startswith(tree), command.__file__
solve = command.solve_cohort
def recorded(*args, **kwargs):
    result = solve(*args, **kwargs)
    with open(stats_path, "w") as f:
        json.dump(result.stats, f, default=str)
    return result
command.solve_cohort = recorded
from tandem.cli import main
sys.exit(main(cli))
'''
SUMMARY = re.compile(r"([\d.]+) s \(reading ([\d.]+) s, matching ([\d.]+) s\)")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def unpack(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def run_cli(tree: Path, driver: Path, src: Path, work: Path) -> dict:
    stats, out, log = work / "stats.json", work / "out.jsonl", work / "cli.log"
    for path in (stats, out):
        path.unlink(missing_ok=True)
    cmd = [sys.executable, "-I", str(driver), str(tree), str(stats), "match-cohort", "--participants", str(src),
           "--out", str(out), "--at", AT.isoformat()]
    with log.open("w") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=tree, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and peak RSS
        wall = time.perf_counter() - started
    stderr = log.read_text()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"match-cohort in {tree} exited {code}: {stderr[-2000:]}")
    summary = SUMMARY.search(stderr)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_gib": usage.ru_maxrss / 2**20,
            "cli_total_s": float(summary.group(1)), "reading_s": float(summary.group(2)),
            "matching_s": float(summary.group(3)), "stages": json.loads(stats.read_text())["seconds"],
            "cpu_stages": json.loads(stats.read_text()).get("cpu_seconds"),  # engines since 2026-12-07 only
            "flow_proof": json.loads(stats.read_text()).get("flow_proof"),
            "pairs": [(d["mentee_id"], d["mentor_id"], d["score"]) for d in map(json.loads, out.open())
                      if d["mentor_id"] is not None]}


def quality(pairs: list, by_id: dict, rules: Rules) -> dict:
    asked = [e for e, _, _ in pairs if by_id[e].diverse_perspective]
    return {"pairs": len(pairs), "total_goal_fit": sum(goal_fit(by_id[e], by_id[m]) for e, m, _ in pairs),
            "asked": len(asked), "served": sum(diverse(by_id[e], by_id[m]) for e, m, _ in pairs),
            "mean_score": statistics.fmean(s for _, _, s in pairs) if pairs else 0.0,
            "broken": len(rules.broken([(e, m) for e, m, _ in pairs], min_hours=2.0))}


def compare(kind: str, n_e: int, n_m: int, repeats: int, trees: dict[str, Path], driver: Path, work: Path) -> dict:
    src = work / f"{kind}.jsonl"
    with src.open("w") as f:
        for d in population_dicts(kind, n_e, n_m, seed=7):
            f.write(json.dumps(d) + "\n")
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    names = list(trees)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            run = run_cli(trees[name], driver, src, work)
            print(f"{kind} {name} run {r + 1}: {run['wall_s']:.1f} s end to end, matching {run['matching_s']:.1f} s, "
                  f"stages {run['stages']}, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            runs[name].append(run)
    people = population(kind, n_e, n_m, seed=7)
    by_id, rules = {p.participant_id: p for p in people}, Rules(people)
    out = {"kind": kind, "mentees": n_e, "mentors": n_m, "input_mib": src.stat().st_size / 2**20}
    for name, done in runs.items():
        last = done[-1]
        out[name] = {"runs": [{k: v for k, v in run.items() if k != "pairs"} for run in done],
                     "quality": quality(last["pairs"], by_id, rules),
                     "same_pairs_every_run": all(run["pairs"] == last["pairs"] for run in done)}
    src.unlink()
    return out


def solve_only(kind: str, n_e: int, n_m: int) -> dict:
    """This checkout's round up to the proven maximum, then the min-cost flow on that one graph both
    ways: with the scales that order every assignment (the goal-first solve of 2026-12-03, now the
    fallback) and with small scales and the proof. CPU seconds of this process, so load matters less."""
    from services.matching.domain import MatchSettings, cohort

    people = population(kind, n_e, n_m, seed=7)
    rnd = cohort._Round([p for p in people if p.is_mentee], [p for p in people if p.is_mentor], at=AT,
                        settings=MatchSettings(), load={}, excluded_pairs=(), directory=None)
    e, m, s = rnd.graph_arcs()
    while (extra := rnd.augmenting_arcs(matched := rnd.max_matching(e, m))) is not None:
        e, m, s = cohort._dedupe(*(np.concatenate(x) for x in zip((e, m, s), extra)))
    pairs = int((matched >= 0).sum())
    out = {"kind": kind, "arcs": len(e), "pairs": pairs}
    for label, bounds in (("every_assignment", ()), ("proven", cohort.EXCHANGE_BOUNDS)):
        cohort.EXCHANGE_BOUNDS = bounds
        wall, cpu = time.perf_counter(), time.process_time()
        rnd.assign(e, m, s, pairs)
        out[label] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                      "objective": rnd.objective, "flow_proof": rnd.flow_proof}
    return out


def levels(solved: dict) -> dict:
    """The objective's levels above the tie-breaker (whose resolution differs between the two solves)."""
    return {k: v for k, v in solved["objective"].items() if k != "tie_break"}


def median(runs: list[dict], key: str, stage: bool = False) -> float:
    return statistics.median(run["stages"][key] if stage else run[key] for run in runs)


def render(cases: list[dict], baseline: str, head: str, repeats: int, loads: tuple, note: str,
           solves: list[dict]) -> str:
    lines = [
        f"`tandem match-cohort` of this checkout ({head}) against the engine of 2026-12-02 ({baseline}: the last "
        "commit before the goal-first objective), both on the same JSONL input (`benchmarks.matching`'s "
        f"populations, seed 7, `--at {AT.isoformat()}`), each in a fresh process, {repeats} runs each, "
        "alternating (baseline, this checkout, this checkout, baseline, ...). Figures are medians; every run "
        "is listed below. `python -m benchmarks.cohort_versus` reproduces this section.",
        "",
        "| Population | Engine | End to end (target ≤ 60 s) | Matching (target ≤ 30 s) | Reading | CPU | Peak RSS "
        "| Candidates | Proof of maximum | Min-cost flow | Explanations |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for name, label in (("baseline", "2026-12-02"), ("head", "this checkout")):
            runs = case[name]["runs"]
            lines.append(
                f"| {case['kind']} {case['mentees']:,} x {case['mentors']:,} | {label} | "
                f"**{median(runs, 'wall_s'):.1f} s** | **{median(runs, 'matching_s'):.1f} s** | "
                f"{median(runs, 'reading_s'):.1f} s | {median(runs, 'cpu_s'):.1f} s | "
                f"{max(r['peak_gib'] for r in runs):.2f} GiB | {median(runs, 'candidates', True):.1f} s | "
                f"{median(runs, 'prove_maximum', True):.1f} s | {median(runs, 'min_cost_flow', True):.1f} s | "
                f"{median(runs, 'explain', True):.1f} s |")
    cpu = [(case, case["head"]["runs"]) for case in cases if all(r.get("cpu_stages") for r in case["head"]["runs"])]
    if cpu:
        lines += ["", "This checkout's round in CPU seconds (process time of all its threads, from the round's own "
                      "stamps; steadier than wall time on a shared machine), medians:", "",
                  "| Population | Prepare | Candidates | Proof of maximum | Min-cost flow | Explanations | Matching "
                  "| CLI process |", "|---|---|---|---|---|---|---|---|"]
        for case, runs in cpu:
            per = {key: statistics.median(r["cpu_stages"][key] for r in runs)
                   for key in ("prepare", "candidates", "prove_maximum", "min_cost_flow", "explain", "total")}
            lines.append(f"| {case['kind']} | {per['prepare']:.1f} s | {per['candidates']:.1f} s | "
                         f"{per['prove_maximum']:.1f} s | {per['min_cost_flow']:.1f} s | {per['explain']:.1f} s | "
                         f"**{per['total']:.1f} s** | {median(runs, 'cpu_s'):.1f} s |")
    verdicts = []
    for case in cases:
        runs = case["head"]["runs"]
        wall, matching = median(runs, "wall_s"), median(runs, "matching_s")
        verdicts.append(f"{case['kind']}: {wall:.0f} s end to end ({'meets' if wall <= TARGET_CLI_S else 'misses'}), "
                        f"{matching:.0f} s matching ({'meets' if matching <= TARGET_MATCHING_S else 'misses'}), "
                        f"{median(runs, 'cpu_s'):.0f} CPU seconds against "
                        f"{median(case['baseline']['runs'], 'cpu_s'):.0f} for 2026-12-02")
    lines += ["", "Targets for this checkout, by wall time on this run's machine: " + "; ".join(verdicts) + "."]
    lines += ["", "| Population | Engine | Pairs | Total goal fit (mean) | Diverse perspective, of matched who asked "
                  "| Mean score | Hard rules broken | Same pairs in every run |",
              "|---|---|---|---|---|---|---|---|"]
    for case in cases:
        for name, label in (("baseline", "2026-12-02"), ("head", "this checkout")):
            q = case[name]["quality"]
            lines.append(
                f"| {case['kind']} | {label} | {q['pairs']:,} | {q['total_goal_fit']:,.1f} "
                f"({q['total_goal_fit'] / max(1, q['pairs']):.4f}) | {q['served']:,} of {q['asked']:,} "
                f"({100 * q['served'] / max(1, q['asked']):.2f} %) | {q['mean_score']:.4f} | {q['broken']} | "
                f"{'yes' if case[name]['same_pairs_every_run'] else 'no'} |")
    lines += ["", "The goal-first objective (2026-12-03) gave the min-cost flow integer costs that stack goal fit, "
                  "diversity and score with scales ordering every possible assignment (up to 7e12 at 100,000 x 25,000), "
                  "and OR-Tools' cost scaling runs much longer on them (table below). The round now solves once with scales that "
                  "order exchanges of up to 4 pairs (costs below 2e7), then proves the result lexicographically "
                  "optimal from node potentials: Bellman-Ford on the residual graph, level by level on each level's "
                  "optimal face (`services/matching/domain/optimality.py`, about 0.3 s here). Larger scales, and at "
                  "last the old ones, remain for a result the potentials cannot prove; the tests compare every level "
                  "with that reference solve.",
              "",
              "Since then (2026-12-07), the same pairs for less CPU: the candidate pass takes each row's top-k "
              "threshold as the k-th best of the maxima of 4k runs of columns (k distinct entries reach it, so "
              "no row is partitioned), adds the goal part of rare goals only at the mentors who hold them, and "
              "the proof of maximum builds a mentor's goal part from the mentees' goal holders; explanations "
              "round each component's distinct values once. `tandem match-cohort` reads with cycle collection "
              "paused and each time zone loaded once (ZoneInfo keeps only the last 8 alive), and writes with "
              "orjson: reading 100,000 x 25,000 profiles went from about 20 s to about 3 s."]
    if solves:
        lines += ["", "The min-cost flow alone, on this checkout's graph of each population (same arcs, same proven "
                      "number of pairs), both ways in one process, in CPU seconds:", "",
                  "| Population | Arcs | Scales ordering every assignment (the solve of 2026-12-03) | Small scales "
                  "+ proof (now) | Same pairs, goal fit and diversity |", "|---|---|---|---|---|"]
        for x in solves:
            a, b = x["every_assignment"], x["proven"]
            lines.append(f"| {x['kind']} | {x['arcs']:,} | {a['cpu_s']:.1f} s ({a['wall_s']:.1f} s wall) | "
                         f"**{b['cpu_s']:.1f} s** ({b['wall_s']:.1f} s wall; {b['flow_proof']['proof']}, exchange "
                         f"bound {b['flow_proof']['exchange_bound']}) | "
                         f"{'yes' if levels(a) == levels(b) else 'no: ' + json.dumps([a['objective'], b['objective']])} |")
    proofs = {json.dumps(r["flow_proof"], sort_keys=True) for case in cases for r in case["head"]["runs"]}
    lines += ["", "This checkout's min-cost flow, how its lexicographic optimum was established (`flow_proof` in the "
                  "round's stats): " + "; ".join(sorted(proofs)) + "."]
    lines += ["", "Every run (end to end / matching / CPU seconds):", ""]
    for case in cases:
        for name, label in (("baseline", "2026-12-02"), ("head", "this checkout")):
            runs = ", ".join(f"{r['wall_s']:.1f} / {r['matching_s']:.1f} / {r['cpu_s']:.1f}" for r in case[name]["runs"])
            lines.append(f"- {case['kind']}, {label}: {runs}")
    busy = max(loads[0], loads[1]) > 2.5
    lines += ["", f"Load average (1 min) on this 2-core machine: {loads[0]:.1f} at the start, {loads[1]:.1f} at the "
                  "end" + (f"; {note}" if note else "") +
              (": **busy**: other work shared the cores, so wall times are longer and noisier than on a quiet "
               "machine; CPU seconds are the steadier comparison, and alternating runs share the load alike."
               if busy else ": quiet.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.cohort_versus")
    parser.add_argument("--baseline", help=f"commit to compare against (default: the last before {BASELINE_BEFORE})")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each engine per population (default 2)")
    parser.add_argument("--populations", default="default,thin", help="comma-separated (default: default,thin)")
    parser.add_argument("--quick", action="store_true", help="20,000 x 5,000 instead of 100,000 x 25,000")
    parser.add_argument("--load-note", default="", help="a note on the machine's load, printed in the report")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    parser.add_argument("--save", type=Path, metavar="JSON", help="also keep the measurements in this file")
    parser.add_argument("--no-solve-only", action="store_true", help="skip the min-cost flow alone, both ways")
    parser.add_argument("--solve-child", nargs=4, metavar=("KIND", "MENTEES", "MENTORS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--from", dest="saved", type=Path, metavar="JSON", help="render saved measurements, run nothing")
    args, _ = parser.parse_known_args(argv)  # `make bench` passes every benchmark the same options
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.solve_child:
        kind, mentees_n, mentors_n, path = args.solve_child
        Path(path).write_text(json.dumps(solve_only(kind, int(mentees_n), int(mentors_n))))
        return 0
    if args.saved:
        return report(**json.loads(args.saved.read_text()), write=not args.no_write)
    baseline = args.baseline or git("rev-list", "-1", f"--before={BASELINE_BEFORE}", "HEAD")
    baseline, head = git("rev-parse", "--short", baseline), git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--", "services/matching", "tandem/commands/match_cohort.py"))
    n_e, n_m = (20_000, 5_000) if args.quick else (100_000, 25_000)
    loads = [os.getloadavg()[0]]
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    with tempfile.TemporaryDirectory(prefix="cohort-versus-") as tmp:
        work = Path(tmp)
        (work / "baseline").mkdir()
        unpack(baseline, work / "baseline")
        driver = work / "driver.py"
        driver.write_text(DRIVER)
        trees = {"baseline": work / "baseline", "head": ROOT}
        cases = [compare(kind, n_e, n_m, args.repeats, trees, driver, work) for kind in args.populations.split(",")]
        solves = []
        for kind in [] if args.no_solve_only else args.populations.split(","):
            subprocess.run([sys.executable, "-m", "benchmarks.cohort_versus", "--solve-child", kind, str(n_e), str(n_m),
                            str(work / "solve.json")], cwd=ROOT, check=True)
            solves.append(json.loads((work / "solve.json").read_text()))
    loads.append(os.getloadavg()[0])
    measured = {"cases": cases, "baseline": baseline, "head": head + (" with uncommitted changes" if dirty else ""),
                "repeats": args.repeats, "loads": loads, "note": args.load_note,
                "window": f"{started} to {datetime.now(UTC):%H:%M} UTC", "solves": solves}
    if args.save:
        args.save.write_text(json.dumps(measured, indent=1))
    return report(**measured, write=not args.no_write)


def report(cases: list[dict], baseline: str, head: str, repeats: int, loads: list, note: str, window: str,
           write: bool, solves: list[dict] = ()) -> int:
    body = render(cases, baseline, head, repeats, tuple(loads), note, list(solves)) + f"\n\nRuns made {window}."
    print(body)
    if write:
        write_section("cohort-versus", "Matching: the cohort round against the engine of 2026-12-02", body)
    broken = any(case[name]["quality"]["broken"] for case in cases for name in ("baseline", "head"))
    fewer = any(case["head"]["quality"]["pairs"] < case["baseline"]["quality"]["pairs"] for case in cases)
    return 1 if broken or fewer else 0


if __name__ == "__main__":
    sys.exit(main())
