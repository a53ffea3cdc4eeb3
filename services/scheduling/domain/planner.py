"""Kickoff, recurring occurrences and reschedules for one mentor-mentee pair. Pure: no I/O.

Choices (see also PlanningRules):
- Kickoff: the first 15-minute-aligned start at least the minimum notice ahead that fits both
  windows, double-books neither person and is comfortable (a margin away from both people's window
  edges); when no comfortable start exists in the horizon, the first fitting one.
- Series, occurrence k: within +-tolerance of kickoff + (k-1) * cadence (exact instants), in this
  order of preference:
    1. the kickoff's wall-clock time of the mentor, then of the mentee, on the day of the target
       (a recurring meeting must not drift an hour when a clock changes; when both zones change
       together both keep it, when only one changes only one of them can), comfortable first;
    2. else the comfortable start closest to that time, else the fitting start closest to it.
  An occurrence with no possible start is reported as unplaceable and the series goes on.
- A pair whose windows never overlap for a whole meeting during the next 12 months (checked for
  every combination of the two clocks' offsets) is infeasible.
- Alternatives offered with a placed meeting (`find_alternatives`): other starts of the same
  length after it, one per day of the mentor's calendar at the time closest to the meeting's own
  wall-clock time, the days after the meeting first; see the function.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from zoneinfo import ZoneInfo

from shared.availability import DAY, Interval, from_epoch, to_epoch
from shared.people import Participant

from .busy import BusyCalendar
from .describe import clock_gap_note, pair_text, utc_text
from .outcomes import Infeasible, PlannedOccurrence, Slot, Unplaceable
from .rules import PlanningRules
from .slots import PairWindow, PersonWindows, closest_start, first_start, longest_common_stretch, windows_of

DEFAULT_RULES = PlanningRules()
_NO_BUSY: Mapping[str, Sequence[Interval]] = {}
_YEAR = 366 * DAY
_NEAR = 4 * DAY  # looked at first for a kickoff or a reschedule (`_first_slot`)
_NEAR_OFFER = 8 * DAY  # and for the alternatives offered with a meeting (`find_alternatives`)
Pair = tuple[PersonWindows, PersonWindows]
_start = itemgetter(0)
_end = itemgetter(1)


def _why_none(window: PairWindow, *, reference: int | None = None) -> Unplaceable:
    """Plain-words reason why `window` holds no possible start."""
    rules, lo, hi = window.rules, window.lo, window.hi
    span = f"between {utc_text(lo)} and {utc_text(hi + rules.duration)}"
    who = pair_text(window.a, window.b)
    if window.fitting_ignoring_busy:
        return Unplaceable(
            f"every {rules.duration_minutes}-minute slot both can make {span} clashes with their other "
            f"meetings (kept {rules.buffer_minutes} minutes apart)", "fully_booked")
    note = clock_gap_note(window.a, window.b, reference, lo)
    if window.common_raw():
        return Unplaceable(
            f"{span} both are available only in stretches shorter than the {rules.duration_minutes}-minute "
            f"meeting ({who}){note}", "overlap_too_short")
    return Unplaceable(f"{span} there is no time when both are available ({who}){note}", "no_common_window")


def _first_slot(mentor: Participant, mentee: Participant, lo: int, rules: PlanningRules,
                busy: BusyCalendar, windows: Pair | None = None) -> tuple[int, bool] | Unplaceable:
    """First start in [lo, lo + horizon]: comfortable if any, else any fitting one."""
    hi = lo + rules.horizon
    if hi > lo + _NEAR:
        # The regions of a shorter window are those of the whole one cut at its end (both see each
        # person's real window edges and every meeting in reach), so a comfortable start in the
        # first days is the first of the whole horizon; most pairs have one, and the rest of the
        # horizon is worked out only for those that do not.
        near = PairWindow(mentor, mentee, lo, lo + _NEAR, rules, busy, windows=windows)
        start = first_start(near.comfortable, rules.granularity)
        if start is not None:
            return start, True
    window = PairWindow(mentor, mentee, lo, hi, rules, busy, windows=windows)
    start = first_start(window.comfortable, rules.granularity)
    if start is not None:
        return start, True
    start = first_start(window.fitting, rules.granularity)
    if start is not None:
        return start, False
    return _why_none(window)


def _kickoff(mentor: Participant, mentee: Participant, earliest: int, rules: PlanningRules,
             busy: BusyCalendar, windows: Pair | None = None) -> tuple[int, bool] | Unplaceable | Infeasible:
    found = _first_slot(mentor, mentee, earliest, rules, busy, windows)
    if not isinstance(found, Unplaceable):
        return found
    longest = longest_common_stretch(mentor, mentee, earliest, period=_YEAR, enough=rules.duration,
                                     step=rules.granularity)
    if longest == 0 and not longest_common_stretch(mentor, mentee, earliest, period=_YEAR, enough=1):
        return Infeasible(f"their availability never overlaps: {pair_text(mentor, mentee)}", "never_overlap")
    if longest < rules.duration:
        usable = (f"by at most {longest // 60} minutes at a time" if longest >= 60
                  else f"only for moments, never from a {rules.granularity_minutes}-minute mark")
        return Infeasible(
            f"their availability overlaps {usable}, too short for the {rules.duration_minutes}-minute meeting: "
            f"{pair_text(mentor, mentee)}", "overlap_too_short")
    if found.reason_code in ("no_common_window", "overlap_too_short"):
        return Unplaceable(
            f"no {rules.duration_minutes}-minute slot both can make in the {rules.kickoff_horizon_days} days "
            f"from {utc_text(earliest)}; their availability only overlaps at other times of the year "
            f"({pair_text(mentor, mentee)})", "no_overlap_in_horizon")
    return found


def find_kickoff(mentor: Participant, mentee: Participant, *, now: datetime,
                 rules: PlanningRules = DEFAULT_RULES,
                 busy: Mapping[str, Sequence[Interval]] | BusyCalendar = _NO_BUSY) -> Slot | Unplaceable | Infeasible:
    """The first good slot at least `rules.min_notice_hours` after `now` (see module docstring)."""
    earliest = to_epoch(now) + rules.notice
    calendar = _busy_of(busy, mentor, mentee)
    # As for the alternatives (see find_alternatives): the pairs of a wave that are alike, planned
    # within the same second, get the same kickoff. Only found slots are kept.
    key = _pair_key(mentor, mentee, calendar, earliest, rules)
    kept = _KICKOFFS.get(key)
    if kept is None:
        found = _kickoff(mentor, mentee, earliest, rules, calendar)
        if isinstance(found, (Unplaceable, Infeasible)):
            return found
        kept = found
        _keep(_KICKOFFS, key, kept)
    return Slot.from_epoch(kept[0], kept[0] + rules.duration)


def find_reschedule_slot(mentor: Participant, mentee: Participant, *, after: datetime,
                         rules: PlanningRules = DEFAULT_RULES,
                         busy: Mapping[str, Sequence[Interval]] | BusyCalendar = _NO_BUSY,
                         now: datetime | None = None) -> Slot | Unplaceable:
    """The next good slot from `after` (and, when `now` is given, at least the minimum notice ahead),
    searched like a kickoff over `rules.kickoff_horizon_days`."""
    lo = to_epoch(after)
    if now is not None:
        lo = max(lo, to_epoch(now) + rules.notice)
    found = _first_slot(mentor, mentee, lo, rules, _busy_of(busy, mentor, mentee))
    if isinstance(found, Unplaceable):
        return found
    return Slot.from_epoch(found[0], found[0] + rules.duration)


@lru_cache(maxsize=1024)
def zone_named(name: str) -> ZoneInfo:
    """ZoneInfo objects kept alive: ZoneInfo's own cache only holds a few strongly."""
    return ZoneInfo(name)


