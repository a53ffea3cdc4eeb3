"""`tandem demo`: run a small program end to end on the embedded infrastructure and report."""

from __future__ import annotations

import json
import sys

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("demo", help="start everything and simulate a small mentoring program")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    p.add_argument("--mentees", type=int, default=160, help="mentees in the cohort round (default 160)")
    p.add_argument("--mentors", type=int, default=60, help="mentors (default 60)")
    p.add_argument("--late-mentees", type=int, default=12, help="mentees who join later, matched on demand")
    p.add_argument("--speed", type=float, default=5400.0,
                   help="program seconds per real second (default 5400: ninety minutes a second, so a big program's "
                        "mail keeps up with its clock; a small one keeps up at 10800)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout", type=float, default=600.0, help="real seconds the program may take to settle")
    p.set_defaults(func=run)


def run(args) -> int:
    from tandem.demo import DemoConfig, check, run_demo

    if args.mentees < 1 or args.mentors < 1 or args.late_mentees < 0:
        raise CliError("--mentees and --mentors must be at least 1, --late-mentees at least 0")
    if args.speed <= 0 or args.timeout <= 0:
        raise CliError("--speed and --timeout must be positive")
    out = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    config = DemoConfig(mentees=args.mentees, mentors=args.mentors, late_mentees=args.late_mentees,
                        speed=args.speed, seed=args.seed, timeout=args.timeout)
    try:
        report = run_demo(config, say=say)
    except (TimeoutError, RuntimeError) as exc:
        raise CliError(str(exc)) from exc
    problems = check(report)
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    if problems:
        print("demo failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Tandem demo report", show_header=False)
    for key, value in report.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        table.add_row(key.replace("_", " "), str(value))
    Console().print(table)
