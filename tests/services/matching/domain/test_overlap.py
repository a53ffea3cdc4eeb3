"""The overlap used by the hard rule equals shared.availability's exact interval computation."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain import MatchIndex, MatchSettings, solve_cohort
from services.matching.domain.overlap import WEEK, MeetingStarts, OverlapTable
from services.scheduling.domain.busy import BusyCalendar
from services.scheduling.domain.rules import PlanningRules
from services.scheduling.domain.slots import PairWindow, first_start
from shared.availability import available_intervals, longest_common_window, weekly_overlap_hours
from shared.contracts.profile import WEEKDAYS
from shared.people import Window

from .oracle import mentor, person

ZONES = ["UTC", "Europe/Amsterdam", "America/New_York", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham",
         "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Tokyo", "Africa/Casablanca"]


@st.composite
def windows(draw):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
        start = draw(st.integers(0, 1439))  # any minute, not only quarter hours
        length = draw(st.integers(1, 16 * 60))
        end = (start + length) % 1440
        if end == start:
            end = (end + 1) % 1440
        out.append(Window(days=tuple(days), start=f"{start // 60:02d}:{start % 60:02d}",
                                      end=f"{end // 60:02d}:{end % 60:02d}" if end else "24:00"))
    return tuple(out)


classes = st.tuples(st.sampled_from(ZONES), windows())
instants = st.integers(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
                       int(datetime(2027, 12, 31, tzinfo=UTC).timestamp()))


@settings(max_examples=60, deadline=None)
@given(st.lists(classes, min_size=1, max_size=6), classes, instants, st.integers(0, WEEK - 1))
def test_table_overlap_is_exactly_the_interval_computation(keys, query, start, shift):
    # The table covers [start, start + 2 weeks); the query week starts anywhere inside its first week.
    at = start + shift
    table = OverlapTable(keys, start, start + 2 * WEEK)
    mine = available_intervals(query[0], query[1], at, at + WEEK)
    got = table.overlap_seconds(mine)
    many = table.overlap_seconds_many([mine, mine])
    moment = datetime.fromtimestamp(at, UTC)
    for c, (zone, wins) in enumerate(keys):
        expected = weekly_overlap_hours(query[0], query[1], zone, wins, moment)
        assert got[c] / 3600 == expected  # the very quantity the hard rule compares
        assert many[0, c] / 3600 == many[1, c] / 3600 == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(classes, min_size=1, max_size=5), st.lists(st.one_of(classes, st.none()), min_size=1, max_size=6),
       instants)
def test_many_queries_at_once_equal_one_at_a_time(keys, queries, at):
    table = OverlapTable(keys, at, at + WEEK)
    asked = [available_intervals(q[0], q[1], at, at + WEEK) if q else () for q in queries]  # None: no time at all
    many = table.overlap_seconds_many(asked)
    assert many.shape == (len(asked), len(keys))
    for row, intervals in zip(many, asked):
        assert row.tolist() == table.overlap_seconds(intervals).tolist()


@settings(max_examples=30, deadline=None)
@given(st.lists(classes, min_size=1, max_size=5), st.lists(classes, min_size=1, max_size=3), instants)
def test_query_boundaries_folded_into_the_table_change_nothing(keys, queries, at):
    plain = OverlapTable(keys, at, at + WEEK)
    folded = OverlapTable(keys, at, at + WEEK, query_keys=queries)
    for zone, wins in queries:
        mine = available_intervals(zone, wins, at, at + WEEK)
        assert (plain.overlap_seconds(mine) == folded.overlap_seconds(mine)).all()


def _dst_pair(zone: str, days: tuple[str, ...], local: str, utc: str):
    """A mentee in `zone` and a mentor in UTC whose 1-hour windows coincide on standard time."""
    end = lambda hhmm: f"{int(hhmm[:2]) + 1:02d}:{hhmm[3:]}"  # noqa: E731
    mentee = person("e", timezone=zone, windows=[{"days": list(days), "start": local, "end": end(local)}])
    coach = mentor("m", timezone="UTC", windows=[{"days": list(days), "start": utc, "end": end(utc)}])
    return mentee, coach


def test_spring_forward_inside_the_week_drops_an_hour_and_the_pair():
    # Amsterdam goes CET -> CEST on Sunday 2026-03-29. Mentee Fri+Mon 09:00-10:00 local, mentor 08:00-09:00 UTC:
    # on standard time both Fridays and Mondays coincide (2 h); after the change the Monday no longer does.
    mentee, coach = _dst_pair("Europe/Amsterdam", ("fri", "mon"), "09:00", "08:00")
    before, across = datetime(2026, 3, 19, tzinfo=UTC), datetime(2026, 3, 26, tzinfo=UTC)
    assert weekly_overlap_hours(mentee.timezone, mentee.availability, "UTC", coach.availability, before) == 2
    assert weekly_overlap_hours(mentee.timezone, mentee.availability, "UTC", coach.availability, across) == 1

    for at, matched in ((before, True), (across, False)):
        result = solve_cohort([mentee], [coach], at=at)
        assert bool(result.pairs) is matched
        index = MatchIndex()
        index.upsert(mentee), index.upsert(coach)
        outcome = index.best_mentor("e", at=at)
        assert (getattr(outcome, "mentor_id", None) == "m") is matched
    assert result.unmatched[0].reason_code == "no_overlap"
    assert outcome.reason_code == "no_overlap"


def test_fall_back_inside_the_week_adds_an_hour_and_the_pair():
    # New York goes EDT -> EST on Sunday 2026-11-01. Mentee Fri+Mon 09:00-10:00 local (13:00 UTC on EDT,
    # 14:00 on EST); mentor 14:00-15:00 UTC: only the Monday after the change coincides.
    mentee, coach = _dst_pair("America/New_York", ("fri", "mon"), "09:00", "14:00")
    before, across = datetime(2026, 10, 22, 12, 0, tzinfo=UTC), datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
    hours = lambda at: weekly_overlap_hours("America/New_York", mentee.availability, "UTC", coach.availability, at)  # noqa: E731
    assert (hours(before), hours(across)) == (0, 1)
    strict = MatchSettings(min_overlap_hours=1)
    assert not solve_cohort([mentee], [coach], at=before, settings=strict).pairs
    (pair,) = solve_cohort([mentee], [coach], at=across, settings=strict).pairs
    assert pair.explanation["facts"]["overlap_hours"] == 1


def test_on_demand_overlap_is_exact_for_any_moment_across_weeks():
    mentee = person("e", timezone="Asia/Kathmandu",
                    windows=[{"days": ["mon", "wed", "sat"], "start": "18:10", "end": "23:50"}])
    coaches = [mentor(f"m{i}", timezone=zone, windows=[{"days": ["mon", "tue", "wed", "sat", "sun"],
                                                        "start": start, "end": end}])
               for i, (zone, start, end) in enumerate([("Europe/Amsterdam", "12:05", "20:00"),
                                                       ("America/St_Johns", "07:00", "11:30"),
                                                       ("Pacific/Chatham", "22:00", "04:00")])]
    index = MatchIndex(MatchSettings(min_overlap_hours=0))
    for p in (mentee, *coaches):
        index.upsert(p)
    start = datetime(2026, 3, 20, 7, 13, 29, tzinfo=UTC)
    for step in range(0, 24 * 20, 17):  # hourly-ish steps over 20 days: several weekly horizons
        at = start + timedelta(hours=step)
        ranked = index.ranked_mentors("e", at=at, limit=3)
        assert len(ranked) == 3
        for pair in ranked:
            coach = next(c for c in coaches if c.participant_id == pair.mentor_id)
            expected = weekly_overlap_hours("Asia/Kathmandu", mentee.availability, coach.timezone,
                                            coach.availability, at)
            assert pair.explanation["facts"]["overlap_hours"] == round(expected, 4)


# --- one stretch long enough for a meeting (hours spread thin cannot hold a kickoff) ---

MARCH = datetime(2027, 3, 22, 7, 30, tzinfo=UTC)  # Sydney on AEDT (+11), St John's on NDT (-2:30)
DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _sydney_st_johns(n: int = 3):
    """n mentees in Sydney (08:00-10:00 = 21:00-23:00 UTC) and n mentors in St John's (18:00-19:00 =
    20:30-21:30 UTC): 30 minutes in common every day, 3.5 h a week, every other rule satisfied."""
    mentees = [person(f"e{i}", timezone="Australia/Sydney", windows=[{"days": DAILY, "start": "08:00", "end": "10:00"}])
               for i in range(n)]
    coaches = [mentor(f"m{i}", timezone="America/St_Johns", windows=[{"days": DAILY, "start": "18:00", "end": "19:00"}])
               for i in range(n)]
    return mentees, coaches


def test_sydney_st_johns_pairs_with_enough_hours_but_no_meeting_length_stretch_are_refused():
    mentees, coaches = _sydney_st_johns()
    e, m = mentees[0], coaches[0]
    assert weekly_overlap_hours(e.timezone, e.availability, m.timezone, m.availability, MARCH) == 3.5  # ≥ 2 h
    assert longest_common_window(e.timezone, e.availability, m.timezone, m.availability, MARCH) == 30 * 60

    result = solve_cohort(mentees, coaches, at=MARCH)
    assert result.pairs == []
    assert result.stats["unmatched_by_reason"] == {"no_meeting_window": 3}
    why = result.unmatched[0]
    assert why.params == {"meeting_minutes": 45, "compatible": 3}
    assert why.reason == ("no mentor with a 45-minute stretch in common this week (3 mentors have ≥ 2 h overlap, "
                          "only in shorter stretches)")

    index = MatchIndex()
    for p in (*mentees, *coaches):
        index.upsert(p)
    for mentee in mentees:
        outcome = index.best_mentor(mentee.participant_id, at=MARCH)
        assert outcome.reason_code == "no_meeting_window" and outcome.params == why.params
        assert index.ranked_mentors(mentee.participant_id, at=MARCH) == []


def test_a_program_with_half_hour_meetings_pairs_them():
    mentees, coaches = _sydney_st_johns()
    settings = MatchSettings(meeting_minutes=30)
    assert len(solve_cohort(mentees, coaches, at=MARCH, settings=settings).pairs) == 3
    index = MatchIndex(settings)
    for p in (*mentees, *coaches):
        index.upsert(p)
    assert index.best_mentor("e0", at=MARCH).mentor_id in {"m0", "m1", "m2"}


def test_meeting_starts_follow_the_slot_step():
    # Common 21:05-21:55 UTC every day: 50 minutes, but on quarter hours only 21:15-21:55 (40) remain.
    mentee = person("e", windows=[{"days": DAILY, "start": "21:05", "end": "23:00"}])
    coach = mentor("m", windows=[{"days": DAILY, "start": "20:00", "end": "21:55"}])
    for step, matched in ((15, False), (5, True)):
        settings = MatchSettings(slot_minutes=step)
        assert bool(solve_cohort([mentee], [coach], at=MARCH, settings=settings).pairs) is matched


def _meets(query, key, at: int, duration: int, step: int) -> bool:
    return longest_common_window(query[0], query[1], key[0], key[1], datetime.fromtimestamp(at, UTC),
                                 step=step) >= duration


@settings(max_examples=60, deadline=None)
@given(st.lists(classes, min_size=1, max_size=5), st.lists(classes, min_size=1, max_size=3), instants,
       st.integers(0, WEEK - 1), st.sampled_from([15, 30, 45, 60, 90, 240]), st.sampled_from([1, 5, 15, 30]))
def test_meeting_table_agrees_with_the_longest_common_window(keys, queries, start, shift, minutes, step_minutes):
    duration, step = minutes * 60, step_minutes * 60
    starts = MeetingStarts(duration, step)
    # As the cohort round: one week, the queries' boundaries folded in, many queries at once.
    week = OverlapTable(keys, start, start + WEEK, query_keys=queries, intervals_of=starts)
    many = week.overlap_seconds_many([starts(q, start, start + WEEK) for q in queries])
    # As on demand: a two-week horizon, the query week anywhere inside its first week.
    at = start + shift
    horizon = OverlapTable(keys, start, start + 2 * WEEK, intervals_of=starts)
    for q, query in enumerate(queries):
        mine = starts.of(available_intervals(query[0], query[1], at, at + WEEK))
        on_demand = horizon.overlap_seconds(mine)
        for c, key in enumerate(keys):
            assert bool(many[q, c] > 0) is _meets(query, key, start, duration, step)
            assert bool(on_demand[c] > 0) is _meets(query, key, at, duration, step)


@settings(max_examples=40, deadline=None)
@given(classes, classes, instants, st.sampled_from([30, 45, 60]))
def test_the_rule_agrees_with_where_scheduling_can_place_the_meeting(mine, theirs, at, minutes):
    # Scheduling's own search (services/scheduling/domain/slots.py): a start on its 15-minute step,
    # the whole meeting inside both people's windows, within the matcher's week.
    mentee = person("e", timezone=mine[0], windows=[_window_dict(w) for w in mine[1]])
    coach = mentor("m", timezone=theirs[0], windows=[_window_dict(w) for w in theirs[1]])
    rules = PlanningRules(duration_minutes=minutes)
    window = PairWindow(coach, mentee, at, at + WEEK - rules.duration, rules, BusyCalendar())
    schedulable = first_start(window.fitting, rules.granularity) is not None
    settings = MatchSettings(min_overlap_hours=0, meeting_minutes=minutes, slot_minutes=rules.granularity_minutes)
    moment = datetime.fromtimestamp(at, UTC)
    assert bool(solve_cohort([mentee], [coach], at=moment, settings=settings).pairs) is schedulable
    index = MatchIndex(settings)
    index.upsert(mentee), index.upsert(coach)
    assert (getattr(index.best_mentor("e", at=moment), "mentor_id", None) == "m") is schedulable


def _window_dict(w: Window) -> dict:
    return {"days": list(w.days), "start": w.start, "end": w.end}