def same_wall_clock(reference: int, target: int, zone: ZoneInfo) -> int | None:
    """The instant with `reference`'s local time of day, on the local day nearest to `target`.

    None when that wall-clock time does not exist on that day (skipped by a clock change).
    """
    local = datetime.fromtimestamp(reference, zone)
    day = local.date() + timedelta(days=round((target - reference) / DAY))
    return _wall_clock_on(zone, day, local.time(), local.fold)


# Memoised zoneinfo conversions. Keyed by zone and local date (and time of day), never by a UTC
# offset, and each value is worked out by zoneinfo itself, so a clock change in between is always
# seen. Bounded: a wave plans its pairs on a few dozen days of a few dozen zones.
@lru_cache(maxsize=16_384)
def _wall_clock_on(zone: ZoneInfo, day: date, clock: time, fold: int) -> int | None:
    """The instant at local `clock` on `day` in `zone`; None when a clock change skips it. `fold` is
    part of the key because `time` compares equal across folds."""
    wanted = datetime.combine(day, clock.replace(fold=fold), tzinfo=zone)
    instant = int(wanted.timestamp())
    if datetime.fromtimestamp(instant, zone).replace(tzinfo=None) != wanted.replace(tzinfo=None):
        return None
    return instant


@lru_cache(maxsize=16_384)
def _midnight(zone: ZoneInfo, day: date) -> int:
    """The first instant of local `day` in `zone`."""
    return int(datetime.combine(day, time(), tzinfo=zone).timestamp())


