"""Scheduling's aggregates: a pair's `Series` of meetings, each `Meeting` in it, and the `Reminder`s
that go with a meeting.

Methods guard the rules and return the events a change causes; handlers load, call, save and emit.
Every change to a meeting is announced with a calendar invite, so the methods that change one take
the two people (`People`) and build it. Every placement or move also offers other starts
(`alternatives`) for whoever cannot make it: `offer`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from shared.contracts import events as ev
from shared.errors import PermanentError
from shared.people import Pair, Participant

from . import invites
from .agreements import MeetingTerms
from .busy import BusyCalendar
from .cancellations import Cancellation
from .ids import uuid5_text
from .outcomes import Infeasible, Slot
from .planner import find_alternatives, find_kickoff, find_occurrence, find_reschedule_slot
from .rules import PlanningRules
from .slots import fits_window

NAMESPACE = uuid.UUID("b8d1f2c0-6a3e-4f7d-9e21-3c5a7b9d0e14")
# Slack, on top of the buffer, around the stretch whose busy times a search reads: reading a little
# more than the planner looks at costs nothing, missing one booking would double-book someone.
_REACH = timedelta(days=1)
# Alternatives are looked for up to one cadence after the meeting, and at least this many days.
OFFER_MIN_DAYS = 7


def meeting_id(relationship_id: str, occurrence: int) -> str:
    # Deterministic: redelivered commands or a replayed plan land on the same meeting.
    return uuid5_text(NAMESPACE, f"{relationship_id}/{occurrence}")


def reminder_id(meeting: str, minutes_before: int, sequence: int) -> str:
    # A moved meeting (higher sequence) gets new reminders; the old ones are cancelled.
    return uuid5_text(NAMESPACE, f"{meeting}/reminder/{minutes_before}/{sequence}")


class People(NamedTuple):
    """The two people of a pair, as the planner and the invites need them."""

    mentor: Participant
    mentee: Participant


def offer_span(rules: PlanningRules) -> timedelta:
    """How far after a meeting's start its alternatives are looked for."""
    return timedelta(days=max(rules.cadence_days, OFFER_MIN_DAYS))


def offer(slot: Slot, people: People, *, rules: PlanningRules, busy: BusyCalendar | dict,
          now: datetime) -> tuple[datetime, ...]:
    """The other starts offered with a meeting at `slot` (planner.find_alternatives): 3 to 5 of the
    same length in the span after it (`offer_span`), spread over days, inside both people's hours,
    at least the minimum notice ahead, clear of both people's other meetings in `busy`. Fewer
    than 3 only when the span holds fewer. `busy` must cover `slot.start` to the span's end."""
    return tuple(find_alternatives(people.mentor, people.mentee, slot, until=slot.start + offer_span(rules),
                                   rules=rules, busy=BusyCalendar.of(busy), now=now))


# --- reminders -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reminder:
    reminder_id: str
    meeting_id: str
    relationship_id: str
    participant_ids: tuple[str, ...]
    meeting_start: datetime
    minutes_before: int
    due_at: datetime
    status: str = "pending"  # pending | fired | late (its meeting had begun) | cancelled

    def due(self) -> ev.ReminderDue:
        return ev.ReminderDue(reminder_id=self.reminder_id, meeting_id=self.meeting_id,
                              relationship_id=self.relationship_id, participant_ids=list(self.participant_ids),
                              meeting_start=self.meeting_start, minutes_before=self.minutes_before)


# --- meetings --------------------------------------------------------------------------------------

SCHEDULED, CANCELLED, COMPLETED, MISSED, UNPLACEABLE = "scheduled", "cancelled", "completed", "missed", "unplaceable"


