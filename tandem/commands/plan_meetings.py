"""`tandem plan-meetings`: kickoff and recurring meetings for many mentor-mentee pairs, offline.

Reads one pair per JSONL line, validates everything before planning (so a bad line 9,000 does not
leave half a file behind), and writes one row per occurrence (or one per infeasible pair). Profiles
are validated in the onboarding contract and converted once to the domain's own type
(`shared.people.Participant`), as every service does with the profiles it receives.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.scheduling.domain import PairRequest, PlanningRules, plan_pairs
from services.scheduling.domain.planner import zone_named
from shared.contracts.profile import ParticipantProfile
from shared.people import Participant
from tandem.cli import CliError
from tandem.jsonl import json_object, validated

MAX_OCCURRENCES = 1000


class PairLine(BaseModel):
    """One input line. Unknown fields are ignored, like everywhere in the onboarding contract."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    relationship_id: str = Field(min_length=1, max_length=200)
    mentor: ParticipantProfile
    mentee: ParticipantProfile
    cadence_days: int | None = Field(default=None, ge=1, le=366)
    duration_minutes: int | None = Field(default=None, ge=5, le=24 * 60)


def register(sub):
    p = sub.add_parser(
        "plan-meetings",
        help="plan kickoff and recurring meetings for mentor-mentee pairs (JSONL in, JSONL out)",
        description="Plans each pair's kickoff (at least the minimum notice after --start) and the "
                    "following occurrences inside both people's availability, never double-booking "
                    "anyone who appears in several pairs.",
    )
    p.add_argument("--pairs", required=True, metavar="IN.jsonl",
                   help='one pair per line: {"relationship_id", "mentor", "mentee", "cadence_days"?, "duration_minutes"?}')
    p.add_argument("--start", required=True, metavar="ISO-8601",
                   help="planning starts here; must carry an offset, e.g. 2026-03-02T09:00:00Z")
    p.add_argument("--occurrences", required=True, metavar="N", help="meetings per pair, kickoff included")
    p.add_argument("--min-notice-hours", metavar="H", default=None,
                   help=f"earliest kickoff after --start (default {PlanningRules().min_notice_hours:g})")
    p.add_argument("--out", required=True, metavar="OUT.jsonl")
    p.set_defaults(func=run)


def parse_start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--start: not an ISO-8601 date-time: {text!r} (example: 2026-03-02T09:00:00Z)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CliError(f"--start: {text!r} has no UTC offset; add Z or +HH:MM (example: 2026-03-02T09:00:00Z)")
    return moment


def parse_occurrences(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CliError(f"--occurrences: expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_OCCURRENCES:
        raise CliError(f"--occurrences: must be between 1 and {MAX_OCCURRENCES}, got {value}")
    return value


def parse_rules(min_notice_hours: str | None) -> PlanningRules:
    if min_notice_hours is None:
        return PlanningRules()
    try:
        return PlanningRules(min_notice_hours=float(min_notice_hours))
    except (ValueError, ValidationError):
        raise CliError(f"--min-notice-hours: expected a number of hours between 0 and 8760, "
                       f"got {min_notice_hours!r}") from None


def read_pairs(path: Path) -> list[PairRequest]:
    """All pairs of the file, or a CliError naming the first bad line and field."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise CliError(f"--pairs: no such file: {path}") from None
    except OSError as exc:
        raise CliError(f"--pairs: cannot read {path}: {exc.strerror}") from None
    pairs: list[PairRequest] = []
    first_seen: dict[str, int] = {}
    with handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path} line {number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CliError(f"{where}: not UTF-8 text") from None
            if not text.strip():
                continue
            line = validated(PairLine, json_object(text, where), where)
            if line.relationship_id in first_seen:
                raise CliError(f"{where}: relationship_id: duplicate {line.relationship_id!r} "
                               f"(first on line {first_seen[line.relationship_id]})")
            if line.mentor.participant_id == line.mentee.participant_id:
                raise CliError(f"{where}: mentee.participant_id: the mentee is the mentor "
                               f"({line.mentor.participant_id!r})")
            for person in (line.mentor, line.mentee):
                zone_named(person.timezone)  # keeps the zone loaded; validating the next profile is faster
            first_seen[line.relationship_id] = number
            pairs.append(PairRequest(line.relationship_id, Participant.from_profile(line.mentor),
                                     Participant.from_profile(line.mentee),
                                     cadence_days=line.cadence_days, duration_minutes=line.duration_minutes))
    return pairs


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run(args) -> int:
    start = parse_start(args.start)
    occurrences = parse_occurrences(args.occurrences)
    rules = parse_rules(args.min_notice_hours)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CliError(f"--out: directory does not exist: {out.parent}")
    pairs = read_pairs(Path(args.pairs))

    placed = unplaceable = infeasible = 0
    # Written next to the target and renamed at the end: readers never see a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            for row in plan_pairs(pairs, start=start, occurrences=occurrences, rules=rules):
                if row.get("infeasible"):
                    infeasible += 1
                elif row.get("unplaceable"):
                    unplaceable += 1
                else:
                    placed += 1
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"{len(pairs)} pairs: {placed} meetings placed, {unplaceable} occurrences unplaceable, "
          f"{infeasible} pairs infeasible -> {out}")
    return 0