def _occurrence(mentor: Participant, mentee: Participant, target: int, rules: PlanningRules,
                busy: BusyCalendar, not_before: int | None, reference: int | None, windows: Pair | None = None
                ) -> tuple[int, bool, tuple[str, ...]] | Unplaceable:
    """(start, comfortable, ids keeping their wall-clock time) or why there is none."""
    lo, hi = target - rules.tolerance, target + rules.tolerance
    if not_before is not None and not_before > lo:
        lo = not_before
    if lo > hi:
        return Unplaceable(
            f"this occurrence's window ({utc_text(target)} +-{rules.tolerance_days} days) is over before the "
            f"earliest allowed start ({utc_text(lo)}: the previous meeting's end or the minimum notice)",
            "no_room_after_previous")
    window = PairWindow(mentor, mentee, lo, hi, rules, busy, windows=windows)
    step = rules.granularity
    kept: list[tuple[str, int]] = []
    if reference is not None:
        for person in (mentor, mentee):
            instant = same_wall_clock(reference, target, zone_named(person.timezone))
            if instant is not None:
                kept.append((person.participant_id, instant))

    def keeping(start: int) -> tuple[str, ...]:
        return tuple(pid for pid, instant in kept if instant == start)

    # Comfortable before merely fitting; all regions are only worked out when no kept time works.
    for comfortable in (True, False):
        margin = rules.comfort if comfortable else 0
        for _, instant in kept:
            if window.allows(instant, margin):
                return instant, comfortable, keeping(instant)
    aim = kept[0][1] if kept else target
    for comfortable in (True, False):
        start = closest_start(window.comfortable if comfortable else window.fitting, aim, step)
        if start is not None:
            return start, comfortable, keeping(start)
    return _why_none(window, reference=reference)


def find_occurrence(mentor: Participant, mentee: Participant, *, target: datetime,
                    rules: PlanningRules = DEFAULT_RULES,
                    busy: Mapping[str, Sequence[Interval]] | BusyCalendar = _NO_BUSY,
                    not_before: datetime | None = None,
                    preferred_local_time: datetime | None = None) -> Slot | Unplaceable:
    """A slot within +-tolerance of `target` (never before `not_before`).

    `preferred_local_time` is an earlier meeting of the series (normally the kickoff): each person's
    wall-clock time of that meeting is tried first (mentor, then mentee), see the module docstring.
    """
    found = _occurrence(mentor, mentee, to_epoch(target), rules, _busy_of(busy, mentor, mentee),
                        None if not_before is None else to_epoch(not_before),
                        None if preferred_local_time is None else to_epoch(preferred_local_time))
    if isinstance(found, Unplaceable):
        return found
    return Slot.from_epoch(found[0], found[0] + rules.duration)


def plan_series(mentor: Participant, mentee: Participant, *, start: datetime, occurrences: int,
                rules: PlanningRules = DEFAULT_RULES,
                busy: Mapping[str, Sequence[Interval]] | BusyCalendar = _NO_BUSY
                ) -> list[PlannedOccurrence] | Infeasible:
    """Kickoff (at least the minimum notice after `start`) plus occurrences 2..N.

    `busy` is not modified; add the returned slots to your own records.
    """
    return plan_series_into(mentor, mentee, start=to_epoch(start), occurrences=occurrences, rules=rules,
                            busy=_busy_of(busy, mentor, mentee))


