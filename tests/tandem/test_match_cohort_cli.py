"""`tandem match-cohort`: JSONL in, one line per mentee out, clear errors for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.cli import main
from tandem.population import profile_dicts

AT = "2027-03-22T08:00:00+01:00"


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.fixture
def population(tmp_path):
    records = list(profile_dicts(120, 40, seed=9))
    records[0]["roles"] = ["mentor", "mentee"]  # someone with both roles
    records[0]["seniority"] = 6
    return write_jsonl(tmp_path / "in.jsonl", records), records


def test_happy_path_writes_one_line_per_mentee(population, tmp_path, capsys):
    path, records = population
    out = tmp_path / "out.jsonl"
    assert main(["match-cohort", "--participants", str(path), "--out", str(out), "--at", AT]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    mentee_ids = [r["participant_id"] for r in records if "mentee" in r["roles"]]
    assert [line["mentee_id"] for line in lines] == mentee_ids
    matched = [line for line in lines if line["mentor_id"]]
    assert matched and all(line["mentor_id"] != line["mentee_id"] for line in matched)
    assert all(set(line["explanation"]["components"]) >= {"goal_fit", "availability"} for line in matched)
    for line in lines:
        if line["mentor_id"] is None:
            assert line["reason"] and line["reason_code"] and line["score"] is None
    err = capsys.readouterr().err
    assert f"{len(matched)} of {len(mentee_ids)} mentees matched" in err and "mean score" in err


def test_overlap_setting_reaches_the_engine(population, tmp_path, capsys):
    path, _ = population
    out = tmp_path / "out.jsonl"
    assert main(["match-cohort", "--participants", str(path), "--out", str(out), "--at", AT,
                 "--min-overlap-hours", "100"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {line["reason_code"] for line in lines} == {"no_overlap"}
    assert "≥ 100 h overlap" in lines[0]["reason"]


def test_meeting_length_reaches_the_engine(tmp_path, capsys):
    # 30 minutes in common every day (Sydney 08:00-10:00 and St John's 18:00-19:00 in March 2027):
    # 3.5 h a week, enough hours, but a 45-minute kickoff never fits; 30-minute meetings do.
    records = list(profile_dicts(1, 1, seed=4))
    mentee, coach = (r for r in records)
    daily = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    mentee.update(roles=["mentee"], timezone="Australia/Sydney", languages=["en"], seniority=2, manager_id=None,
                  availability=[{"days": daily, "start": "08:00", "end": "10:00"}])
    coach.update(roles=["mentor"], timezone="America/St_Johns", languages=["en"], seniority=8, mentor_capacity=1,
                 manager_id=None, availability=[{"days": daily, "start": "18:00", "end": "19:00"}])
    path = write_jsonl(tmp_path / "in.jsonl", [mentee, coach])
    out = tmp_path / "out.jsonl"
    at = ["--at", "2027-03-22T07:30:00+00:00"]
    assert main(["match-cohort", "--participants", str(path), "--out", str(out), *at]) == 0
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["mentor_id"] is None and line["reason_code"] == "no_meeting_window"
    assert "45-minute stretch" in line["reason"]
    assert main(["match-cohort", "--participants", str(path), "--out", str(out), *at, "--meeting-minutes", "30"]) == 0
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["mentor_id"] == coach["participant_id"]


def test_a_bad_line_names_its_number_and_field_and_exits_non_zero(tmp_path):
    records = list(profile_dicts(5, 3, seed=1))
    records[2]["seniority"] = 11
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    run = subprocess.run([str(Path(sys.executable).parent / "tandem"), "match-cohort", "--participants", str(path),
                          "--out", str(tmp_path / "out.jsonl"), "--at", AT], capture_output=True, text=True)
    assert run.returncode == 2
    assert "line 3: seniority: Input should be less than or equal to 10" in run.stderr
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("mutate, message", [
    (lambda rs: rs.__setitem__(1, "{not json"), "line 2: not valid JSON"),
    (lambda rs: rs.__setitem__(1, "[1, 2]"), "line 2: expected a JSON object"),
    (lambda rs: rs[3].pop("timezone"), "line 4: timezone: Field required"),
    (lambda rs: rs[0]["availability"][0].__setitem__("start", "25:00"), "line 1: availability.0.start:"),
    (lambda rs: rs[4].__setitem__("participant_id", rs[1]["participant_id"]),
     "line 5: duplicate participant_id 'm-000001' (first on line 2)"),
])
def test_input_errors_are_one_clear_line(tmp_path, capsys, mutate, message):
    records = list(profile_dicts(4, 3, seed=2))
    mutate(records)
    path = write_jsonl(tmp_path / "in.jsonl", records)
    assert main(["match-cohort", "--participants", str(path), "--out", str(tmp_path / "o.jsonl"), "--at", AT]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--at", "2027-03-22T08:00:00"], "has no UTC offset"),
    (["--at", "next tuesday"], "is not an ISO-8601 date-time"),
    (["--min-overlap-hours", "-1"], "--min-overlap-hours must be zero or more"),
    (["--min-overlap-hours", "nan"], "--min-overlap-hours must be zero or more"),
    (["--min-overlap-hours", "200"], "--min-overlap-hours 200: Input should be less than or equal to 168"),
    (["--meeting-minutes", "0"], "--meeting-minutes 0: Input should be greater than or equal to 1"),
])
def test_bad_options_are_refused(population, tmp_path, capsys, args, message):
    path, _ = population
    assert main(["match-cohort", "--participants", str(path), "--out", str(tmp_path / "o.jsonl"), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_and_empty_files(tmp_path, capsys):
    assert main(["match-cohort", "--participants", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = write_jsonl(tmp_path / "empty.jsonl", ["", "  "])
    assert main(["match-cohort", "--participants", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "holds no participant profiles" in capsys.readouterr().err


def test_report_prints_the_price_of_each_criterion(tmp_path, capsys):
    from tandem.population import population_dicts

    path = write_jsonl(tmp_path / "in.jsonl", population_dicts("thin", 150, 50, seed=3))
    out = tmp_path / "out.jsonl"
    assert main(["match-cohort", "--participants", str(path), "--out", str(out), "--at", AT, "--report"]) == 0
    captured = capsys.readouterr()
    report = captured.out.splitlines()
    matched = sum(1 for line in out.read_text().splitlines() if json.loads(line)["mentor_id"])
    assert report[0].startswith("Price of each criterion: the round re-solved without it on the same pool "
                                f"(coverage is never traded: {matched} pairs, the maximum, in every run).")
    assert report[1].startswith("Chosen assignment: goal fit ")
    assert [line.split(":")[0] for line in report[2:5]] == [
        "- Without goal fit", "- Without diverse perspective", "- Without load spread"]
    assert "worse: " in report[2] and "less goal fit (-" in report[2]  # goal fit has a price on this pool
    assert report[5].startswith("Price of fairness: a diverse perspective for ")
    assert "match-cohort:" in captured.err and "diverse perspective for" in captured.err


def test_report_without_it_prints_no_report(population, tmp_path, capsys):
    path, _ = population
    assert main(["match-cohort", "--participants", str(path), "--out", str(tmp_path / "o.jsonl"), "--at", AT]) == 0
    assert capsys.readouterr().out == ""


def test_errors_stay_one_line_with_report(tmp_path, capsys):
    assert main(["match-cohort", "--participants", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o"),
                 "--report"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read" in err and len(err.splitlines()) == 1
