"""The other starts offered with a meeting (planner.find_alternatives), checked against the
independent oracle: inside both people's own hours, clear of everyone's meetings, spread over days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduling.domain import BusyCalendar, PlanningRules, Slot, find_alternatives

from .oracle import clashes, inside, local_clock, profile

OFFICE = ("mon-fri", "09:00", "17:00")
RULES = PlanningRules()  # 48 h notice, 45 minutes, 15 minutes buffer, 30 minutes comfort
WEDNESDAY = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)


def meeting(start: datetime, minutes: int = 45) -> Slot:
    return Slot(start, start + timedelta(minutes=minutes))


def offered(mentor, mentee, slot: Slot, *, days: int = 14, busy=None, now=None, rules=RULES) -> list[datetime]:
    return find_alternatives(mentor, mentee, slot, until=slot.start + timedelta(days=days), rules=rules,
                             busy=busy or {}, now=now or slot.start - timedelta(days=3))


def check(found: list[datetime], mentor, mentee, slot: Slot, busy: dict, *, buffer=15 * 60) -> None:
    """What every offer must be, whatever else: the same length, free, apart, after the meeting."""
    length = int((slot.end - slot.start).total_seconds())
    starts = [int(s.timestamp()) for s in found]
    assert starts == sorted(starts) and all(s.tzinfo is not None for s in found)
    own = slot.interval
    for i, s in enumerate(starts):
        assert s > own[0] and inside(mentor, s, s + length) and inside(mentee, s, s + length)
        for pid in (mentor.participant_id, mentee.participant_id):
            assert not clashes(s, s + length, list(busy.get(pid, ())) + [own], buffer)
        assert not clashes(s, s + length, [(o, o + length) for o in starts[:i]], buffer)


def test_the_same_time_on_the_next_working_days():
    mentor, mentee = profile("m", "UTC", OFFICE), profile("e", "UTC", OFFICE)
    slot = meeting(WEDNESDAY)
    found = offered(mentor, mentee, slot)
    assert found == [datetime(2026, 6, d, 10, 0, tzinfo=UTC) for d in (4, 5, 8, 9, 10)]  # Thu, Fri, Mon-Wed
    check(found, mentor, mentee, slot, {})


def test_a_busy_day_offers_another_time_that_day_clear_of_the_buffer():
    mentor, mentee = profile("m", "UTC", OFFICE), profile("e", "UTC", OFFICE)
    thursday = datetime(2026, 6, 4, 10, 0, tzinfo=UTC)
    busy = {"m": [(int(thursday.timestamp()), int(thursday.timestamp()) + 3600)]}
    slot = meeting(WEDNESDAY)
    found = offered(mentor, mentee, slot, busy=busy)
    assert len(found) == 5 and found[0].date() == thursday.date() and found[0] >= thursday + timedelta(minutes=75)
    check(found, mentor, mentee, slot, busy)
    assert BusyCalendar.of(busy).as_dict() == busy  # the caller's calendar is left alone


def test_each_persons_own_hours_across_a_clock_change():
    # New York moves to summer time on 14 March 2027, Amsterdam on 28 March: for two weeks the
    # overlap starts an hour earlier in UTC. The offers follow both clocks, never UTC.
    mentor = profile("m", "Europe/Amsterdam", OFFICE)
    mentee = profile("e", "America/New_York", OFFICE)
    slot = meeting(datetime(2027, 3, 11, 14, 30, tzinfo=UTC))  # Thu 15:30 Amsterdam, 09:30 New York
    found = offered(mentor, mentee, slot, days=21)
    assert len(found) == 5
    check(found, mentor, mentee, slot, {})
    # After New York's change, 15:30 Amsterdam is 10:30 New York: still inside both days.
    assert [local_clock(mentor, int(s.timestamp())) for s in found] == ["15:30"] * 5
    assert {s.astimezone(ZoneInfo("America/New_York")).hour for s in found} == {9, 10}


def test_never_sooner_than_the_minimum_notice():
    mentor, mentee = profile("m", "UTC", OFFICE), profile("e", "UTC", OFFICE)
    slot = meeting(WEDNESDAY)
    found = offered(mentor, mentee, slot, now=WEDNESDAY)  # the meeting is about to start
    assert found[0] >= WEDNESDAY + timedelta(hours=48) and len(found) == 5
    check(found, mentor, mentee, slot, {})


def test_same_day_times_only_when_too_few_days_have_room():
    # Both free on Wednesdays and Thursdays only; over two days: Thursday, then the Wednesday itself.
    days = (("wed", "thu"), "09:00", "17:00")
    mentor, mentee = profile("m", "UTC", days), profile("e", "UTC", days)
    slot = meeting(WEDNESDAY)
    found = offered(mentor, mentee, slot, days=2)
    # Thursday at the meeting's time; then the earliest free starts from the meeting on.
    assert found == [datetime(2026, 6, 3, 11, 0, tzinfo=UTC), datetime(2026, 6, 3, 12, 0, tzinfo=UTC),
                     datetime(2026, 6, 4, 10, 0, tzinfo=UTC)]
    check(found, mentor, mentee, slot, {})


def test_fewer_than_three_only_when_fewer_exist():
    # One free hour a week: the same hour the next Wednesday is all there is in a week.
    hour = (("wed",), "10:00", "11:00")
    mentor, mentee = profile("m", "UTC", hour), profile("e", "UTC", hour)
    slot = meeting(WEDNESDAY)
    found = offered(mentor, mentee, slot, days=7)
    assert found == [WEDNESDAY + timedelta(days=7)]
    assert offered(mentor, mentee, slot, days=6) == []


@pytest.mark.parametrize("minutes", [30, 90])
def test_offers_have_the_meetings_own_length(minutes):
    narrow = ("mon-fri", "09:00", "11:00")
    mentor, mentee = profile("m", "UTC", narrow), profile("e", "UTC", OFFICE)
    slot = meeting(datetime(2026, 6, 3, 9, 0, tzinfo=UTC), minutes)
    found = offered(mentor, mentee, slot)
    assert len(found) == 5
    check(found, mentor, mentee, slot, {})


def test_pairs_alike_share_an_answer_and_any_difference_gets_its_own():
    """Offers are kept for pairs with the same zones, hours and meetings (planner._OFFERED): each
    answer is the one worked out afresh, whoever asks first."""
    from services.scheduling.domain import planner

    slot = meeting(WEDNESDAY)
    thursday = int(datetime(2026, 6, 4, 10, 0, tzinfo=UTC).timestamp())
    asks = [
        (profile("m1", "UTC", OFFICE), profile("e1", "UTC", OFFICE), {}),
        (profile("m2", "UTC", OFFICE), profile("e2", "UTC", OFFICE), {}),  # alike: the kept answer
        (profile("m3", "UTC", OFFICE), profile("e3", "UTC", OFFICE), {"m3": [(thursday, thursday + 3600)]}),
        (profile("m4", "UTC", OFFICE), profile("e4", "America/New_York", OFFICE), {}),
        (profile("m5", "UTC", ("tue-thu", "09:00", "17:00")), profile("e5", "UTC", OFFICE), {}),
    ]
    planner._OFFERED.clear()
    kept = [offered(m, e, slot, busy=busy) for m, e, busy in asks]
    fresh = []
    for m, e, busy in asks:
        planner._OFFERED.clear()
        fresh.append(offered(m, e, slot, busy=busy))
    assert kept == fresh
    assert kept[0] == kept[1] and len({tuple(found) for found in kept}) == 4
