"""The Series and Meeting aggregates on their own: where occurrences are aimed, when the series goes
on, and which changes a meeting refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling.domain import cancellations
from services.scheduling.domain.model import Meeting, Series, meeting_id
from services.scheduling.domain.rules import PlanningRules
from shared.errors import PermanentError
from shared.people import Pair

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
RULES = PlanningRules()  # 48 h notice, every 14 days +-3, 45 minutes, 15 minutes buffer


def series(**changes) -> Series:
    pair = Pair("r", "prog", "m", "e", NOW)
    return Series(pair, occurrences=3, **changes)


def meeting(occurrence: int = 1, start: datetime = NOW + timedelta(days=3), **changes) -> Meeting:
    return Meeting(meeting_id("r", occurrence), "r", "prog", "m", "e", occurrence, start,
                   start + timedelta(minutes=45), **changes)


def test_occurrences_keep_the_cadence_of_the_first_placed_meeting():
    kickoff = meeting(1)
    aim = series().aim(3, now=kickoff.end, rules=RULES, first=kickoff)
    assert aim.target == kickoff.start + timedelta(days=28) and aim.anchor == kickoff.start
    # Kickoff unplaceable, occurrence 2 placed: occurrence 3 is one step after occurrence 2.
    second = meeting(2, NOW + timedelta(days=17))
    assert series().aim(3, now=second.end, rules=RULES, first=second).target == second.start + timedelta(days=14)
    # Nothing placed yet: one step from now, no wall-clock time to keep.
    aim = series().aim(2, now=NOW, rules=RULES)
    assert (aim.target, aim.anchor) == (NOW + timedelta(days=14), None)


def test_a_series_that_fell_behind_aims_at_the_next_reachable_time():
    kickoff = meeting(1)
    late = kickoff.start + timedelta(days=60)
    aim = series().aim(2, now=late, rules=RULES, first=kickoff)
    assert aim.target == late + timedelta(hours=48, days=3) and aim.not_before == late + timedelta(hours=48)


def test_the_busy_times_read_cover_the_whole_search():
    kickoff = series().aim(1, now=NOW, rules=RULES)
    lo, hi = kickoff.reach(RULES)
    assert lo <= NOW + timedelta(hours=48, minutes=-15) and hi >= NOW + timedelta(hours=48, days=21, minutes=60)
    aim = series().aim(2, now=NOW, rules=RULES, first=meeting(1))
    lo, hi = aim.reach(RULES)
    assert lo <= aim.target - timedelta(days=3, minutes=15) and hi >= aim.target + timedelta(days=3, minutes=60)


def test_the_series_goes_on_after_its_latest_meeting_until_the_last_one():
    s = series()
    s.follow(meeting(1))
    assert (s.planned, s.plan_next_at) == (1, meeting(1).end)
    s.follow(meeting(2, NOW + timedelta(days=17)))
    s.follow(meeting(1, NOW + timedelta(days=4)))  # an earlier one moved: the latest still decides
    assert (s.planned, s.plan_next_at) == (2, NOW + timedelta(days=17, minutes=45))
    assert not s.is_due(NOW) and s.is_due(NOW + timedelta(days=18))
    s.follow(meeting(3, NOW + timedelta(days=31)))
    assert s.plan_next_at is None and not s.is_due(NOW + timedelta(days=99))
    assert s.end("done") and not s.end("done again") and s.status == "ended"


@pytest.mark.parametrize("status", ["completed", "missed", "unplaceable"])
def test_only_a_scheduled_meeting_can_move_or_be_cancelled(status):
    m = meeting(status=status)
    with pytest.raises(PermanentError, match=f"is {status}; only a scheduled meeting can move"):
        m.ensure_movable(NOW)
    with pytest.raises(PermanentError, match=f"is {status}; it cannot be cancelled"):
        m.cancel(cancellations.relationship_over("ended_on_request"), people=None, now=NOW)  # before an invite
    assert m.reminders([60], now=NOW) == []


def test_reminders_follow_the_meetings_time_and_sequence():
    m = meeting()
    first = m.reminders([24 * 60, 60], now=NOW)
    assert [r.due_at for r in first] == [m.start - timedelta(hours=24), m.start - timedelta(hours=1)]
    assert m.reminders([24 * 60, 60], now=m.start - timedelta(hours=2))[0].minutes_before == 60  # past: not made
    m.sequence += 1
    assert {r.reminder_id for r in m.reminders([60], now=NOW)}.isdisjoint(r.reminder_id for r in first)
