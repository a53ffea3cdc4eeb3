"""Bulk planning: rows, per-pair settings, and people in several pairs."""

from __future__ import annotations

from datetime import UTC, datetime

from services.scheduling.domain import BusyCalendar, PairRequest, PlanningRules, plan_pairs

from .oracle import clashes, inside, profile

START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
OFFICE = ("mon-fri", "09:00", "17:00")


def epoch_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_a_mentor_with_four_mentees_is_never_double_booked():
    mentor = profile("m", "Europe/Amsterdam", ("mon-fri", "09:00", "11:00"))
    mentees = [profile(f"e{i}", "Europe/London", OFFICE) for i in range(4)]
    pairs = [PairRequest(f"r{i}", mentor, mentee) for i, mentee in enumerate(mentees)]
    rows = list(plan_pairs(pairs, start=START, occurrences=6, rules=PlanningRules()))
    assert len(rows) == 24
    meetings = [(epoch_of(r["start"]), epoch_of(r["end"])) for r in rows if "start" in r]
    assert len(meetings) == 24
    for i, (s, e) in enumerate(meetings):
        assert inside(mentor, s, e)
        others = meetings[:i] + meetings[i + 1:]
        assert not clashes(s, e, others, 15 * 60), "the shared mentor is double-booked"


def test_rows_follow_the_output_format():
    a, b = profile("a", "UTC", OFFICE), profile("b", "UTC", OFFICE)
    never = profile("n", "Pacific/Auckland", ("mon-fri", "09:00", "10:00"))
    blocked = BusyCalendar({"c": [(epoch_of("2026-06-01T00:00:00+00:00"), epoch_of("2026-06-12T00:00:00+00:00"))]})
    c = profile("c", "UTC", OFFICE)
    rows = list(plan_pairs([PairRequest("ok", a, b), PairRequest("nope", a, never), PairRequest("late", c, b)],
                           start=START, occurrences=2, busy=blocked))
    assert rows[0] == {"relationship_id": "ok", "occurrence": 1,
                       "start": "2026-06-03T10:00:00Z", "end": "2026-06-03T10:45:00Z"}
    assert rows[1]["occurrence"] == 2 and rows[1]["start"] == "2026-06-17T10:00:00Z"
    assert rows[2]["relationship_id"] == "nope" and rows[2]["infeasible"] is True
    assert "never overlaps" in rows[2]["reason"] and set(rows[2]) == {"relationship_id", "infeasible", "reason"}
    # c is busy until the 12th: the kickoff moves, and b's own meetings are avoided too.
    assert rows[3]["relationship_id"] == "late" and rows[3]["start"] == "2026-06-12T09:30:00Z"
    assert len(rows) == 5
    assert blocked.intervals("b")  # the calendar passed in receives every placed meeting


def test_per_pair_cadence_and_duration():
    a, b = profile("a", "UTC", OFFICE), profile("b", "UTC", OFFICE)
    rows = list(plan_pairs([PairRequest("r", a, b, cadence_days=7, duration_minutes=60)],
                           start=START, occurrences=2))
    assert [(r["start"], r["end"]) for r in rows] == [
        ("2026-06-03T10:00:00Z", "2026-06-03T11:00:00Z"), ("2026-06-10T10:00:00Z", "2026-06-10T11:00:00Z")]


def test_unplaceable_rows_carry_a_reason():
    a = profile("a", "UTC", (("wed",), "09:00", "17:00"))
    b = profile("b", "UTC", (("wed",), "09:00", "17:00"))
    rows = list(plan_pairs([PairRequest("r", a, b, cadence_days=10)], start=START, occurrences=3,
                           rules=PlanningRules(tolerance_days=1)))
    # Kickoff on Wednesday; 10 days later is a Saturday, +-1 day holds no Wednesday.
    assert rows[1] == {"relationship_id": "r", "occurrence": 2, "unplaceable": True, "reason": rows[1]["reason"]}
    assert "no time when both are available" in rows[1]["reason"]
    assert "start" in rows[2]
