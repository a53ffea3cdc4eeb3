"""Property tests: random zone pairs, windows, rules and existing meetings over 2025-2030.

Every claim of the planner is re-checked with the independent zoneinfo oracle: placed meetings lie
inside both windows, respect the notice, tolerance and buffers, the kickoff is the first good slot,
"unplaceable" and "infeasible" really mean no slot exists, and kept wall-clock times are real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.scheduling.domain import Infeasible, PlanningRules, Slot, Unplaceable, plan_series

from .oracle import DAYS, Grid, clashes, inside, local_clock, profile

ZONES = [
    "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kathmandu", "America/St_Johns", "Africa/Casablanca",
    "America/Sao_Paulo", "Australia/Sydney", "Pacific/Auckland", "America/New_York", "Europe/Amsterdam",
    "Asia/Kolkata", "Europe/London", "America/Chicago", "Asia/Tokyo", "UTC", "Africa/Lagos",
    "America/Santiago", "Asia/Tehran", "Australia/Eucla", "America/Havana", "Antarctica/Troll",
    "Pacific/Kiritimati", "Pacific/Pago_Pago",
]
SLOT_STEP = 15 * 60
DAY = 86_400
CODES = {"no_common_window", "overlap_too_short", "fully_booked", "no_overlap_in_horizon",
         "no_room_after_previous"}


def clock(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def windows(draw, unit: int = 5):
    days = tuple(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)))
    start = draw(st.integers(0, 1440 // unit - 1)) * unit
    length = draw(st.integers(60 // unit, 16 * 60 // unit)) * unit
    end = start + length
    return days, clock(start), clock(end if end == 1440 else end % 1440)


@st.composite
def people(draw, pid: str, unit: int = 5):
    zone = draw(st.sampled_from(ZONES))
    return profile(pid, zone, *draw(st.lists(windows(unit), min_size=1, max_size=2)))


rules_strategy = st.builds(
    PlanningRules,
    cadence_days=st.sampled_from([7, 14, 28]),
    tolerance_days=st.integers(0, 3),
    duration_minutes=st.sampled_from([30, 45, 60]),
    buffer_minutes=st.sampled_from([0, 15, 30]),
    comfort_minutes=st.sampled_from([0, 30, 60]),
    min_notice_hours=st.sampled_from([0, 24, 48]),
)
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 6, 30), timezones=st.just(UTC))
meetings = st.lists(st.tuples(st.integers(0, 60 * 288), st.integers(6, 36)), max_size=8)


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


class Checker:
    """Oracle view of one pair: which aligned starts fit, are comfortable, are free."""

    def __init__(self, mentor, mentee, rules: PlanningRules, lo: int, hi: int) -> None:
        self.mentor, self.mentee, self.rules = mentor, mentee, rules
        self.d, self.c, self.buffer = rules.duration_minutes * 60, rules.comfort_minutes * 60, rules.buffer_minutes * 60
        self.grid = Grid([mentor, mentee], lo - self.c - 300, hi + self.d + self.c + 300)

    def fits(self, s: int, margin: int = 0) -> bool:
        return all(self.grid.all_available(p.participant_id, s - margin, s + self.d + margin)
                   for p in (self.mentor, self.mentee))

    def good(self, s: int, busy: list[tuple[int, int]], comfortable: bool) -> bool:
        return self.fits(s, self.c if comfortable else 0) and not clashes(s, s + self.d, busy, self.buffer)

    def starts(self, lo: int, hi: int):
        return range(_ceil(lo, SLOT_STEP), hi + 1, SLOT_STEP)


def same_wall_clock(reference: int, days: int, zone: str) -> int | None:
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(reference, tz)
    wanted = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=tz)
    instant = int(wanted.timestamp())
    back = datetime.fromtimestamp(instant, tz)
    return instant if back.replace(tzinfo=None) == wanted.replace(tzinfo=None) else None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mentor=people("m"), mentee=people("e"), rules=rules_strategy, start=starts,
       occurrences=st.integers(1, 5), busy_m=meetings, busy_e=meetings)
def test_every_claim_of_a_series_holds_on_the_wall_clock(mentor, mentee, rules, start, occurrences, busy_m, busy_e):
    t0 = int(start.timestamp())
    busy = {
        "m": sorted((t0 + a * 300, t0 + (a + n) * 300) for a, n in busy_m),
        "e": sorted((t0 + a * 300, t0 + (a + n) * 300) for a, n in busy_e),
    }
    busy = {pid: _merged(items) for pid, items in busy.items()}
    given_busy = {pid: list(items) for pid, items in busy.items()}
    result = plan_series(mentor, mentee, start=start, occurrences=occurrences, rules=rules, busy=busy)
    assert busy == given_busy, "plan_series must not modify the caller's busy lists"

    earliest = t0 + int(rules.min_notice_hours * 3600)
    d, tol = rules.duration_minutes * 60, rules.tolerance_days * DAY
    event("infeasible" if isinstance(result, Infeasible) else
          f"kickoff {'placed' if isinstance(result[0].outcome, Slot) else 'unplaceable'}")
    if isinstance(result, Infeasible):
        assert result.reason_code in ("never_overlap", "overlap_too_short") and result.reason
        # The kickoff horizon alone already shows there is no fitting slot (a year is checked elsewhere).
        check = Checker(mentor, mentee, rules, earliest, earliest + rules.kickoff_horizon_days * DAY)
        assert not any(check.fits(s) for s in check.starts(earliest, earliest + rules.kickoff_horizon_days * DAY))
        return

    assert [o.number for o in result] == list(range(1, occurrences + 1))
    placed: dict[str, list[tuple[int, int]]] = {"m": list(busy["m"]), "e": list(busy["e"])}
    kickoff = result[0]
    anchor = None
    previous_end = earliest
    for occ in result:
        both_busy = placed["m"] + placed["e"]
        if occ.number == 1:
            lo, hi = earliest, earliest + rules.kickoff_horizon_days * DAY
        else:
            target = (anchor if anchor is not None else earliest) + (occ.number - 1) * rules.cadence_days * DAY
            assert int(occ.target.timestamp()) == target
            lo, hi = max(target - tol, previous_end), target + tol
        check = Checker(mentor, mentee, rules, lo, max(lo, hi))
        outcome = occ.outcome
        if isinstance(outcome, Unplaceable):
            assert outcome.reason and outcome.reason_code in CODES
            assert not any(check.good(s, both_busy, comfortable=False) for s in check.starts(lo, hi)), \
                f"occurrence {occ.number} reported unplaceable but the oracle finds a slot"
            continue
        assert isinstance(outcome, Slot)
        s, e = int(outcome.start.timestamp()), int(outcome.end.timestamp())
        assert outcome.start.tzinfo is not None and outcome.start.utcoffset() == timedelta(0)
        assert e - s == d and s % SLOT_STEP == 0
        assert s >= earliest, "minimum notice"
        assert lo <= s <= hi
        assert inside(mentor, s, e) and inside(mentee, s, e), "outside someone's window"
        assert not clashes(s, e, both_busy, rules.buffer_minutes * 60), "double booking"
        assert occ.comfortable == check.good(s, both_busy, comfortable=True)
        if occ.number == 1:
            anchor = s
            candidates = check.starts(lo, s - 1)
            assert not any(check.good(t, both_busy, comfortable=True) for t in candidates), "not the first"
            if not occ.comfortable:
                assert not any(check.good(t, both_busy, comfortable=True) for t in check.starts(lo, hi))
                assert not any(check.good(t, both_busy, comfortable=False) for t in candidates)
        else:
            assert abs(s - ((anchor if anchor is not None else earliest) + (occ.number - 1) * rules.cadence_days * DAY)) <= tol
            if not occ.comfortable and not occ.kept_wall_clock:
                # Comfort gives way only to keeping someone's wall-clock time (DST policy).
                assert not any(check.good(t, both_busy, comfortable=True) for t in check.starts(lo, hi))
            if isinstance(kickoff.outcome, Slot):
                for person in (mentor, mentee):
                    if person.participant_id in occ.kept_wall_clock:
                        assert local_clock(person, s) == local_clock(person, anchor)
                # DST policy: the mentor's own wall-clock time wins whenever it is a comfortable free slot.
                kept = same_wall_clock(anchor, (occ.number - 1) * rules.cadence_days, mentor.timezone)
                if kept is not None and lo <= kept <= hi and check.good(kept, both_busy, comfortable=True):
                    assert s == kept
        previous_end = e
        placed["m"].append((s, e))
        placed["e"].append((s, e))


def _merged(items):
    out = []
    for lo, hi in sorted(items):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mentor=people("m", unit=15), mentee=people("e", unit=15), start=starts)
def test_infeasible_means_no_slot_in_a_whole_year(mentor, mentee, start):
    rules = PlanningRules()
    result = plan_series(mentor, mentee, start=start, occurrences=1, rules=rules)
    if not isinstance(result, Infeasible):
        return
    # Edges are whole quarter hours here, so sampling every 15 minutes is exact.
    earliest = int(start.timestamp()) + rules.notice
    first = _ceil(earliest, SLOT_STEP)
    need = rules.duration_minutes // 15
    run = 0
    for t in range(first, earliest + 365 * DAY, SLOT_STEP):
        run = run + 1 if available_both(mentor, mentee, t) else 0
        assert run < need, f"oracle finds a {rules.duration_minutes}-minute common stretch ending {t}"


def available_both(a, b, t: int) -> bool:
    from .oracle import available_at

    return available_at(a, t) and available_at(b, t)