def plan_series_into(mentor: Participant, mentee: Participant, *, start: int, occurrences: int,
                     rules: PlanningRules, busy: BusyCalendar) -> list[PlannedOccurrence] | Infeasible:
    """As plan_series on epoch seconds, adding every placed meeting to `busy` (for bulk planning)."""
    if occurrences < 1:
        raise ValueError("occurrences must be at least 1")
    earliest = start + rules.notice
    windows = (windows_of(mentor.timezone, mentor.availability), windows_of(mentee.timezone, mentee.availability))
    kickoff = _kickoff(mentor, mentee, earliest, rules, busy, windows)
    if isinstance(kickoff, Infeasible):
        return kickoff
    planned: list[PlannedOccurrence] = []
    ids = (mentor.participant_id, mentee.participant_id)
    if isinstance(kickoff, Unplaceable):
        # No anchor: later occurrences aim at the earliest allowed start plus the cadence.
        anchor, reference, not_before = earliest, None, earliest
        planned.append(PlannedOccurrence(1, from_epoch(earliest), kickoff))
    else:
        anchor, comfortable = kickoff
        reference, not_before = anchor, anchor + rules.duration
        planned.append(PlannedOccurrence(1, from_epoch(earliest), Slot.from_epoch(anchor, not_before),
                                         kept_wall_clock=ids, comfortable=comfortable))
        for pid in ids:
            busy.add(pid, (anchor, not_before))
    for number in range(2, occurrences + 1):
        target = anchor + (number - 1) * rules.cadence
        found = _occurrence(mentor, mentee, target, rules, busy, not_before, reference, windows)
        if isinstance(found, Unplaceable):
            planned.append(PlannedOccurrence(number, from_epoch(target), found))
            continue
        begin, comfortable, kept = found
        not_before = begin + rules.duration
        planned.append(PlannedOccurrence(number, from_epoch(target), Slot.from_epoch(begin, not_before),
                                         kept_wall_clock=kept, comfortable=comfortable))
        for pid in ids:
            busy.add(pid, (begin, not_before))
    return planned


MAX_ALTERNATIVES = 5  # meeting.scheduled/rescheduled carry at most 5 (the contract's limit)
MIN_ALTERNATIVES = 3


def find_alternatives(mentor: Participant, mentee: Participant, meeting: Slot, *, until: datetime,
                      rules: PlanningRules = DEFAULT_RULES,
                      busy: Mapping[str, Sequence[Interval]] | BusyCalendar = _NO_BUSY,
                      now: datetime | None = None, most: int = MAX_ALTERNATIVES,
                      least: int = MIN_ALTERNATIVES) -> list[datetime]:
    """Other starts for a meeting at `meeting`, offered to whoever cannot make it; sorted, UTC.

    Each is a start of a meeting of the same length, after the meeting's own start and no later
    than `until`, at least the minimum notice after `now` (when given), inside both people's
    windows on their own clocks (DST included), and keeping the buffer from both people's other
    meetings (`busy`), from the meeting itself and from each other; so taking any one of them
    double-books nobody. Chosen in two passes:

    1. spread over days: for each day of the mentor's calendar after the meeting's own day, the
       start closest to the meeting's wall-clock time of the mentor (a comfortable one before one
       squeezed against the edge of someone's day), until there are `most`;
    2. when that gave fewer than `least` (few days with room), the earliest remaining starts from
       the meeting itself on, the same day included, until there are `least`.

    Fewer than `least` only when fewer such starts exist up to `until` (none for a pair whose
    windows do not meet again in that time).
    """
    duration = meeting.end - meeting.start
    minutes = int(duration.total_seconds()) // 60
    if minutes != rules.duration_minutes:
        rules = rules.model_copy(update={"duration_minutes": minutes})
    start, (own_lo, own_hi) = to_epoch(meeting.start), meeting.interval
    lo, hi = start, to_epoch(until)
    if now is not None:
        lo = max(lo, to_epoch(now) + rules.notice)
    if lo > hi or most <= 0:
        return []
    calendar = _busy_of(busy, mentor, mentee)
    # Pairs whose people share zone and hours and whose calendars hold the same meetings (a cohort's
    # new pairs, each kickoff at the same time) are offered the same starts: the choice depends on
    # nothing else, so it is kept (bounded; zones and hours are in the key, not offsets or dates).
    key = _pair_key(mentor, mentee, calendar, own_lo, own_hi, lo, hi, rules, most, least)
    chosen = _OFFERED.get(key)
    if chosen is None:
        chosen = tuple(_choose(mentor, mentee, (own_lo, own_hi), lo, hi, rules, calendar, most, least))
        _keep(_OFFERED, key, chosen)
    return [from_epoch(s) for s in chosen]


