"""Interval helpers, the busy calendar and the exact window checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduling.domain import BusyCalendar, PlanningRules, Slot, common_availability, fits_window
from services.scheduling.domain.slots import (
    PairWindow,
    closest_start,
    first_start,
    is_start,
    longest_common_stretch,
    person_windows,
    shrink,
    start_regions,
)
from shared.availability import available_intervals, merge

from .oracle import available_at, epoch, profile

Q = 900


def test_start_regions_leave_room_for_the_whole_meeting():
    assert start_regions([(0, 3600), (7200, 7500)], 0, 10_000, 2700) == [(0, 900)]
    assert start_regions([(0, 3600)], 600, 700, 2700) == [(600, 700)]


def test_first_and_closest_aligned_starts():
    regions = [(100, 1000), (5000, 9000)]
    assert first_start(regions, Q) == 900
    assert first_start([(100, 800)], Q) is None
    assert closest_start(regions, 3000, Q) == 900  # 2100 away, 5400 is 2400 away
    assert closest_start(regions, 3200, Q) == 5400
    assert closest_start(regions, 3150, Q) == 900  # equally far: the earlier one
    assert closest_start(regions, 6000, Q) == 6300
    assert closest_start(regions, 50_000, Q) == 9000  # the region end itself is aligned
    assert closest_start([(0, 9000)], 6750, Q) == 6300  # tie between 6300 and 7200: earlier wins
    assert closest_start([(100, 800)], 500, Q) is None
    assert is_start(regions, 900, Q) and not is_start(regions, 950, Q) and not is_start(regions, 1800, Q)


def test_shrink_drops_intervals_smaller_than_both_margins():
    assert shrink([(0, 100), (200, 1000)], 60) == [(260, 940)]
    assert shrink([(0, 100)], 0) == [(0, 100)]


def test_busy_calendar_merges_and_looks_up():
    cal = BusyCalendar({"a": [(50, 60), (10, 20)]})
    cal.add("a", (30, 40))
    cal.add("a", (20, 30))  # touches both neighbours: all merged
    assert cal.intervals("a") == [(10, 40), (50, 60)]
    cal.add("a", (45, 55))
    assert cal.intervals("a") == [(10, 40), (45, 60)]
    assert list(cal.between("a", 40, 45)) == []
    assert list(cal.between("a", 39, 46)) == [(10, 40), (45, 60)]
    assert list(cal.between("nobody", 0, 100)) == []
    assert cal.blocked(["a"], 0, 100, 5) == [(5, 65)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 50)), max_size=30),
       st.integers(0, 600), st.integers(0, 100))
def test_busy_calendar_matches_a_plain_list(items, lo, width):
    cal = BusyCalendar()
    for start, length in items:
        cal.add("p", (start, start + length))
    stored = cal.intervals("p")
    covered = {t for start, length in items for t in range(start, start + length)}
    assert {t for s, e in stored for t in range(s, e)} == covered
    assert all(a[1] < b[0] for a, b in zip(stored, stored[1:]))  # sorted, disjoint, not touching
    hi = lo + width
    assert list(cal.between("p", lo, hi)) == [(s, e) for s, e in stored if s < hi and e > lo]


def test_fits_window_is_exact_at_the_edges():
    person = profile("p", "Asia/Kathmandu", ("mon-fri", "09:00", "17:00"))
    # 09:00-17:00 in Kathmandu is 03:15-11:15 UTC.
    assert fits_window(person, Slot(datetime(2026, 6, 1, 3, 15, tzinfo=UTC), datetime(2026, 6, 1, 11, 15, tzinfo=UTC)))
    assert not fits_window(person, Slot(datetime(2026, 6, 1, 3, 14, tzinfo=UTC), datetime(2026, 6, 1, 4, 0, tzinfo=UTC)))
    assert not fits_window(person, Slot(datetime(2026, 6, 1, 10, 30, tzinfo=UTC), datetime(2026, 6, 1, 11, 16, tzinfo=UTC)))
    assert not fits_window(person, Slot(datetime(2026, 6, 6, 4, 0, tzinfo=UTC), datetime(2026, 6, 6, 5, 0, tzinfo=UTC)))


def test_common_availability_in_utc():
    a = profile("a", "Europe/Amsterdam", ("mon-fri", "09:00", "17:00"))
    b = profile("b", "America/New_York", ("mon-fri", "09:00", "17:00"))
    got = common_availability(a, b, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    assert got == [(epoch(2026, 6, 1, 13), epoch(2026, 6, 1, 15))]  # 15:00-17:00 / 09:00-11:00


@pytest.mark.parametrize("zone", ["Australia/Lord_Howe", "Africa/Casablanca", "America/St_Johns", "Pacific/Chatham"])
def test_week_patterns_give_the_same_intervals_as_direct_expansion(zone):
    # person_windows reuses a week's pattern between clock changes; it must equal a direct expansion.
    person = profile("p", zone, ("mon-fri", "08:00", "18:30"), (("sat",), "22:00", "02:00"))
    lo, hi = epoch(2026, 1, 1), epoch(2028, 1, 1)
    assert person_windows(person, lo, hi) == list(available_intervals(zone, person.availability, lo, hi))


def test_person_windows_agree_with_the_oracle_across_a_clock_change():
    person = profile("p", "Australia/Lord_Howe", ("mon-fri", "00:00", "06:00"))
    lo, hi = epoch(2026, 10, 1), epoch(2026, 10, 8)
    got = person_windows(person, lo, hi)
    for t in range(lo, hi, 900):
        assert any(s <= t < e for s, e in got) == available_at(person, t)


def test_longest_common_stretch_sees_seasonal_overlap():
    # New York 09:00-10:00 and Amsterdam 14:00-15:00 only meet in March's three-week gap.
    a = profile("a", "America/New_York", ("mon-fri", "09:00", "10:00"))
    b = profile("b", "Europe/Amsterdam", ("mon-fri", "14:00", "15:00"))
    assert longest_common_stretch(a, b, epoch(2026, 1, 5)) == 3600
    assert longest_common_stretch(a, b, epoch(2026, 4, 5), period=150 * 86_400) == 0
    c = profile("c", "Pacific/Auckland", ("mon-fri", "09:00", "17:00"))
    assert longest_common_stretch(b, c, epoch(2026, 1, 5)) == 0


def _intervals(max_size=6):
    return st.lists(st.tuples(st.integers(0, 400), st.integers(1, 60)), max_size=max_size).map(
        lambda items: merge((a * 300, (a + n) * 300) for a, n in items))


@settings(max_examples=300, deadline=None)
@given(_intervals(), _intervals(), _intervals(3), st.sampled_from([15, 30, 45]), st.sampled_from([0, 15, 30]),
       st.integers(0, 200), st.integers(0, 200))
def test_direct_check_agrees_with_the_regions(avail_a, avail_b, blocked, duration, comfort, lo, width):
    # PairWindow.allows is a shortcut for "is this start in the comfortable/fitting regions".
    window = PairWindow.__new__(PairWindow)
    window.lo, window.hi = lo * 300, (lo + width) * 300
    window.rules = PlanningRules(duration_minutes=duration, comfort_minutes=comfort)
    window.avail_a, window.avail_b, window.blocked = avail_a, avail_b, blocked
    for margin in {0, comfort * 60}:
        regions = window._regions(margin)
        for s in range(0, 130_000, 900):
            assert window.allows(s, margin) == is_start(regions, s, 900), (s, margin)
