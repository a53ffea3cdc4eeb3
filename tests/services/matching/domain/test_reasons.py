"""Every unmatched mentee gets the reason of the first hard rule that leaves no mentor, in plain words."""

from datetime import UTC, datetime

import pytest

from services.matching.domain import MatchIndex, MatchSettings, solve_cohort

from .oracle import mentor, person

AT = datetime(2027, 3, 1, tzinfo=UTC)
NIGHT = ({"days": ["sat"], "start": "01:00", "end": "02:00"},)
HALF_HOURS = ({"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "09:00", "end": "09:30"},)

# (code, words the reason must contain, mentee, mentors, extra solve arguments)
CASES = [
    ("no_mentors", "no mentors", person("e"), [], {}),
    ("no_shared_language", "no mentor shares a language", person("e", languages=("ja",)),
     [mentor("m1"), mentor("m2", languages=("es", "pt"))], {}),
    ("no_more_senior", "no mentor is more senior", person("e", seniority=8),
     [mentor("m1", seniority=8), mentor("m2", seniority=5), mentor("m3", seniority=9, languages=("fr",))], {}),
    ("management_chain", "management chain", person("e", manager="m1"),
     [mentor("m1", manager="m2"), mentor("m2"), mentor("m3", languages=("ja",))], {}),
    ("previously_paired", "paired with them before", person("e"), [mentor("m1"), mentor("m2")],
     {"excluded_pairs": {("e", "m1"), ("e", "m2")}}),
    ("no_overlap", "no mentor with ≥ 2 h overlap this week", person("e", windows=NIGHT),
     [mentor("m1"), mentor("m2", languages=("ja",), windows=NIGHT)], {}),
    # 30 minutes a day: 2.5 h a week with a weekday mentor, never 45 minutes in a row.
    ("no_meeting_window", "no mentor with a 45-minute stretch in common this week",
     person("e", windows=HALF_HOURS), [mentor("m1"), mentor("m2", languages=("ja",))], {}),
    ("mentors_at_capacity", "every compatible mentor is at capacity", person("e"),
     [mentor("m1", capacity=1), mentor("m2", capacity=0), mentor("m3", languages=("ja",))], {"load": {"m1": 1}}),
]


@pytest.mark.parametrize("code, words, mentee, mentors, extra", CASES, ids=[c[0] for c in CASES])
def test_cohort_reason(code, words, mentee, mentors, extra):
    result = solve_cohort([mentee], mentors, at=AT, **extra)
    assert not result.pairs
    (why,) = result.unmatched
    assert (why.mentee_id, why.reason_code) == ("e", code)
    assert words in why.reason
    assert result.stats["unmatched_by_reason"] == {code: 1}


@pytest.mark.parametrize("code, words, mentee, mentors, extra", CASES, ids=[c[0] for c in CASES])
def test_on_demand_reason(code, words, mentee, mentors, extra):
    index = MatchIndex()
    for p in (mentee, *mentors):
        index.upsert(p)
    for mentor_id, active in extra.get("load", {}).items():
        index.set_load(mentor_id, active)
    exclude = {m for _, m in extra.get("excluded_pairs", ())}
    why = index.best_mentor("e", at=AT, exclude=exclude)
    assert (why.mentee_id, why.reason_code) == ("e", code)
    assert words in why.reason
    assert index.ranked_mentors("e", at=AT, exclude=exclude) == []


def test_earlier_rules_are_reported_before_later_ones():
    # Nobody shares a language AND nobody overlaps: the language is the reason (it comes first).
    result = solve_cohort([person("e", languages=("ja",), windows=NIGHT)], [mentor("m")], at=AT)
    assert result.unmatched[0].reason_code == "no_shared_language"


def test_reason_counts_what_survived_the_earlier_rules():
    mentors = [mentor(f"m{i}") for i in range(3)] + [mentor("far", languages=("ja",))]
    (why,) = solve_cohort([person("e", windows=NIGHT)], mentors, at=AT).unmatched
    assert why.reason == "no mentor with ≥ 2 h overlap this week (3 mentors share a language and are more senior)"


def test_overlap_hours_are_reported_before_the_meeting_length():
    # Too few hours AND only short stretches: the hours are the reason (that rule comes first).
    (why,) = solve_cohort([person("e", windows=HALF_HOURS)], [mentor("m")], at=AT,
                          settings=MatchSettings(min_overlap_hours=3)).unmatched
    assert why.reason_code == "no_overlap"


def test_meeting_length_in_the_reason_follows_the_program_setting():
    (why,) = solve_cohort([person("e", windows=HALF_HOURS)], [mentor("m")], at=AT,
                          settings=MatchSettings(meeting_minutes=60)).unmatched
    assert why.reason.startswith("no mentor with a 60-minute stretch") and why.params["meeting_minutes"] == 60


def test_threshold_in_the_reason_follows_the_program_setting():
    strict = MatchSettings(min_overlap_hours=50)
    (why,) = solve_cohort([person("e")], [mentor("m")], at=AT, settings=strict).unmatched
    assert why.reason.startswith("no mentor with ≥ 50 h overlap")


def test_losing_out_in_a_full_round_says_so():
    result = solve_cohort([person("a"), person("b")], [mentor("m", capacity=1)], at=AT)
    assert len(result.pairs) == 1
    (why,) = result.unmatched
    assert why.reason_code == "places_taken_in_round" and "went to other mentees" in why.reason


PARAMS = {"no_more_senior": {"sharing_language": 2}, "no_overlap": {"min_hours": 2.0, "compatible": 1},
          "no_meeting_window": {"meeting_minutes": 45, "compatible": 1}, "mentors_at_capacity": {"compatible": 2}}


@pytest.mark.parametrize("code, words, mentee, mentors, extra", CASES, ids=[c[0] for c in CASES])
def test_each_reason_carries_the_numbers_its_wording_needs(code, words, mentee, mentors, extra):
    (why,) = solve_cohort([mentee], mentors, at=AT, **extra).unmatched
    assert why.params == PARAMS.get(code, {})
