"""Named cases for zones that break naive schedulers: half-hour and 45-minute offsets and shifts,
Morocco's Ramadan hour, opposite hemispheres. Every placed meeting is re-checked with the oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling.domain import Infeasible, PlanningRules, Slot, Unplaceable, find_kickoff, plan_series

from .oracle import inside, local_clock, profile

WEEKDAYS = ("mon-fri", "09:00", "17:00")


def placed(series):
    """[(number, start epoch, end epoch)] of placed occurrences; every one re-checked by the test."""
    return [(o.number, *o.outcome.interval) for o in series if isinstance(o.outcome, Slot)]


def assert_all_inside(series, mentor, mentee):
    assert not isinstance(series, Infeasible)
    for number, start, end in placed(series):
        assert inside(mentor, start, end), f"occurrence {number} outside the mentor's window"
        assert inside(mentee, start, end), f"occurrence {number} outside the mentee's window"


def clocks(series, person):
    return [local_clock(person, start) for _, start, _ in placed(series)]


def test_lord_howe_half_hour_shift_keeps_the_mentors_time():
    # Lord Howe goes from +11 to +10:30 on 2026-04-05; Tokyo has no DST.
    mentor, mentee = profile("m", "Australia/Lord_Howe", WEEKDAYS), profile("e", "Asia/Tokyo", WEEKDAYS)
    series = plan_series(mentor, mentee, start=datetime(2026, 3, 2, tzinfo=UTC), occurrences=6, rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    assert clocks(series, mentor) == ["11:30"] * 6
    assert clocks(series, mentee) == ["09:30"] * 3 + ["10:00"] * 3  # Tokyo moves by half an hour
    starts = [start for _, start, _ in placed(series)]
    assert starts[3] - starts[2] == 14 * 86_400 + 1800


def test_lord_howe_tight_windows_stay_inside_across_the_shift():
    mentor = profile("m", "Australia/Lord_Howe", ("mon-fri", "09:00", "12:00"))
    mentee = profile("e", "Asia/Tokyo", ("mon-fri", "07:00", "09:00"))
    series = plan_series(mentor, mentee, start=datetime(2026, 3, 2, tzinfo=UTC), occurrences=6, rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    assert len(placed(series)) == 6


def test_casablanca_ramadan_2026_hour_is_followed():
    # Morocco leaves +01 for +00 from 2026-02-15 to 2026-03-22; Amsterdam moves to +02 on 2026-03-29.
    mentor, mentee = profile("m", "Africa/Casablanca", WEEKDAYS), profile("e", "Europe/Amsterdam", WEEKDAYS)
    rules = PlanningRules(cadence_days=7)
    series = plan_series(mentor, mentee, start=datetime(2026, 1, 26, tzinfo=UTC), occurrences=12, rules=rules)
    assert_all_inside(series, mentor, mentee)
    assert clocks(series, mentor) == ["09:30"] * 12  # the mentor's time never drifts
    assert clocks(series, mentee) == ["09:30"] * 3 + ["10:30"] * 5 + ["09:30"] + ["10:30"] * 3


@pytest.mark.parametrize("year, start, lost", [
    (2026, datetime(2026, 1, 26, tzinfo=UTC), [4, 5, 6, 7, 8]),   # Ramadan hour 2026-02-15 .. 03-22
    (2027, datetime(2027, 1, 18, tzinfo=UTC), [4, 5, 6, 7, 8]),   # Ramadan hour 2027-02-07 .. 03-14
])
def test_casablanca_ramadan_hour_makes_a_one_hour_overlap_vanish(year, start, lost):
    # Both available 09:00-10:00 local: the same UTC hour only while both clocks read +01.
    mentor = profile("m", "Africa/Casablanca", ("mon-fri", "09:00", "10:00"))
    mentee = profile("e", "Europe/Amsterdam", ("mon-fri", "09:00", "10:00"))
    rules = PlanningRules(cadence_days=7, tolerance_days=1)
    series = plan_series(mentor, mentee, start=start, occurrences=9, rules=rules)
    assert_all_inside(series, mentor, mentee)
    missing = [o for o in series if isinstance(o.outcome, Unplaceable)]
    assert [o.number for o in missing] == lost
    for o in missing:
        assert o.outcome.reason_code == "no_common_window"
        assert "1h00 apart here instead of 0h00" in o.outcome.reason
        assert "Africa/Casablanca" in o.outcome.reason and "Europe/Amsterdam" in o.outcome.reason
    assert placed(series)[-1][0] == 9  # the series goes on after the shift


def test_chatham_quarter_to_the_hour_offsets():
    # Chatham: +13:45 until 2026-04-05, then +12:45. London: +00, +01 from 2026-03-29.
    mentor = profile("m", "Pacific/Chatham", ("mon-fri", "08:00", "12:00"))
    mentee = profile("e", "Europe/London", (("sun", "mon", "tue", "wed", "thu"), "17:00", "22:00"))
    series = plan_series(mentor, mentee, start=datetime(2026, 3, 16, tzinfo=UTC), occurrences=6, rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    first = placed(series)[0][1]
    assert datetime.fromtimestamp(first, UTC).strftime("%H:%M") == "18:45"  # 08:30 at +13:45
    assert clocks(series, mentor) == ["08:30"] * 6
    assert clocks(series, mentee) == ["18:45", "19:45", "20:45", "20:45", "20:45", "20:45"]


def test_kathmandu_plus_five_forty_five():
    mentor, mentee = profile("m", "Asia/Kathmandu", WEEKDAYS), profile("e", "Asia/Kolkata", WEEKDAYS)
    kickoff = find_kickoff(mentor, mentee, now=datetime(2026, 6, 1, tzinfo=UTC))
    # Kolkata's 09:00 edge plus the 30-minute comfort margin decides: 04:00 UTC.
    assert kickoff == Slot(datetime(2026, 6, 3, 4, 0, tzinfo=UTC), datetime(2026, 6, 3, 4, 45, tzinfo=UTC))
    start, end = kickoff.interval
    assert (local_clock(mentor, start), local_clock(mentee, start)) == ("09:45", "09:30")
    assert inside(mentor, start, end) and inside(mentee, start, end)


def test_kathmandu_window_edge_lands_on_a_quarter_past_utc():
    # 09:00 in Kathmandu is 03:15 UTC: with no comfort margin that is the first slot.
    mentor, mentee = profile("m", "Asia/Kathmandu", WEEKDAYS), profile("e", "UTC", ("mon-fri", "00:00", "12:00"), ("mon-fri", "12:00", "24:00"))
    kickoff = find_kickoff(mentor, mentee, now=datetime(2026, 6, 1, tzinfo=UTC),
                           rules=PlanningRules(comfort_minutes=0))
    assert kickoff.start == datetime(2026, 6, 3, 3, 15, tzinfo=UTC)


def test_st_johns_minus_three_thirty_keeps_the_mentees_time_when_the_mentors_would_hug_an_edge():
    # St John's: -3:30, then -2:30 from 2026-03-08. Sao Paulo: -3 all year.
    mentor, mentee = profile("m", "America/St_Johns", WEEKDAYS), profile("e", "America/Sao_Paulo", WEEKDAYS)
    series = plan_series(mentor, mentee, start=datetime(2026, 2, 16, tzinfo=UTC), occurrences=4, rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    assert clocks(series, mentor) == ["09:30", "09:30", "10:30", "10:30"]
    # After the change the mentor's 09:30 would be the mentee's 09:00, right at the edge of their day.
    assert clocks(series, mentee) == ["10:00"] * 4
    assert [o.kept_wall_clock for o in series[2:]] == [("e",), ("e",)]


@pytest.mark.parametrize("south", ["Australia/Sydney", "Pacific/Auckland"])
@pytest.mark.parametrize("north", ["America/New_York", "America/Sao_Paulo"])
def test_opposite_hemispheres_for_a_whole_year(south, north):
    # Their clocks change in opposite directions; a year of fortnightly meetings stays inside.
    mentor = profile("m", south, ("mon-fri", "07:00", "10:00"))
    mentee = profile("e", north, (("sun", "mon", "tue", "wed", "thu"), "14:00", "19:00"))
    series = plan_series(mentor, mentee, start=datetime(2026, 2, 2, tzinfo=UTC), occurrences=26, rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    assert len(placed(series)) == 26


def test_amsterdam_and_auckland_office_hours_never_meet():
    mentor, mentee = profile("m", "Europe/Amsterdam", WEEKDAYS), profile("e", "Pacific/Auckland", WEEKDAYS)
    result = find_kickoff(mentor, mentee, now=datetime(2026, 2, 2, tzinfo=UTC))
    assert result == Infeasible(
        "their availability never overlaps: mentor 09:00-17:00 Mon-Fri Europe/Amsterdam, "
        "mentee 09:00-17:00 Mon-Fri Pacific/Auckland", "never_overlap")
    assert plan_series(mentor, mentee, start=datetime(2026, 2, 2, tzinfo=UTC), occurrences=3) == result


def test_new_york_amsterdam_three_week_gap_keeps_the_mentors_time():
    # The US changes clocks on 2026-03-08, the EU on 2026-03-29: for three weeks they are 5h apart.
    mentor, mentee = profile("m", "America/New_York", WEEKDAYS), profile("e", "Europe/Amsterdam", WEEKDAYS)
    series = plan_series(mentor, mentee, start=datetime(2026, 2, 20, tzinfo=UTC), occurrences=6,
                         rules=PlanningRules())
    assert_all_inside(series, mentor, mentee)
    assert clocks(series, mentor) == ["09:30"] * 6
    assert clocks(series, mentee) == ["15:30", "14:30", "14:30", "15:30", "15:30", "15:30"]


def test_overlap_only_during_the_dst_gap_is_unplaceable_not_infeasible():
    # New York 09:00-10:00 meets Amsterdam 14:00-15:00 only while they are 5h apart (March).
    mentor = profile("m", "America/New_York", ("mon-fri", "09:00", "10:00"))
    mentee = profile("e", "Europe/Amsterdam", ("mon-fri", "14:00", "15:00"))
    result = find_kickoff(mentor, mentee, now=datetime(2026, 1, 5, tzinfo=UTC))
    assert isinstance(result, Unplaceable) and result.reason_code == "no_overlap_in_horizon"
    assert "other times of the year" in result.reason
    later = find_kickoff(mentor, mentee, now=datetime(2026, 3, 5, tzinfo=UTC))
    assert later == Slot(datetime(2026, 3, 9, 13, 0, tzinfo=UTC), datetime(2026, 3, 9, 13, 45, tzinfo=UTC))


def test_spring_forward_gap_inside_a_night_window():
    # A night-owl window 00:00-06:00 on the day Amsterdam skips 02:00-03:00 (2026-03-29, a Sunday).
    mentor = profile("m", "Europe/Amsterdam", (("sun",), "00:00", "06:00"))
    mentee = profile("e", "UTC", (("sat", "sun"), "00:00", "12:00"), (("sat", "sun"), "12:00", "24:00"))
    # Six wall-clock hours minus the skipped hour leave five real hours: a 5-hour meeting just fits.
    rules = PlanningRules(duration_minutes=300, comfort_minutes=0, min_notice_hours=0)
    kickoff = find_kickoff(mentor, mentee, now=datetime(2026, 3, 28, 12, tzinfo=UTC), rules=rules)
    assert kickoff == Slot(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 4, 0, tzinfo=UTC))
    assert inside(mentor, *kickoff.interval)
    longer = find_kickoff(mentor, mentee, now=datetime(2026, 3, 28, 12, tzinfo=UTC),
                          rules=rules.model_copy(update={"duration_minutes": 315}))
    assert longer.start > kickoff.start + timedelta(days=1)  # not that night: only on a normal six-hour Sunday


def test_fall_back_gives_an_extra_hour():
    mentor = profile("m", "Europe/Amsterdam", (("sun",), "00:00", "06:00"))
    mentee = profile("e", "UTC", (("sat", "sun"), "00:00", "12:00"), (("sat", "sun"), "12:00", "24:00"))
    rules = PlanningRules(duration_minutes=7 * 60, comfort_minutes=0, min_notice_hours=0)
    kickoff = find_kickoff(mentor, mentee, now=datetime(2026, 10, 20, tzinfo=UTC), rules=rules)
    assert kickoff == Slot(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 5, 0, tzinfo=UTC))
    assert inside(mentor, *kickoff.interval)

