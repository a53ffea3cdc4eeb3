"""Availability expansion, checked against an independent minute-by-minute reading of zoneinfo."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.availability import (
    available_intervals,
    intersect,
    longest_common_window,
    meeting_starts,
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


_spans = st.lists(st.tuples(st.integers(0, 200), st.integers(-5, 40)).map(lambda p: (p[0], p[0] + p[1])), max_size=12)


@given(_spans, _spans)
def test_intersect_is_the_common_points(a, b):
    """Exactly the points in both lists, as a merged list (read point by point)."""
    a, b = merge(a), merge(b)
    both = intersect(a, b)
    assert both == merge(both) and all(lo < hi for lo, hi in both)
    points = {t for lo, hi in both for t in range(lo, hi)}
    assert points == {t for lo, hi in a for t in range(lo, hi)} & {t for lo, hi in b for t in range(lo, hi)}
    assert intersect(b, a) == both and intersect(a, []) == [] == intersect([], b)


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


# --- the longest common window: can a whole meeting fit in one stretch both are available? ---

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUARTER = 15 * 60


def every_day(start: str, end: str, days=EVERY_DAY):
    return (AvailabilityWindow(days=days, start=start, end=end),)


def test_sydney_and_st_johns_share_hours_but_only_half_hour_stretches():
    # March 2027: Sydney on AEDT (+11), St John's on NDT (-2:30). 08:00-10:00 Sydney is 21:00-23:00 UTC,
    # 18:00-19:00 St John's is 20:30-21:30 UTC: 30 minutes a day, 3.5 h a week, never a 45-minute meeting.
    at = datetime(2027, 3, 22, 7, 30, tzinfo=UTC)
    sydney, st_johns = every_day("08:00", "10:00"), every_day("18:00", "19:00")
    assert weekly_overlap_hours("Australia/Sydney", sydney, "America/St_Johns", st_johns, at) == 3.5
    assert longest_common_window("Australia/Sydney", sydney, "America/St_Johns", st_johns, at) == 30 * 60
    assert longest_common_window("Australia/Sydney", sydney, "America/St_Johns", st_johns, at, step=QUARTER) == 30 * 60


def test_half_hour_and_quarter_hour_zones_counted_from_an_aligned_start():
    # January: St John's on NST (-3:30), Kathmandu +5:45. 23:30-01:00 St John's = 03:00-04:30 UTC;
    # 09:00-10:00 Kathmandu = 03:15-04:15 UTC: one hour in common, from 03:15, a quarter-hour step.
    at = datetime(2027, 1, 4, tzinfo=UTC)
    kathmandu, st_johns = every_day("09:00", "10:00", ("mon",)), every_day("23:30", "01:00", ("sun",))
    assert longest_common_window("Asia/Kathmandu", kathmandu, "America/St_Johns", st_johns, at, step=QUARTER) == 3600
    # On half-hour steps the first start is 03:30: only 45 minutes remain.
    assert longest_common_window("Asia/Kathmandu", kathmandu, "America/St_Johns", st_johns, at, step=1800) == 2700


def test_window_crossing_midnight_utc_is_one_stretch():
    # St John's (NDT, -2:30) 19:00-23:00 = 21:30-01:30 UTC; Tokyo (+9) 08:00-11:00 = 23:00-02:00 UTC (day before).
    at = datetime(2026, 6, 1, tzinfo=UTC)
    st_johns = every_day("19:00", "23:00", ("mon",))
    tokyo = every_day("08:00", "11:00", ("tue",))
    assert longest_common_window("America/St_Johns", st_johns, "Asia/Tokyo", tokyo, at) == int(2.5 * 3600)


def test_adjacent_windows_across_midnight_join():
    # 23:00-24:00 Monday and 00:00-01:00 Tuesday in UTC are one two-hour stretch, as is 23:00-01:00.
    at = datetime(2026, 6, 1, tzinfo=UTC)
    split = (AvailabilityWindow(days=("mon",), start="23:00", end="24:00"),
             AvailabilityWindow(days=("tue",), start="00:00", end="01:00"))
    assert longest_common_window("UTC", split, "UTC", every_day("23:00", "01:00", ("mon",)), at) == 2 * 3600


def test_dst_change_moves_a_window_out_of_a_long_enough_stretch():
    # Amsterdam 09:00-10:00 local against 07:30-09:00 UTC: on CET (+1) 08:00-09:00 UTC, the full hour;
    # from Sunday 2026-03-29 on CEST (+2) 07:00-08:00 UTC, only 07:30-08:00 in common.
    amsterdam, utc = every_day("09:00", "10:00"), every_day("07:30", "09:00")
    longest = lambda at: longest_common_window("Europe/Amsterdam", amsterdam, "UTC", utc, at)  # noqa: E731
    assert longest(datetime(2026, 3, 16, tzinfo=UTC)) == 3600  # before the change
    assert longest(datetime(2026, 3, 26, tzinfo=UTC)) == 3600  # across it: the days before still count
    assert longest(datetime(2026, 3, 30, tzinfo=UTC)) == 1800  # after it


def test_spring_forward_inside_a_window_keeps_it_one_stretch():
    # Amsterdam 01:00-05:00 on Sunday 2026-03-29 skips 02:00-03:00: 00:00-03:00 UTC, three contiguous hours.
    amsterdam = every_day("01:00", "05:00", ("sun",))
    at = datetime(2026, 3, 23, tzinfo=UTC)
    assert longest_common_window("Europe/Amsterdam", amsterdam, "UTC", every_day("00:00", "24:00"), at) == 3 * 3600


def test_no_common_time_is_zero():
    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert longest_common_window("UTC", every_day("09:00", "10:00"), "UTC", every_day("11:00", "12:00"), at) == 0
    # A stretch shorter than the way to the first aligned start also gives nothing.
    assert longest_common_window("UTC", every_day("09:01", "09:10"), "UTC", every_day("09:00", "10:00"), at,
                                 step=QUARTER) == 0


def test_meeting_starts_are_whole_aligned_steps():
    assert meeting_starts([(0, 3600)], 2700, QUARTER) == [(0, 1800)]  # starts 00:00 and 00:15
    assert meeting_starts([(60, 3600)], 2700, QUARTER) == [(900, 1800)]  # 00:01 start: first aligned is 00:15
    assert meeting_starts([(0, 2699)], 2700, QUARTER) == []  # a second short
    assert meeting_starts([(0, 2700)], 2700, QUARTER) == [(0, 900)]  # exactly one meeting
    assert meeting_starts([(0, 2700), (5000, 9000)], 2700) == [(0, 1), (5000, 6301)]  # step of a second
    # Short meetings on a long step: neighbouring start ranges join.
    assert meeting_starts([(0, 400), (850, 1300)], 300, 900) == [(0, 1800)]  # 00:00, then 00:15


def brute_longest(a_zone, a_windows, b_zone, b_windows, start: int, step: int) -> int:
    """Longest common stretch from a minute-by-minute zoneinfo reading, counted from an aligned start."""
    both = sorted(brute_force(a_zone, a_windows, start, start + 7 * 86_400, 60)
                  & brute_force(b_zone, b_windows, start, start + 7 * 86_400, 60))
    best, run_start = 0, None
    for k, t in enumerate(both):
        if run_start is None or t != both[k - 1] + 60:
            run_start = t
        first = -(-run_start // step) * step
        best = max(best, t + 60 - first)
    return best


minute_windows = st.lists(
    st.builds(lambda days, start, length: AvailabilityWindow(
        days=tuple(days), start=f"{start // 60:02d}:{start % 60:02d}",
        end=f"{(start + length) % 1440 // 60:02d}:{(start + length) % 60:02d}"),
        st.lists(st.sampled_from(EVERY_DAY), min_size=1, max_size=7, unique=True),
        st.integers(0, 1439), st.integers(1, 300)),
    min_size=1, max_size=2).map(tuple)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(ZONES), minute_windows, st.sampled_from(ZONES), minute_windows,
       st.sampled_from([(2026, 3, 26), (2026, 10, 22), (2026, 6, 1), (2027, 1, 4)]), st.integers(0, 1439),
       st.sampled_from([1, 60, QUARTER, 1800]))
def test_longest_common_window_matches_a_minute_reading(a_zone, a_w, b_zone, b_w, day, minute, step):
    # Weeks around the northern DST changes (and none); the week starts on a whole minute.
    at = datetime(*day, minute // 60, minute % 60, tzinfo=UTC)
    got = longest_common_window(a_zone, a_w, b_zone, b_w, at, step=step)
    assert got == brute_longest(a_zone, a_w, b_zone, b_w, int(at.timestamp()), step)
    # A meeting of the longest length fits, one a second longer does not, by the start ranges too.
    start = int(at.timestamp())
    a = available_intervals(a_zone, a_w, start, start + 7 * 86_400)
    b = available_intervals(b_zone, b_w, start, start + 7 * 86_400)
    for length, fits in ((got, got > 0), (got + 1, False)):
        if length > 0:
            common = intersect(meeting_starts(a, length, step), meeting_starts(b, length, step))
            assert bool(common) is fits
