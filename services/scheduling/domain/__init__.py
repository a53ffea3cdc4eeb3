"""Pure scheduling domain: where mentoring meetings go, and the invites that announce them.

No I/O here; the service layer feeds in people (`shared.people.Participant`), existing meetings
and the clock.
"""

from shared.availability import Interval

from .busy import BusyCalendar
from .invites import (
    Invitee,
    MeetingInvite,
    ParsedInvite,
    build_invite,
    invite_uid,
    meeting_for_pair,
    parse_invite,
)
from .outcomes import Infeasible, PlannedOccurrence, Slot, Unplaceable
from .pairs import PairRequest, plan_pairs
from .planner import (
    find_alternatives,
    find_kickoff,
    find_occurrence,
    find_reschedule_slot,
    plan_series,
    plan_series_into,
    same_wall_clock,
)
from .rules import PlanningRules
from .slots import common_availability, fits_window

__all__ = [
    "BusyCalendar", "Infeasible", "Interval", "Invitee", "MeetingInvite", "PairRequest", "ParsedInvite",
    "PlannedOccurrence", "PlanningRules", "Slot", "Unplaceable", "build_invite", "common_availability",
    "find_alternatives", "find_kickoff", "find_occurrence", "find_reschedule_slot", "fits_window", "invite_uid",
    "meeting_for_pair", "parse_invite", "plan_pairs", "plan_series", "plan_series_into", "same_wall_clock",
]
