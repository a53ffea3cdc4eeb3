"""Bulk planning for many pairs at once: the engine behind `tandem plan-meetings`.

Pairs are planned in the order given. One calendar of everyone's placed meetings is shared by all
pairs, so a mentor with four mentees (or anyone in several pairs) is never double-booked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from shared.availability import from_epoch, to_epoch
from shared.people import Participant

from .busy import BusyCalendar
from .outcomes import Infeasible, Slot
from .planner import DEFAULT_RULES, plan_series_into
from .rules import PlanningRules


@dataclass(frozen=True)
class PairRequest:
    relationship_id: str
    mentor: Participant
    mentee: Participant
    # None: the program default from the rules.
    cadence_days: int | None = None
    duration_minutes: int | None = None


def iso_utc(epoch_or_dt: int | datetime) -> str:
    moment = from_epoch(epoch_or_dt) if isinstance(epoch_or_dt, int) else epoch_or_dt
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_pairs(pairs: Iterable[PairRequest], *, start: datetime, occurrences: int,
               rules: PlanningRules = DEFAULT_RULES, busy: BusyCalendar | None = None) -> Iterator[dict]:
    """Rows for every pair, in input order:

    {"relationship_id", "occurrence", "start", "end"} for a placed meeting (UTC, ISO-8601 with Z),
    {"relationship_id", "occurrence", "unplaceable": True, "reason"} for an occurrence without a slot,
    {"relationship_id", "infeasible": True, "reason"} once for a pair that can never meet.

    `busy` (optional) holds meetings people already have; it receives every placed meeting.
    """
    begin = to_epoch(start)
    calendar = busy if busy is not None else BusyCalendar()
    per_pair_rules: dict[tuple[int | None, int | None], PlanningRules] = {}
    for pair in pairs:
        key = (pair.cadence_days, pair.duration_minutes)
        pair_rules = per_pair_rules.get(key)
        if pair_rules is None:
            overrides = {k: v for k, v in (("cadence_days", key[0]), ("duration_minutes", key[1])) if v is not None}
            pair_rules = PlanningRules.model_validate({**rules.model_dump(), **overrides})
            per_pair_rules[key] = pair_rules
        planned = plan_series_into(pair.mentor, pair.mentee, start=begin, occurrences=occurrences,
                                   rules=pair_rules, busy=calendar)
        if isinstance(planned, Infeasible):
            yield {"relationship_id": pair.relationship_id, "infeasible": True, "reason": planned.reason}
            continue
        for occurrence in planned:
            outcome = occurrence.outcome
            if isinstance(outcome, Slot):
                yield {"relationship_id": pair.relationship_id, "occurrence": occurrence.number,
                       "start": iso_utc(outcome.start), "end": iso_utc(outcome.end)}
            else:
                yield {"relationship_id": pair.relationship_id, "occurrence": occurrence.number,
                       "unplaceable": True, "reason": outcome.reason}
