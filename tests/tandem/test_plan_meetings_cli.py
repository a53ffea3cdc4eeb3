"""`tandem plan-meetings`: a real run on generated pairs, and every kind of bad input."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from shared.contracts.profile import WEEKDAYS, ParticipantProfile
from shared.people import Participant
from tandem.cli import main
from tandem.population import pair_dicts


def person(pid: str, zone: str = "Europe/Amsterdam", start: str = "09:00", end: str = "17:00") -> dict:
    return {
        "participant_id": pid, "program_id": "p", "roles": ["mentor"], "name": f"Person {pid}",
        "email": f"{pid}@example.com", "languages": ["en"], "timezone": zone, "country": "NL",
        "region": "EMEA", "sector": "engineering", "seniority": 5,
        "availability": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": start, "end": end}],
    }


def write_lines(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def run(tmp_path, capsys, rows, *extra, start="2026-06-01T10:00:00Z", occurrences="3"):
    pairs = write_lines(tmp_path / "pairs.jsonl", rows) if rows is not None else str(tmp_path / "missing.jsonl")
    out = tmp_path / "out.jsonl"
    code = main(["plan-meetings", "--pairs", pairs, "--start", start, "--occurrences", occurrences,
                 "--out", str(out), *extra])
    captured = capsys.readouterr()
    rows_out = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else None
    return code, captured.err, rows_out


def inside(person: Participant, start: int, end: int) -> bool:
    """Independent wall-clock check, minute by minute (windows here do not cross midnight)."""
    zone = ZoneInfo(person.timezone)
    for t in [*range(start, end, 60), end - 1]:
        local = datetime.fromtimestamp(t, zone)
        minute = local.hour * 60 + local.minute
        if not any(WEEKDAYS[local.weekday()] in w.days and w.start_minute <= minute < w.end_minute
                   for w in person.availability):
            return False
    return True


def test_plans_generated_pairs_and_never_double_books(tmp_path, capsys):
    pairs = pair_dicts(40, seed=3)
    code, err, rows = run(tmp_path, capsys, pairs, occurrences="4")
    assert code == 0, err
    by_id = {p["relationship_id"]: p for p in pairs}
    meetings: dict[str, list[tuple[int, int]]] = {}
    seen = set()
    for row in rows:
        pair = by_id[row["relationship_id"]]
        if row.get("infeasible"):
            assert row["reason"] and "occurrence" not in row
            seen.add(row["relationship_id"])
            continue
        assert 1 <= row["occurrence"] <= 4
        seen.add(row["relationship_id"])
        if row.get("unplaceable"):
            assert row["reason"]
            continue
        assert row["start"].endswith("Z")
        start = int(datetime.fromisoformat(row["start"]).timestamp())
        end = int(datetime.fromisoformat(row["end"]).timestamp())
        assert end - start == 45 * 60
        for role in ("mentor", "mentee"):
            person = Participant.from_profile(ParticipantProfile.model_validate(pair[role]))
            assert inside(person, start, end)
            meetings.setdefault(person.participant_id, []).append((start, end))
    assert seen == set(by_id)
    assert any(len(v) > 4 for v in meetings.values()), "expected a mentor in several pairs"
    for items in meetings.values():
        items.sort()
        assert all(b[0] >= a[1] + 15 * 60 for a, b in pairwise(items)), "double booking"


def test_min_notice_and_defaults(tmp_path, capsys):
    rows = [{"relationship_id": "r1", "mentor": person("m"), "mentee": person("e"),
             "cadence_days": 7, "duration_minutes": 30}]
    code, _, out = run(tmp_path, capsys, rows, "--min-notice-hours", "0", occurrences="2")
    assert code == 0
    # 2026-06-01 is a Monday; 10:00 UTC is 12:00 in Amsterdam, comfortably inside the day.
    assert out == [
        {"relationship_id": "r1", "occurrence": 1, "start": "2026-06-01T10:00:00Z", "end": "2026-06-01T10:30:00Z"},
        {"relationship_id": "r1", "occurrence": 2, "start": "2026-06-08T10:00:00Z", "end": "2026-06-08T10:30:00Z"},
    ]


def test_infeasible_pair_gets_one_row(tmp_path, capsys):
    rows = [{"relationship_id": "far", "mentor": person("m"), "mentee": person("e", "Pacific/Auckland")}]
    code, _, out = run(tmp_path, capsys, rows)
    assert code == 0
    assert out == [{"relationship_id": "far", "infeasible": True, "reason": out[0]["reason"]}]
    assert "never overlaps" in out[0]["reason"] and "Pacific/Auckland" in out[0]["reason"]


def test_blank_lines_are_skipped(tmp_path, capsys):
    rows = ["", json.dumps({"relationship_id": "r1", "mentor": person("m"), "mentee": person("e")}), "   "]
    code, _, out = run(tmp_path, capsys, rows, occurrences="1")
    assert code == 0 and len(out) == 1


GOOD = {"relationship_id": "r1", "mentor": person("m"), "mentee": person("e")}


@pytest.mark.parametrize("rows, expected", [
    ([GOOD, "{not json"], "line 2: not valid JSON"),
    ([GOOD, "[1, 2]"], "line 2: expected a JSON object"),
    ([{**GOOD, "relationship_id": "r2", "mentor": {**person("m"), "timezone": "Mars/Olympus"}}],
     "line 1: mentor.timezone: unknown IANA time zone"),
    ([{**GOOD, "mentee": {**person("e"), "availability": [{"days": ["mon"], "start": "9am", "end": "17:00"}]}}],
     "line 1: mentee.availability.0.start"),
    ([{"mentor": person("m"), "mentee": person("e")}], "line 1: relationship_id: Field required"),
    ([{**GOOD, "cadence_days": 0}], "line 1: cadence_days"),
    ([GOOD, GOOD], "line 2: relationship_id: duplicate 'r1' (first on line 1)"),
    ([{**GOOD, "mentee": person("m")}], "line 1: mentee.participant_id: the mentee is the mentor"),
])
def test_bad_lines_name_the_line_and_the_field(tmp_path, capsys, rows, expected):
    code, err, out = run(tmp_path, capsys, rows)
    assert code == 2
    assert expected in err and err.startswith("tandem plan-meetings: error:")
    assert out is None, "no output file on bad input"


@pytest.mark.parametrize("start, occurrences, extra, expected", [
    ("2026-06-01T10:00:00", "3", [], "--start: '2026-06-01T10:00:00' has no UTC offset"),
    ("next monday", "3", [], "--start: not an ISO-8601 date-time"),
    ("2026-06-01T10:00:00Z", "0", [], "--occurrences: must be between 1 and"),
    ("2026-06-01T10:00:00Z", "three", [], "--occurrences: expected a whole number"),
    ("2026-06-01T10:00:00Z", "3", ["--min-notice-hours", "-4"], "--min-notice-hours"),
])
def test_bad_arguments(tmp_path, capsys, start, occurrences, extra, expected):
    code, err, out = run(tmp_path, capsys, [GOOD], *extra, start=start, occurrences=occurrences)
    assert code == 2 and expected in err and out is None


def test_missing_file(tmp_path, capsys):
    code, err, out = run(tmp_path, capsys, None)
    assert code == 2 and "--pairs: no such file" in err and out is None


def test_missing_output_directory(tmp_path, capsys):
    pairs = write_lines(tmp_path / "pairs.jsonl", [GOOD])
    code = main(["plan-meetings", "--pairs", pairs, "--start", "2026-06-01T10:00:00Z", "--occurrences", "1",
                 "--out", str(tmp_path / "nope" / "out.jsonl")])
    assert code == 2 and "--out: directory does not exist" in capsys.readouterr().err
