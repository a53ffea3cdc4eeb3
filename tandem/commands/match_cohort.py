"""`tandem match-cohort`: a dry run of the production cohort engine on a JSONL file of profiles.

Everyone with the mentee role is matched against everyone with the mentor role (people with both
roles are in both pools, never paired with themselves). One output line per mentee, in input order.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from pydantic import ValidationError

from services.matching.domain import MatchSettings, solve_cohort
from services.matching.domain.pricing import price_criteria
from shared.contracts.profile import ParticipantProfile
from shared.people import Participant
from tandem.cli import CliError
from tandem.jsonl import json_object, validated


def register(sub) -> None:
    p = sub.add_parser(
        "match-cohort",
        help="dry-run the cohort matching engine on a JSONL file of participant profiles",
        description="Propose mentor/mentee pairs for a whole pool at once, exactly as the matching service "
                    "would, and write one JSON line per mentee (pair, score and explanation, or the reason "
                    "nobody fits).",
    )
    p.add_argument("--participants", required=True, type=Path, metavar="IN.jsonl",
                   help="onboarding-contract profiles, one JSON object per line")
    p.add_argument("--out", required=True, type=Path, metavar="OUT.jsonl", help="where to write the proposals")
    p.add_argument("--at", metavar="ISO-8601",
                   help="start of the week whose overlap counts, with a UTC offset (default: now)")
    p.add_argument("--min-overlap-hours", type=float, metavar="H",
                   help=f"hard rule: hours both must be available that week (default {MatchSettings().min_overlap_hours:g})")
    p.add_argument("--meeting-minutes", type=int, metavar="M",
                   help="hard rule: that week, one stretch both are available must hold a meeting this long "
                        f"(the program's meeting length; default {MatchSettings().meeting_minutes})")
    p.add_argument("--report", action="store_true",
                   help="also print the price of each criterion (goal fit, diverse perspective, load spread): "
                        "the round re-solved without it, and what the others would gain (takes about 4x as long)")
    p.set_defaults(func=run)


def run(args) -> int:
    at = parse_at(args.at)
    settings = settings_from(args.min_overlap_hours, args.meeting_minutes)
    with collector_paused():
        return _run(args, at, settings)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Reading builds hundreds of thousands of small containers that live to the end; automatic
    cycle collections walk them again and again (measured: reading 100,000 x 25,000 profiles takes
    4x as long with them). The command makes no cycles worth collecting, so they wait to its end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run(args, at: datetime, settings: MatchSettings) -> int:
    started = time.perf_counter()
    people = read_profiles(args.participants)
    read_s = time.perf_counter() - started

    mentees = [p for p in people if p.is_mentee]
    mentors = [p for p in people if p.is_mentor]
    result = solve_cohort(mentees, mentors, at=at, settings=settings)
    solve_s = time.perf_counter() - started - read_s

    pairs = {p.mentee_id: p for p in result.pairs}
    unmatched = {u.mentee_id: u for u in result.unmatched}
    try:
        with args.out.open("wb") as out:
            for mentee in mentees:
                pid = mentee.participant_id
                if pid in pairs:
                    pair = pairs[pid]
                    line = {"mentee_id": pid, "mentor_id": pair.mentor_id, "score": pair.score,
                            "explanation": pair.explanation}
                else:
                    why = unmatched[pid]
                    line = {"mentee_id": pid, "mentor_id": None, "score": None, "explanation": None,
                            "reason": why.reason, "reason_code": why.reason_code}
                out.write(orjson.dumps(line) + b"\n")  # UTF-8, as json.dumps(ensure_ascii=False)
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    total_s = time.perf_counter() - started
    print(summary(result, mentees, read_s, solve_s, total_s), file=sys.stderr)
    if args.report:
        solve = lambda variant: solve_cohort(mentees, mentors, at=at, settings=variant)  # noqa: E731
        print("\n".join(price_criteria(solve, settings, chosen=result).lines()))
    return 0


def parse_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"--at {text!r} is not an ISO-8601 date-time (e.g. 2027-03-01T09:00:00+00:00)") from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise CliError(f"--at {text!r} has no UTC offset; give one, e.g. {text}+00:00")
    return at


def settings_from(hours: float | None, meeting_minutes: int | None) -> MatchSettings:
    """The engine's settings with the overlap rule given on the command line (defaults for the rest)."""
    chosen: dict[str, float | int] = {}
    if hours is not None:
        if not hours >= 0:  # also rejects NaN
            raise CliError(f"--min-overlap-hours must be zero or more, got {hours:g}")
        chosen["min_overlap_hours"] = hours
    if meeting_minutes is not None:
        chosen["meeting_minutes"] = meeting_minutes
    try:
        return MatchSettings(**chosen)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        option = {"min_overlap_hours": "--min-overlap-hours", "meeting_minutes": "--meeting-minutes"}[error["loc"][0]]
        raise CliError(f"{option} {chosen[str(error['loc'][0])]:g}: {error['msg']}") from exc


def read_profiles(path: Path) -> list[Participant]:
    """Profiles from a JSONL file; the first bad line stops with its line number and field."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    people: list[Participant] = []
    first_line: dict[str, int] = {}
    # ZoneInfo keeps only the 8 zones used last alive on its own; validation asks for each line's
    # zone, so with more zones in the file each would be read from disk again and again (half of
    # validation's time). One reference per zone for the read keeps each loaded once.
    zones: dict[str, ZoneInfo] = {}
    with handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                profile = _parse_line(text, number)
                pid = profile.participant_id
                if pid in first_line:
                    raise CliError(f"line {number}: duplicate participant_id {pid!r} (first on line {first_line[pid]})")
                first_line[pid] = number
                people.append(profile)
                if profile.timezone not in zones:
                    zones[profile.timezone] = ZoneInfo(profile.timezone)
        except UnicodeDecodeError as exc:
            raise CliError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    if not people:
        raise CliError(f"{path} holds no participant profiles")
    return people


def _parse_line(text: str, number: int) -> Participant:
    where = f"line {number}"
    return Participant.from_profile(validated(ParticipantProfile, json_object(text, where), where))


def summary(result, mentees, read_s: float, solve_s: float, total_s: float) -> str:
    stats = result.stats
    by_reason = Counter(u.reason_code for u in result.unmatched)
    lines = [
        f"match-cohort: {len(result.pairs):,} of {len(mentees):,} mentees matched "
        f"(the maximum the hard rules allow), {len(result.unmatched):,} unmatched",
    ]
    for code, count in by_reason.most_common():
        lines.append(f"  unmatched, {code}: {count:,}")
    lines.append(f"  mean goal fit {stats['mean_goal_fit']:.4f}, diverse perspective for "
                 f"{stats['diverse_met']:,} of {stats['diverse_asked']:,} matched mentees who asked, "
                 f"mean score {stats['mean_score']:.4f}")
    lines.append(f"  {total_s:.1f} s (reading {read_s:.1f} s, matching {solve_s:.1f} s)")
    return "\n".join(lines)
