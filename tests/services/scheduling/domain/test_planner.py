"""Kickoff, occurrence and reschedule choices on small, hand-checked calendars (all in UTC or
Amsterdam so the expected instants can be read off directly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling.domain import (
    BusyCalendar,
    Infeasible,
    PlanningRules,
    Slot,
    Unplaceable,
    find_kickoff,
    find_occurrence,
    find_reschedule_slot,
    plan_series,
)

from .oracle import epoch, profile

OFFICE = ("mon-fri", "09:00", "17:00")
MONDAY = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday 2026-06-01, 10:00 UTC


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def slot(day: int, hour: int, minute: int = 0, minutes: int = 45) -> Slot:
    return Slot(at(day, hour, minute), at(day, hour, minute) + timedelta(minutes=minutes))


@pytest.fixture
def pair():
    return profile("m", "UTC", OFFICE), profile("e", "UTC", OFFICE)


def test_kickoff_respects_the_minimum_notice(pair):
    # 48 hours after Monday 10:00 is Wednesday 10:00, comfortably inside both days.
    assert find_kickoff(*pair, now=MONDAY) == slot(3, 10)


def test_kickoff_keeps_a_comfort_margin_from_the_start_of_the_day(pair):
    # Earliest allowed is Wednesday 08:00; 09:00 would be the very edge of both days.
    assert find_kickoff(*pair, now=at(1, 8)) == slot(3, 9, 30)


def test_kickoff_keeps_a_comfort_margin_from_the_end_of_the_day(pair):
    # Earliest allowed is Wednesday 16:00: too late for a comfortable slot that day.
    assert find_kickoff(*pair, now=at(1, 16)) == slot(4, 9, 30)


def test_kickoff_falls_back_to_an_edge_slot_when_no_comfortable_one_exists():
    short = ("mon-fri", "09:00", "10:00")  # one hour: a 45-minute meeting cannot keep 30 minutes clear
    mentor, mentee = profile("m", "UTC", short), profile("e", "UTC", short)
    assert find_kickoff(mentor, mentee, now=MONDAY) == slot(4, 9)


def test_kickoff_rounds_up_to_the_quarter_hour(pair):
    assert find_kickoff(*pair, now=at(1, 10, 1)) == slot(3, 10, 15)


def test_kickoff_avoids_other_meetings_plus_buffer(pair):
    busy = {"m": [(epoch(2026, 6, 3, 9, 30), epoch(2026, 6, 3, 11, 0))]}
    # Free from 11:00 + 15 minutes of buffer.
    assert find_kickoff(*pair, now=at(1, 8), busy=busy) == slot(3, 11, 15)
    busy = {"e": [(epoch(2026, 6, 3, 10, 45), epoch(2026, 6, 3, 12, 0))]}
    # 09:30-10:15 leaves 30 minutes before the mentee's 10:45 meeting: fine.
    assert find_kickoff(*pair, now=at(1, 8), busy=busy) == slot(3, 9, 30)
    busy = {"e": [(epoch(2026, 6, 3, 10, 15), epoch(2026, 6, 3, 12, 0))]}
    # 09:30 would end exactly when the meeting starts, with no buffer: 12:15 is next.
    assert find_kickoff(*pair, now=at(1, 8), busy=busy) == slot(3, 12, 15)


def test_kickoff_accepts_a_busy_calendar_and_leaves_it_alone(pair):
    calendar = BusyCalendar({"m": [(epoch(2026, 6, 3, 9, 0), epoch(2026, 6, 3, 17, 0))]})
    assert find_kickoff(*pair, now=at(1, 8), busy=calendar) == slot(4, 9, 30)
    assert calendar.intervals("m") == [(epoch(2026, 6, 3, 9, 0), epoch(2026, 6, 3, 17, 0))]


def test_kickoff_fully_booked_horizon_is_unplaceable(pair):
    busy = {"m": [(epoch(2026, 6, 1), epoch(2026, 7, 15))]}
    result = find_kickoff(*pair, now=MONDAY, busy=busy)
    assert isinstance(result, Unplaceable) and result.reason_code == "fully_booked"
    assert "clashes with their other meetings" in result.reason


def test_overlap_shorter_than_the_meeting_is_infeasible():
    mentor = profile("m", "UTC", ("mon-fri", "09:00", "09:30"))
    mentee = profile("e", "UTC", ("mon-fri", "09:00", "12:00"))
    result = find_kickoff(mentor, mentee, now=MONDAY)
    assert isinstance(result, Infeasible) and result.reason_code == "overlap_too_short"
    assert "at most 30 minutes" in result.reason


def test_no_windows_at_all_is_infeasible():
    mentor = profile("m", "UTC")
    result = find_kickoff(mentor, profile("e", "UTC", OFFICE), now=MONDAY)
    assert isinstance(result, Infeasible) and "no availability given" in result.reason


def test_window_past_midnight():
    night = (("fri",), "22:00", "02:00")
    mentor, mentee = profile("m", "UTC", night), profile("e", "UTC", (("sat",), "00:00", "03:00"))
    # Only Friday night's hours after midnight are common: Saturday 00:00-02:00.
    assert find_kickoff(mentor, mentee, now=MONDAY, rules=PlanningRules(comfort_minutes=0)) == slot(6, 0)
    assert find_kickoff(mentor, mentee, now=MONDAY) == slot(6, 0, 30)


def test_reschedule_finds_the_next_slot_after_a_time(pair):
    assert find_reschedule_slot(*pair, after=at(3, 10, 5)) == slot(3, 10, 15)
    # With `now`, the minimum notice still applies.
    assert find_reschedule_slot(*pair, after=at(1, 10, 5), now=MONDAY) == slot(3, 10)


def test_occurrence_prefers_the_target_itself(pair):
    assert find_occurrence(*pair, target=at(17, 11)) == slot(17, 11)


def test_occurrence_moves_to_the_nearest_free_time(pair):
    busy = {"m": [(epoch(2026, 6, 17, 10, 0), epoch(2026, 6, 17, 12, 0))]}
    # Free before 09:45 (buffer) or from 12:15; 12:15 is 75 minutes away, 09:00 is 2 hours away.
    assert find_occurrence(*pair, target=at(17, 11), busy=busy) == slot(17, 12, 15)


def test_occurrence_stays_within_tolerance(pair):
    busy = {"e": [(epoch(2026, 6, 16), epoch(2026, 6, 19))]}  # Tuesday to Thursday
    result = find_occurrence(*pair, target=at(17, 11), rules=PlanningRules(tolerance_days=1), busy=busy)
    assert isinstance(result, Unplaceable) and result.reason_code == "fully_booked"
    # Three days either way: Monday's last comfortable start (15:45) is nearer than Friday's first.
    result = find_occurrence(*pair, target=at(17, 11), rules=PlanningRules(tolerance_days=3), busy=busy)
    assert result == slot(15, 15, 45)


def test_occurrence_not_before(pair):
    assert find_occurrence(*pair, target=at(17, 11), not_before=at(17, 11, 5)) == slot(17, 11, 15)


def test_occurrence_keeps_the_kickoffs_local_time_over_the_closest_instant():
    mentor = profile("m", "Europe/Amsterdam", OFFICE)
    mentee = profile("e", "UTC", ("mon-fri", "06:00", "17:00"))
    kickoff = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam (+01)
    target = kickoff + timedelta(days=14)  # Amsterdam is +02 by then
    result = find_occurrence(mentor, mentee, target=target, preferred_local_time=kickoff)
    assert result == Slot(datetime(2026, 4, 1, 8, 0, tzinfo=UTC), datetime(2026, 4, 1, 8, 45, tzinfo=UTC))
    # Without the reference the target instant itself is taken (11:00 in Amsterdam).
    assert find_occurrence(mentor, mentee, target=target).start == target


def test_plan_series_places_every_occurrence_and_never_double_books(pair):
    series = plan_series(*pair, start=MONDAY, occurrences=5)
    starts = [o.outcome.start for o in series]
    assert starts == [at(3, 10) + timedelta(days=14 * k) for k in range(5)]
    assert all(o.comfortable for o in series)


def test_plan_series_goes_on_after_an_unplaceable_occurrence(pair):
    busy = {"m": [(epoch(2026, 6, 12), epoch(2026, 6, 22))]}
    series = plan_series(*pair, start=MONDAY, occurrences=3, busy=busy)
    kinds = [type(o.outcome).__name__ for o in series]
    assert kinds == ["Slot", "Unplaceable", "Slot"]
    assert series[1].outcome.reason_code == "fully_booked"
    assert series[2].outcome.start == at(3, 10) + timedelta(days=28)


def test_plan_series_without_a_kickoff_aims_at_the_earliest_start(pair):
    busy = {"m": [(epoch(2026, 6, 1), epoch(2026, 6, 25))]}  # covers the 21-day kickoff horizon
    series = plan_series(*pair, start=MONDAY, occurrences=3, busy=busy)
    assert [type(o.outcome).__name__ for o in series] == ["Unplaceable", "Unplaceable", "Slot"]
    assert series[0].outcome.reason_code == "fully_booked"
    assert series[2].target == at(3, 10) + timedelta(days=28)
    assert series[2].outcome == Slot(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), datetime(2026, 7, 1, 10, 45, tzinfo=UTC))


def test_plan_series_rejects_zero_occurrences(pair):
    with pytest.raises(ValueError):
        plan_series(*pair, start=MONDAY, occurrences=0)


def test_naive_datetimes_are_rejected(pair):
    with pytest.raises(ValueError, match="naive"):
        find_kickoff(*pair, now=datetime(2026, 6, 1))


def test_occurrence_window_entirely_before_not_before(pair):
    result = find_occurrence(*pair, target=at(17, 11), not_before=at(22, 9))
    assert isinstance(result, Unplaceable) and result.reason_code == "no_room_after_previous"
    assert "2026-06-22 09:00 UTC" in result.reason


def test_overlap_too_short_once_aligned_to_the_quarter_hour_is_infeasible():
    # 50 minutes in common (09:05-09:55), but meetings start on quarter hours: only 40 usable.
    mentor = profile("m", "UTC", ("mon-fri", "09:05", "09:55"))
    result = find_kickoff(mentor, profile("e", "UTC", OFFICE), now=MONDAY)
    assert isinstance(result, Infeasible) and result.reason_code == "overlap_too_short"
    assert "at most 40 minutes" in result.reason


def test_a_few_minutes_in_common_is_too_short_not_never():
    # 09:05-09:10 in common: not one quarter-hour start, yet they do overlap.
    mentor = profile("m", "UTC", ("mon-fri", "08:00", "09:10"))
    result = find_kickoff(mentor, profile("e", "UTC", ("mon-fri", "09:05", "17:00")), now=MONDAY)
    assert result.reason_code == "overlap_too_short" and "only for moments" in result.reason


def test_kickoffs_of_pairs_alike_are_the_ones_worked_out_afresh():
    """Found kickoffs are kept for pairs with the same zones, hours, meetings and earliest start
    (planner._KICKOFFS); whoever asks first, each answer is the one worked out alone."""
    from services.scheduling.domain import planner

    tuesday = int(datetime(2026, 6, 3, 9, 0, tzinfo=UTC).timestamp())
    asks = [
        (profile("m1", "UTC", OFFICE), profile("e1", "UTC", OFFICE), {}, MONDAY),
        (profile("m2", "UTC", OFFICE), profile("e2", "UTC", OFFICE), {}, MONDAY),  # alike: the kept answer
        (profile("m3", "UTC", OFFICE), profile("e3", "UTC", OFFICE), {"e3": [(tuesday, tuesday + 7200)]}, MONDAY),
        (profile("m4", "UTC", OFFICE), profile("e4", "America/New_York", OFFICE), {}, MONDAY),
        (profile("m5", "UTC", OFFICE), profile("e5", "UTC", OFFICE), {}, MONDAY + timedelta(days=1)),
        (profile("m6", "UTC", OFFICE), profile("e6", "UTC", ("sat-sun", "09:00", "17:00")), {}, MONDAY),  # none
    ]
    planner._KICKOFFS.clear()
    kept = [find_kickoff(m, e, now=now, busy=busy) for m, e, busy, now in asks]
    fresh = []
    for m, e, busy, now in asks:
        planner._KICKOFFS.clear()
        fresh.append(find_kickoff(m, e, now=now, busy=busy))
    assert kept == fresh
    assert kept[0] == kept[1] and len({repr(found) for found in kept}) == 5
