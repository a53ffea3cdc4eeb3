"""Availability expansion, checked against an independent minute-by-minute reading of zoneinfo."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.availability import (
    available_intervals,
    intersect,
    merge,
    offset_segments,
    subtract,
    total_seconds,
    weekly_overlap_hours,
)
from shared.contracts.profile import WEEKDAYS, AvailabilityWindow

ZONES = [
    "Europe/Amsterdam", "America/Sao_Paulo", "Asia/Kathmandu", "America/St_Johns",
    "Australia/Lord_Howe", "Pacific/Chatham", "Africa/Casablanca", "Asia/Kolkata",
    "America/New_York", "Australia/Sydney", "Pacific/Auckland", "UTC", "Asia/Tokyo",
]


def brute_force(zone: str, windows, start: int, end: int, step: int = 300) -> set[int]:
    """Sample instants every `step` seconds and keep those inside a window on the local wall clock."""
    tz = ZoneInfo(zone)
    keep = set()
    for t in range(start, end, step):
        local = datetime.fromtimestamp(t, tz)
        minute = local.hour * 60 + local.minute
        today, yesterday = WEEKDAYS[local.weekday()], WEEKDAYS[(local.weekday() - 1) % 7]
        for w in windows:
            if today in w.days and w.start_minute <= minute < w.end_minute:
                keep.add(t)
            elif w.end_minute > 1440 and yesterday in w.days and minute < w.end_minute - 1440:
                keep.add(t)
    return keep


def sampled(intervals, start: int, end: int, step: int = 300) -> set[int]:
    return {t for t in range(start, end, step) if any(lo <= t < hi for lo, hi in intervals)}


def epoch(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_spring_forward_shortens_the_window():
    # Amsterdam moves 02:00 -> 03:00 on 2026-03-29 (Sunday): a 00:00-06:00 window lasts 5 hours.
    w = (AvailabilityWindow(days=("sun",), start="00:00", end="06:00"),)
    got = available_intervals("Europe/Amsterdam", w, epoch(2026, 3, 28), epoch(2026, 3, 30))
    assert total_seconds(got) == 5 * 3600


def test_fall_back_lengthens_the_window():
    w = (AvailabilityWindow(days=("sun",), start="00:00", end="06:00"),)
    got = available_intervals("Europe/Amsterdam", w, epoch(2026, 10, 24), epoch(2026, 10, 26))
    assert total_seconds(got) == 7 * 3600


def test_lord_howe_half_hour_shift():
    # Lord Howe moves from +10:30 to +11 on 2026-10-04 at 02:00 local.
    w = (AvailabilityWindow(days=("sun",), start="00:00", end="06:00"),)
    got = available_intervals("Australia/Lord_Howe", w, epoch(2026, 10, 2), epoch(2026, 10, 6))
    assert total_seconds(got) == int(5.5 * 3600)


def test_kathmandu_quarter_hour_offset():
    w = (AvailabilityWindow(days=("mon",), start="09:00", end="10:00"),)
    got = available_intervals("Asia/Kathmandu", w, epoch(2026, 6, 1), epoch(2026, 6, 2))
    assert got == ((epoch(2026, 6, 1, 3, 15), epoch(2026, 6, 1, 4, 15)),)


def test_overnight_window_belongs_to_its_start_day():
    w = (AvailabilityWindow(days=("fri",), start="22:00", end="02:00"),)
    got = available_intervals("UTC", w, epoch(2026, 6, 1), epoch(2026, 6, 8))
    assert got == ((epoch(2026, 6, 5, 22), epoch(2026, 6, 6, 2)),)


def test_offset_segments_find_transitions_to_the_second():
    segs = offset_segments("America/New_York", epoch(2026, 3, 1), epoch(2026, 4, 1))
    assert [s[2] for s in segs] == [-5 * 3600, -4 * 3600]
    assert segs[0][1] == epoch(2026, 3, 8, 7)


def test_weekly_overlap_counts_hours_across_zones():
    nine_to_five = (AvailabilityWindow(days=("mon", "tue", "wed", "thu", "fri"), start="09:00", end="17:00"),)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    # Amsterdam (UTC+2) and Sao Paulo (UTC-3): 09-17 vs 14-22 Amsterdam time -> 3 h a day.
    assert weekly_overlap_hours("Europe/Amsterdam", nine_to_five, "America/Sao_Paulo", nine_to_five, at) == 15


def test_interval_algebra():
    a = merge([(0, 10), (5, 15), (20, 30)])
    assert a == [(0, 15), (20, 30)]
    assert intersect(a, [(12, 25)]) == [(12, 15), (20, 25)]
    assert subtract(a, [(2, 4), (14, 21)]) == [(0, 2), (4, 14), (21, 30)]


def test_window_validation():
    with pytest.raises(ValueError):
        AvailabilityWindow(days=("mon",), start="09:00", end="09:00")
    with pytest.raises(ValueError):
        AvailabilityWindow(days=("mon",), start="9am", end="17:00")
    with pytest.raises(ValueError):
        AvailabilityWindow(days=(), start="09:00", end="17:00")


clock = st.integers(0, 95).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")
window = st.builds(
    lambda days, s, e: AvailabilityWindow(days=tuple(days), start=s, end=e),
    st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    clock,
    clock,
).filter(lambda w: True)


@st.composite
def windows(draw):
    items = []
    for _ in range(draw(st.integers(1, 3))):
        days = tuple(draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)))
        s, e = draw(clock), draw(clock)
        if s == e:
            continue
        items.append(AvailabilityWindow(days=days, start=s, end=e))
    return tuple(items) or (AvailabilityWindow(days=("mon",), start="09:00", end="17:00"),)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    ws=windows(),
    day=st.integers(0, 365 * 4),
)
def test_matches_an_independent_zoneinfo_reading(zone, ws, day):
    start = epoch(2024, 1, 1) + day * 86400
    end = start + 3 * 86400
    got = available_intervals(zone, ws, start, end)
    assert sampled(got, start, end) == brute_force(zone, ws, start, end)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from([z for z in ZONES if z not in ("UTC", "Asia/Kolkata", "Asia/Tokyo", "Asia/Kathmandu")]),
    ws=windows(),
    year=st.integers(2024, 2029),
    which=st.integers(0, 3),
    lead_hours=st.integers(0, 47),
)
def test_matches_zoneinfo_around_transitions(zone, ws, year, which, lead_hours):
    segments = offset_segments(zone, epoch(year, 1, 1), epoch(year + 1, 1, 1))
    transitions = [s[0] for s in segments[1:]]
    if not transitions:
        return
    start = transitions[which % len(transitions)] - lead_hours * 3600
    end = start + 3 * 86400
    assert sampled(available_intervals(zone, ws, start, end), start, end) == brute_force(zone, ws, start, end)


def test_a_whole_day_window():
    w = (AvailabilityWindow(days=("sat",), start="00:00", end="24:00"),)
    got = available_intervals("UTC", w, epoch(2026, 6, 1), epoch(2026, 6, 8))
    assert got == ((epoch(2026, 6, 6), epoch(2026, 6, 7)),)