# Answers kept for pairs alike (find_kickoff, find_alternatives): at most this many each, the oldest
# dropped first. Keys hold the two people's zones and hours (never an offset) and all they read.
_KEPT = 4096
_KICKOFFS: dict[tuple, tuple[int, bool]] = {}
_OFFERED: dict[tuple, tuple[int, ...]] = {}


def _pair_key(mentor: Participant, mentee: Participant, calendar: BusyCalendar, *rest: object) -> tuple:
    """What a search for this pair reads, less who they are: both people's zone and hours, their
    meetings in `calendar`, whether they are one person, and `rest`."""
    return (windows_of(mentor.timezone, mentor.availability), windows_of(mentee.timezone, mentee.availability),
            mentor.participant_id == mentee.participant_id, tuple(calendar.intervals(mentor.participant_id)),
            tuple(calendar.intervals(mentee.participant_id)), *rest)


def _keep(store: dict, key: tuple, value: object) -> None:
    store[key] = value
    if len(store) > _KEPT:
        store.pop(next(iter(store)), None)


def _choose(mentor: Participant, mentee: Participant, meeting: Interval, lo: int, hi: int, rules: PlanningRules,
            calendar: BusyCalendar, most: int, least: int) -> list[int]:
    """find_alternatives' two passes, on epoch seconds; `calendar` is private and gets the meeting."""
    d, step, gap = rules.duration, rules.granularity, rules.duration + rules.buffer
    start = meeting[0]
    for person in (mentor, mentee):
        calendar.add(person.participant_id, meeting)  # not onto the meeting they cannot make
    # The first days are worked out on their own (their regions are the whole span's, cut at their
    # end); most pairs have their alternatives there, the whole span is worked out for the others.
    near_hi = min(hi, lo + _NEAR_OFFER)
    near = PairWindow(mentor, mentee, lo, near_hi, rules, calendar)
    whole = near if near_hi == hi else None
    chosen: list[int] = []

    def clear(s: int) -> bool:
        return all(abs(s - c) >= gap for c in chosen)

    zone = zone_named(mentor.timezone)
    local = datetime.fromtimestamp(start, zone)
    first_day, clock = local.date(), local.time()
    for k in range(1, (hi - start) // DAY + 2):
        if len(chosen) >= most:
            break
        day = first_day + timedelta(days=k)
        day_lo = _midnight(zone, day)
        day_hi = _midnight(zone, day + timedelta(days=1)) - 1
        if day_lo > hi:
            break
        aim = _wall_clock_on(zone, day, clock, local.fold) or start + k * DAY
        if day_hi <= near_hi:
            window = near
        else:
            window = whole = whole or PairWindow(mentor, mentee, lo, hi, rules, calendar)
        for regions in (window.comfortable, window.fitting):
            found = closest_start(_inside(regions, day_lo, day_hi), aim, step)
            if found is not None and clear(found):
                chosen.append(found)
                break
    booked = 0
    while len(chosen) < min(least, most):
        for taken in chosen[booked:]:  # each one chosen keeps the others away, as a meeting would
            for person in (mentor, mentee):
                calendar.add(person.participant_id, (taken, taken + d))
        booked = len(chosen)
        window = PairWindow(mentor, mentee, lo, hi, rules, calendar)
        found = first_start(window.comfortable, step)
        if found is None:
            found = first_start(window.fitting, step)
        if found is None:
            break
        chosen.append(found)
    return sorted(chosen)


def _inside(regions: Sequence[Interval], lo: int, hi: int) -> list[Interval]:
    """The closed ranges of `regions` (sorted, disjoint) clipped to [lo, hi]; found by bisection."""
    i = bisect_left(regions, lo, key=_end)  # the first ending at or after lo
    j = bisect_right(regions, hi, key=_start)  # the first starting after hi
    return [(max(x, lo), min(y, hi)) for x, y in regions[i:j]]


def _busy_of(busy: Mapping[str, Sequence[Interval]] | BusyCalendar, *people: Participant) -> BusyCalendar:
    """A private calendar with just these people's meetings, so callers' data is never changed."""
    ids = {p.participant_id for p in people}
    if isinstance(busy, BusyCalendar):
        return BusyCalendar({pid: busy.intervals(pid) for pid in ids})
    return BusyCalendar({pid: busy.get(pid, ()) for pid in ids})
