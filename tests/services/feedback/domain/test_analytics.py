"""The KPI arithmetic: totals add up over regions, rates divide safely, series fill their days."""

from __future__ import annotations

from datetime import date

from services.feedback.domain import analytics
from services.feedback.domain.analytics import COUNTS, TimeToMatch


def test_totals_add_up_over_regions_and_rates_say_none_until_there_is_something_to_divide():
    by_region = analytics.merge_counts([
        {"EMEA": {"participants": 3, "mentees": 2}, "APAC": {"participants": 1, "mentees": 1}},
        {"EMEA": {"meetings_completed": 3, "meetings_missed": 1}, None: {"feedback_received": 2}},
    ])
    assert list(by_region) == ["APAC", "EMEA", "unknown"]
    assert set(by_region["APAC"]) == set(COUNTS)
    kpis = analytics.program_kpis(
        program={"program_id": "g", "name": "G", "timezone": "UTC"}, by_region=by_region,
        rating_sums={"unknown": 7}, time_to_match={None: TimeToMatch(12.25, 40.0, 3)},
        by_timezone={}, dead_letters={"matches.v1": 2}, funnel_steps={"onboarded": 4, "proposed": 2},
        series=analytics.daily([], today=date(2027, 2, 1)), as_of="2027-02-01T00:00:00+00:00")
    assert (kpis["participants"], kpis["mentees"], kpis["dead_letters"]) == (4, 3, 2)
    assert kpis["attendance_rate"] == 0.75 and kpis["average_rating"] == 3.5 and kpis["response_rate"] is None
    assert kpis["time_to_match_hours"] == {"p50": 12.2, "p90": 40.0, "mentees": 3}
    assert kpis["by_region"]["EMEA"]["attendance_rate"] == 0.75
    assert kpis["by_region"]["APAC"]["time_to_match_hours"] == {"p50": None, "p90": None, "mentees": 0}
    assert [s["mentees"] for s in kpis["funnel"]] == [4, 2, 0, 0, 0] and kpis["funnel"][1]["share"] == 0.5
    assert all(isinstance(kpis[name], int) for name in COUNTS)


def test_daily_series_cover_the_last_days_with_zeros_and_drop_older_facts():
    series = analytics.daily([("matches_established", date(2027, 2, 1), 2), ("matches_established", date(2026, 1, 1), 9),
                              ("feedback_received", date(2027, 1, 31), 1)], today=date(2027, 2, 1), days=3)
    assert series["days"] == ["2027-01-30", "2027-01-31", "2027-02-01"]
    assert series["matches_established"] == [0, 0, 2] and series["feedback_received"] == [0, 1, 0]


def test_the_csv_has_one_row_per_scope_and_number():
    by_region = analytics.merge_counts([{"EMEA": {"participants": 2}}])
    kpis = analytics.program_kpis(
        program={"program_id": "g", "name": "G", "timezone": "UTC"}, by_region=by_region, rating_sums={},
        time_to_match={}, by_timezone={"Europe/Amsterdam": {"participants": 2}}, dead_letters={},
        funnel_steps={}, series=analytics.daily([("onboarded", date(2027, 2, 1), 2)], today=date(2027, 2, 1)),
        as_of="x")
    rows = analytics.csv_rows(kpis)
    assert rows[0] == ["program_id", "scope", "kpi", "value"]
    assert ["g", "program", "participants", 2] in rows and ["g", "region:EMEA", "participants", 2] in rows
    assert ["g", "timezone:Europe/Amsterdam", "participants", 2] in rows
    assert ["g", "day:2027-02-01", "onboarded", 2] in rows
    assert ["g", "program", "time_to_match_p50_hours", ""] in rows