@dataclass
class Meeting:
    """One occurrence of a pair's series. An unplaceable one keeps the time it was aimed at, so the
    series moves on once that time has passed."""

    meeting_id: str
    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    occurrence: int
    start: datetime
    end: datetime
    status: str = SCHEDULED
    sequence: int = 0  # iCalendar SEQUENCE: goes up with every change, the cancellation included
    reason: str | None = None
    cadence_days: int | None = None  # the cadence in force when it was planned (None: not known)
    place: str | None = None  # video | phone | in_person; None: not said
    location: str | None = None  # the video link, or where they meet; the invite's LOCATION
    organizer: str | None = None  # the invite's ORGANIZER for the meeting's whole life (None: invites.TANDEM)
    offered: tuple[datetime, ...] = ()  # the alternatives offered with its latest announcement

    @property
    def slot(self) -> Slot:
        return Slot(self.start, self.end)

    @property
    def kind(self) -> str:
        return "kickoff" if self.occurrence == 1 else "recurring"

    @property
    def participant_ids(self) -> tuple[str, str]:
        return self.mentor_id, self.mentee_id

    @property
    def holds_time(self) -> bool:
        """Does it keep both people busy (a booking)? Cancelled and unplaceable ones do not."""
        return self.status in (SCHEDULED, COMPLETED, MISSED)

    def scheduled(self, people: People, *, now: datetime) -> ev.MeetingScheduled:
        """The announcement of a newly placed meeting, with the alternatives offered for it."""
        return ev.MeetingScheduled(**self._facts(), kind=self.kind, sequence=self.sequence,
                                   ics=self._invite(people, "REQUEST", now), alternatives=list(self.offered),
                                   place=self.place, location=self.location)

    def ensure_movable(self, now: datetime) -> None:
        if self.status != SCHEDULED:
            raise PermanentError(f"meeting {self.meeting_id} is {self.status}; only a scheduled meeting can move")
        if self.start <= now:
            raise PermanentError(f"meeting {self.meeting_id} has already started; it cannot be rescheduled")

    def reschedule(self, slot: Slot, *, people: People, now: datetime, reason: str | None,
                   offered: tuple[datetime, ...] = (), requested_by: str | None = None) -> list[ev.EventData]:
        """Move it to `slot`, offering `offered` as the alternatives to the new time. It keeps its
        place and location. `requested_by`: who asked (one of the pair, or "ops:<user>"), told with
        the move; None for a move scheduling makes itself."""
        self.ensure_movable(now)
        if slot.start <= now:
            raise PermanentError("the proposed new start is in the past")
        previous = self.start
        self.start, self.end = slot.start, slot.end
        self.sequence += 1
        self.offered = tuple(offered)
        return [ev.MeetingRescheduled(**self._facts(), previous_start=previous, sequence=self.sequence,
                                      reason=reason, ics=self._invite(people, "REQUEST", now),
                                      alternatives=list(self.offered), place=self.place, location=self.location,
                                      requested_by=requested_by)]

    def cancel(self, why: Cancellation, *, people: People, now: datetime) -> list[ev.EventData]:
        if self.status == CANCELLED:
            return []  # asked twice
        if self.status != SCHEDULED:
            raise PermanentError(f"meeting {self.meeting_id} is {self.status}; it cannot be cancelled")
        self.status, self.reason = CANCELLED, why.text
        self.sequence += 1
        return [ev.MeetingCancelled(**self._facts(), sequence=self.sequence, reason=why.text, reason_code=why.code,
                                    ics=self._invite(people, "CANCEL", now))]

    def record_attendance(self, attendance: dict[str, bool], *, now: datetime) -> list[ev.EventData]:
        strangers = set(attendance) - set(self.participant_ids)
        if strangers:
            raise PermanentError(f"{', '.join(sorted(strangers))} not part of relationship {self.relationship_id}")
        if self.status in (COMPLETED, MISSED):
            return []  # already recorded
        if self.status != SCHEDULED:
            raise PermanentError(f"meeting {self.meeting_id} is {self.status}; attendance cannot be recorded")
        if self.start > now:
            raise PermanentError(f"meeting {self.meeting_id} has not started yet")
        absent = sorted(p for p in self.participant_ids if not attendance.get(p, False))
        if absent:
            self.status, self.reason = MISSED, f"absent: {', '.join(absent)}"
            return [ev.MeetingMissed(**self._facts(), absent=absent)]
        self.status = COMPLETED
        return [ev.MeetingCompleted(**self._facts())]

    def reminders(self, offsets_minutes: list[int], *, now: datetime) -> list[Reminder]:
        """The reminders of its current time; one whose moment has already passed is not made."""
        if self.status != SCHEDULED:
            return []
        found = []
        for minutes in offsets_minutes:
            due = self.start - timedelta(minutes=minutes)
            if due > now:
                found.append(Reminder(reminder_id(self.meeting_id, minutes, self.sequence), self.meeting_id,
                                      self.relationship_id, self.participant_ids, self.start, minutes, due))
        return found

    def _facts(self) -> dict:
        return {"meeting_id": self.meeting_id, "relationship_id": self.relationship_id, "program_id": self.program_id,
                "mentor_id": self.mentor_id, "mentee_id": self.mentee_id, "occurrence": self.occurrence,
                "start": self.start, "end": self.end}

    def _invite(self, people: People, method: invites.Method, now: datetime) -> str:
        organizer = invites.TANDEM if self.organizer is None else invites.Invitee(self.organizer, invites.TANDEM.name)
        details = invites.meeting_for_pair(self.meeting_id, self.slot, people.mentor, people.mentee,
                                           occurrence=self.occurrence, organizer=organizer, location=self.location)
        return invites.build_invite(details, method=method, sequence=self.sequence, stamp=now)


