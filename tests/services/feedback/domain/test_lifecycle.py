"""The life-cycle rules, pure: goals achieved once, check-in days, missed meetings in a row, the
reminder of a check-in, and what an ending earns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain.attendance import trailing_misses
from services.feedback.domain.checkins import CheckinCadence, CheckinSchedule
from services.feedback.domain.closure import earns_certificate, term_served
from services.feedback.domain.goals import Goal, goal_terms
from services.feedback.domain.model import FeedbackRequest

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def test_a_goal_is_achieved_the_first_time_it_reaches_100():
    goal = Goal("public speaking")
    assert not goal.record(60, now=T0) and goal.tracked
    assert goal.record(100, now=T0 + timedelta(days=1))
    assert not goal.record(80, now=T0 + timedelta(days=2)) and not goal.record(100, now=T0 + timedelta(days=3))
    assert goal.achieved_at == T0 + timedelta(days=1) and goal.progress == 100
    assert goal_terms([" Public Speaking", "negotiation", "public speaking", " "]) == ("public speaking", "negotiation")


def test_check_ins_fall_on_their_days_inside_the_term_only():
    cadence = CheckinCadence(first_day=3, every_days=7, term_days=14)
    assert [cadence.due(T0, n) for n in (1, 2, 3)] == [T0 + timedelta(days=3), T0 + timedelta(days=10), None]
    schedule = CheckinSchedule("r1", T0)
    schedule.plan(cadence)
    assert schedule.next_at == T0 + timedelta(days=3)
    fresh = timedelta(days=7)
    assert schedule.take_due(cadence, now=T0 + timedelta(days=2), fresh_for=fresh) is None
    assert schedule.take_due(cadence, now=T0 + timedelta(days=3, hours=1), fresh_for=fresh) == 1
    assert schedule.next_at == T0 + timedelta(days=10)
    assert schedule.take_due(cadence, now=T0 + timedelta(days=10), fresh_for=fresh) == 2
    assert schedule.next_at is None  # day 17 is past the term: the closure survey comes instead


def test_check_ins_missed_while_nobody_asked_are_not_sent_in_a_burst():
    cadence = CheckinCadence(first_day=30, every_days=30, term_days=365)
    schedule = CheckinSchedule("r1", T0)
    # Day 95: check-ins 1-3 fell due; only the latest is asked, while it is fresh.
    assert schedule.take_due(cadence, now=T0 + timedelta(days=95), fresh_for=timedelta(days=7)) == 3
    assert schedule.asked == 3 and schedule.next_at == T0 + timedelta(days=120)
    stale = CheckinSchedule("r2", T0)
    assert stale.take_due(cadence, now=T0 + timedelta(days=100), fresh_for=timedelta(days=7)) is None
    assert stale.asked == 3 and stale.next_at == T0 + timedelta(days=120)


def test_an_unanswered_check_in_is_reminded_once_then_counted():
    request = FeedbackRequest("q1", "r1", "ana", "mentee", T0, T0 + timedelta(days=7), kind="checkin", checkin=1)
    assert request.remind(now=T0 + timedelta(days=6), grace_days=3) is None  # not due yet
    reminder = request.remind(now=T0 + timedelta(days=7), grace_days=3)
    assert reminder.reminder and reminder.request_id == "q1" and reminder.kind == "checkin"
    assert reminder.due_at == T0 + timedelta(days=10)
    assert request.remind(now=T0 + timedelta(days=11), grace_days=3) is None  # once
    assert not request.count_overdue(now=T0 + timedelta(days=9))
    assert request.count_overdue(now=T0 + timedelta(days=10)) and not request.count_overdue(now=T0 + timedelta(days=11))
    meeting = FeedbackRequest("q2", "r1", "ana", "mentee", T0, T0, kind="meeting", meeting_id="m1")
    assert meeting.remind(now=T0 + timedelta(days=8), grace_days=3) is None  # only check-ins are reminded


@pytest.mark.parametrize(("outcomes", "count", "first"), [
    ([], 0, None),
    ([("m1", False)], 1, "m1"),
    ([("m1", True), ("m2", False), ("m3", False)], 2, "m2"),
    ([("m1", False), ("m2", False), ("m3", True)], 0, None),  # a held meeting resets the streak
    ([("m1", False), ("m2", True), ("m3", False), ("m4", False), ("m5", False)], 3, "m3"),
])
def test_missed_meetings_in_a_row_are_counted_back_to_the_last_one_held(outcomes, count, first):
    streak = trailing_misses(outcomes)
    assert (streak.count, streak.first_meeting_id, streak.worth_a_nudge) == (count, first, count >= 2)


def test_a_certificate_for_a_completed_term_or_an_early_end_with_the_term_mostly_served():
    assert term_served(T0, T0 + timedelta(days=90), 180) == 0.5
    assert term_served(T0, T0 + timedelta(days=181), 180) == 1.0  # found a moment late: still the whole term
    assert earns_certificate("term_completed", 1.0)
    assert earns_certificate("participant_left", 0.75) and earns_certificate("ended_on_request", 0.9)
    assert not earns_certificate("participant_left", 0.74)