# --- series ----------------------------------------------------------------------------------------

ACTIVE, UNSCHEDULABLE, ENDED = "active", "unschedulable", "ended"


@dataclass(frozen=True)
class Aim:
    """Where occurrence `occurrence` of a series is looked for (see `Series.aim`)."""

    occurrence: int
    target: datetime  # the kickoff: the earliest allowed start
    not_before: datetime
    latest_start: datetime  # the search covers starts up to here: the kickoff horizon, or +tolerance
    anchor: datetime | None = None  # an earlier meeting whose wall-clock time the occurrence keeps

    def reach(self, rules: PlanningRules) -> tuple[datetime, datetime]:
        """The stretch in which the people's other meetings can matter to this search, and to the
        alternatives offered with what it finds."""
        earliest = min(self.target - timedelta(days=rules.tolerance_days), self.not_before)
        margin = _REACH + timedelta(minutes=rules.buffer_minutes)
        return earliest - margin, (self.latest_start + offer_span(rules) + timedelta(minutes=rules.duration_minutes)
                                   + margin)


@dataclass(frozen=True)
class Move:
    """Where a meeting is asked to go: to `new_start`, or else to the next good slot from the day
    after its current one (whoever asks to move a meeting cannot make that day). It keeps its own
    length, whatever the rules in force say now.

    A `new_start` is taken as it is, when it is free: one of the alternatives offered with the
    meeting (its page's links), or any other time. When it is in the past, outside either person's
    hours, or clashes with (or is within the buffer of) another meeting of either, the move is
    refused (`PermanentError`, ids only): nothing changes, and the command is dead-lettered with
    that reason. For an offered time the reason says so: it was free when offered and is not now.
    No other time is picked instead."""

    meeting: Meeting
    new_start: datetime | None = None

    def rules(self, rules: PlanningRules) -> PlanningRules:
        """`rules` with this meeting's own length."""
        minutes = int((self.meeting.end - self.meeting.start).total_seconds()) // 60
        return rules if minutes == rules.duration_minutes else rules.model_copy(update={"duration_minutes": minutes})

    def _earliest(self, rules: PlanningRules, now: datetime) -> datetime:
        return max(self.meeting.start + timedelta(days=1), now + timedelta(hours=rules.min_notice_hours))

    def reach(self, rules: PlanningRules, *, now: datetime) -> tuple[datetime, datetime]:
        """The stretch in which the people's other meetings can matter to this move, and to the
        alternatives offered with the new time."""
        rules = self.rules(rules)
        margin = _REACH + timedelta(minutes=rules.buffer_minutes)
        after = offer_span(rules) + timedelta(minutes=rules.duration_minutes) + margin
        if self.new_start is not None:
            return self.new_start - margin, self.new_start + after
        lo = self._earliest(rules, now)
        return lo - margin, lo + timedelta(days=rules.kickoff_horizon_days) + after

    def slot(self, people: People, *, rules: PlanningRules, busy: BusyCalendar | dict, now: datetime) -> Slot:
        """The new time, or `PermanentError` saying (with ids only) why there is none."""
        rules = self.rules(rules)
        calendar = BusyCalendar.of(busy)
        if self.new_start is None:
            found = find_reschedule_slot(people.mentor, people.mentee, after=self._earliest(rules, now), rules=rules,
                                         busy=calendar, now=now)
            if not isinstance(found, Slot):
                raise PermanentError(f"no other slot found: {found.reason}")
            return found
        note = " (offered with the meeting, and no longer possible)" if self.new_start in self.meeting.offered else ""
        slot = Slot(self.new_start, self.new_start + (self.meeting.end - self.meeting.start))
        if slot.start <= now:
            raise PermanentError(f"the proposed new start is in the past{note}")
        for person in people:
            if not fits_window(person, slot):
                raise PermanentError(f"the proposed time is outside the hours of {person.participant_id} "
                                     f"({person.timezone}){note}")
        lo, hi = slot.interval
        for person in people:
            if calendar.between(person.participant_id, lo - rules.buffer, hi + rules.buffer):
                raise PermanentError(f"the proposed time clashes with another meeting of {person.participant_id}"
                                     f"{note}")
        return slot

    def offer(self, slot: Slot, people: People, *, rules: PlanningRules, busy: BusyCalendar | dict,
              now: datetime) -> tuple[datetime, ...]:
        """The alternatives offered with the new time (`offer`), of this meeting's length."""
        return offer(slot, people, rules=self.rules(rules), busy=busy, now=now)


@dataclass(frozen=True)
class Placement:
    """What planning one occurrence came to: a meeting (scheduled or unplaceable) and its events,
    or no meeting at all when the pair can never meet."""

    meeting: Meeting | None
    events: list[ev.EventData] = field(default_factory=list)


@dataclass
class Series:
    """A pair's meetings as scheduling follows them: kickoff, then one occurrence every cadence,
    each planned once the one before is over, until `occurrences` have been planned. The cadence,
    length and notice are those in force when an occurrence is planned: the program's settings, and
    the cadence and length of the pair's agreement when they recorded one (agreements.py)."""

    pair: Pair
    occurrences: int
    status: str = ACTIVE  # active | unschedulable (the two can never meet) | ended
    reason: str | None = None
    planned: int = 0  # the latest occurrence planned (placed or found unplaceable)
    plan_next_at: datetime | None = None  # when the latest one is over; None when nothing is left to plan

    @property
    def relationship_id(self) -> str:
        return self.pair.relationship_id

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def is_due(self, now: datetime) -> bool:
        return self.active and self.plan_next_at is not None and self.plan_next_at <= now

    def aim(self, occurrence: int, *, now: datetime, rules: PlanningRules, first: Meeting | None = None) -> Aim:
        """Kickoff: the minimum notice from now. Occurrence k: k - j cadence steps after `first`, the
        first meeting that was placed (occurrence j) at the cadence in force now, keeping its
        wall-clock time; one step from now when none was. (When the cadence changed, `first` is the
        latest meeting placed before the change: the new pace counts from there. The repository's
        `first_placed` finds it.) When that is already out of reach (the series fell behind), the
        next reachable time instead."""
        earliest = now + timedelta(hours=rules.min_notice_hours)
        if occurrence == 1:
            return Aim(1, earliest, earliest, latest_start=earliest + timedelta(days=rules.kickoff_horizon_days))
        if first is not None:
            anchor = first.start
            target = anchor + timedelta(days=rules.cadence_days * (occurrence - first.occurrence))
        else:
            anchor, target = None, now + timedelta(days=rules.cadence_days)
        tolerance = timedelta(days=rules.tolerance_days)
        if target + tolerance < earliest:
            target = earliest + tolerance
        return Aim(occurrence, target, earliest, latest_start=target + tolerance, anchor=anchor)

    def place(self, aim: Aim, people: People, *, now: datetime, rules: PlanningRules,
              busy: BusyCalendar | dict, terms: MeetingTerms | None = None) -> Placement:
        """Plan the aimed-at occurrence around the people's other meetings (`busy`, read over
        `aim.reach`). A placed meeting gets its place, location and organizer from `terms` (none
        said, and Tandem's own mailbox, without), and alternatives offered with it (`offer`)."""
        mentor, mentee = people
        busy = BusyCalendar.of(busy)
        if aim.occurrence == 1:
            found = find_kickoff(mentor, mentee, now=now, rules=rules, busy=busy)
        else:
            found = find_occurrence(mentor, mentee, target=aim.target, rules=rules, busy=busy,
                                    not_before=aim.not_before, preferred_local_time=aim.anchor)
        if isinstance(found, Infeasible):
            self.status, self.reason, self.plan_next_at = UNSCHEDULABLE, found.reason, None
            return Placement(None, [ev.RelationshipUnschedulable(
                relationship_id=self.relationship_id, program_id=self.pair.program_id,
                mentor_id=self.pair.mentor_id, mentee_id=self.pair.mentee_id, reason=found.reason)])
        if isinstance(found, Slot):
            meeting = self._meeting(aim.occurrence, found, rules=rules, terms=terms)
            meeting.offered = offer(found, people, rules=rules, busy=busy, now=now)
            self.follow(meeting)
            return Placement(meeting, [meeting.scheduled(people, now=now)])
        # Unplaceable: the row keeps the aimed-at time, so the series goes on once it has passed.
        meeting = self._meeting(aim.occurrence, Slot(aim.target, aim.target + timedelta(minutes=rules.duration_minutes)),
                                rules=rules, status=UNPLACEABLE, reason=found.reason)
        self.follow(meeting)
        return Placement(meeting, [ev.MeetingUnplaceable(relationship_id=self.relationship_id,
                                                         program_id=self.pair.program_id,
                                                         occurrence=aim.occurrence, reason=found.reason)])

    def follow(self, meeting: Meeting) -> None:
        """Keep track of the latest occurrence: the next is planned once it is over (held, missed,
        cancelled or unplaceable alike)."""
        if meeting.occurrence < self.planned:
            return  # an earlier one moved: the latest still decides
        self.planned = meeting.occurrence
        self.plan_next_at = meeting.end if self.active and self.planned < self.occurrences else None

    def end(self, reason: str) -> bool:
        """False when it had already ended."""
        if self.status == ENDED:
            return False
        self.status, self.reason, self.plan_next_at = ENDED, reason, None
        return True

    def _meeting(self, occurrence: int, slot: Slot, *, rules: PlanningRules, terms: MeetingTerms | None = None,
                 status: str = SCHEDULED, reason: str | None = None) -> Meeting:
        pair = self.pair
        number = meeting_id(self.relationship_id, occurrence)
        place, location = terms.venue(number) if terms is not None else (None, None)
        return Meeting(number, self.relationship_id, pair.program_id, pair.mentor_id, pair.mentee_id, occurrence,
                       slot.start, slot.end, status=status, reason=reason, cadence_days=rules.cadence_days,
                       place=place, location=location, organizer=None if terms is None else terms.organizer)
