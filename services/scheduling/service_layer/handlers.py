"""Scheduling: books each new pair's kickoff and the series after it inside both people's hours,
never booking anyone twice; moves, cancels and closes meetings on the portal's commands (or the
meeting pages' links); keeps the reminders that go with each meeting.

Subscriptions (who handles what; `SUBSCRIPTIONS` at the bottom is the source of truth):

| event                                    | handler                             | changes                                       | emits                                                                       |
|------------------------------------------|-------------------------------------|-----------------------------------------------|-----------------------------------------------------------------------------|
| participant.onboarded/updated/offboarded | shared.replica                      | participants                                  | -                                                                           |
| participant.erased                       | shared.replica (+ _forget_places)   | participants, agreements, meetings (locations) | participant.erasure.completed                                              |
| match.established                        | on_match_established (set-wise)     | pairs, series, meetings, bookings, reminders  | meeting.scheduled (kickoff) / meeting.unplaceable / relationship.unschedulable |
| match.ended                              | on_match_ended                      | pairs, series, meetings, bookings, reminders  | meeting.cancelled for each future meeting (CANCEL invite), whatever the reason_code |
| relationship.agreement.recorded          | on_relationship_agreement_recorded  | agreements (the latest recorded_at wins)      | - (counts from the next meeting planned)                                    |
| meeting.reschedule.requested             | on_meeting_reschedule_requested     | meetings, bookings, reminders, series         | meeting.rescheduled (REQUEST invite, SEQUENCE + 1, who asked) / refused: dead letter |
| meeting.cancel.requested                 | on_meeting_cancel_requested         | meetings, bookings, reminders                 | meeting.cancelled (CANCEL invite, SEQUENCE + 1)                             |
| meeting.attendance.recorded              | on_meeting_attendance_recorded      | meetings                                      | meeting.completed / meeting.missed                                          |

Every meeting.scheduled and meeting.rescheduled carries 3 to 5 `alternatives` (fewer only when
fewer exist; domain/model.py `offer`), and the meeting's `place` and `location`. Its invite's
ORGANIZER is the program's `organizer_email`, its LOCATION the location, and its description says
that replies are not read (domain/invites.py). Cadence, length and place follow the program's
settings and the pair's latest agreement (domain/agreements.py).

Background loops (service_layer/loops.py):

| loop          | does                                                        | emits                                                 |
|---------------|-------------------------------------------------------------|-------------------------------------------------------|
| reminder_loop | fires due reminders (drops those whose meeting has begun)   | reminder.due                                          |
| series_loop   | plans a series' next occurrence once its latest one is over | meeting.scheduled (recurring) / meeting.unplaceable   |

Every path that places or moves a meeting locks the series row, then both people, before reading
anyone's busy times (adapters/locks.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.scheduling.domain import cancellations
from services.scheduling.domain.agreements import Agreement, MeetingTerms
from services.scheduling.domain.model import ENDED, Meeting, Move, People, Series
from services.scheduling.service_layer.planning import plan_kickoffs, plan_occurrence
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings
from shared import programs, replica
from shared.contracts import events as ev
from shared.errors import PermanentError
from shared.loops import Wakeup
from shared.people import Participant
from shared.subscriptions import handle, on, subscriptions
from shared.waves import Applied, set_wise


@dataclass(frozen=True)
class SchedulingDeps:
    settings: SchedulingSettings
    wake_reminders: Wakeup = field(default_factory=Wakeup)  # set when meetings (and so reminders) change


async def on_matches_established(wave: Sequence[Applied], uow: SchedulingUnitOfWork, deps: SchedulingDeps) -> None:
    """A wave of new pairs, each relationship once, placed in the wave's order (planning.py)."""
    if await plan_kickoffs(uow, deps.settings, wave):
        uow.after_commit(deps.wake_reminders.set)


# The wave's resources are its relationships (the default: the event's key). Pairs sharing a person
# may go in one wave: plan_kickoffs books them one after the other, as applying them alone would.
@set_wise(on_matches_established)
async def on_match_established(event: ev.MatchEstablished, uow: SchedulingUnitOfWork, deps: SchedulingDeps) -> None:
    pair = replica.pair_from_event(event)
    await uow.pairs.add(pair)
    settings = deps.settings
    series = Series(pair, occurrences=settings.series_occurrences)
    if not await uow.series.add(series):
        return  # already following this pair
    if await plan_occurrence(uow, settings, series, 1) is not None:
        uow.after_commit(deps.wake_reminders.set)


async def on_match_ended(event: ev.MatchEnded, uow: SchedulingUnitOfWork, deps: SchedulingDeps) -> None:
    series = await uow.series.require(event.relationship_id, lock=True)
    await uow.pairs.end(event.relationship_id, reason=event.reason, at=event.ended_at)
    if not series.end(event.reason):
        return  # already ended
    await uow.series.save(series)
    now = uow.now()
    future = await uow.meetings.scheduled_after(series.relationship_id, now, lock=True)
    if not future:
        return
    people = await _people(uow, series)
    for meeting in future:
        # The end's own `reason` is not for the other person to read (cancellations.py).
        await _cancel(
            uow, meeting, meeting.cancel(cancellations.relationship_over(event.reason_code), people=people, now=now)
        )


async def on_relationship_agreement_recorded(
    event: ev.RelationshipAgreementRecorded, uow: SchedulingUnitOfWork, deps: SchedulingDeps
) -> None:
    """Keep the pair's agreement for the meetings planned from now on (planning.py): its cadence and
    length within the program's bounds, and its place. Meetings already placed stay as they are.
    An older agreement arriving after a newer one is ignored; so is one for a pair that has ended.
    One for a pair not established here yet waits (NotYetKnown)."""
    series = await uow.series.require(event.relationship_id, lock=True)  # the series loop plans under this lock
    if not series.pair.active or series.status == ENDED:
        return
    await uow.agreements.record(Agreement.from_event(event))


async def on_meeting_reschedule_requested(
    event: ev.MeetingRescheduleRequested, uow: SchedulingUnitOfWork, deps: SchedulingDeps
) -> None:
    """Move a meeting, keeping its length, place and location; the alternatives offered with it
    are worked out again for the new time.

    With a `new_start` (any time, or one of the alternatives offered with the meeting, from its
    page): the meeting goes there when that time is still free. When it is not (in the past,
    outside either person's hours, or clashing with another meeting of either, e.g. an offered
    time taken since), the command is refused: `PermanentError` with the reason in ids only
    ("... (offered with the meeting, and no longer possible)" for an offered time), nothing
    changes and nothing is emitted, and the consumer dead-letters the command with that reason on
    meeting-commands.v1.dlq (the program team sees it in its digest). No other time is picked
    instead. Without a `new_start`: the next good slot from the day after its current one, or the
    same refusal when there is none (domain/model.py `Move`)."""
    series, meeting = await _command_target(uow, event.meeting_id, event.relationship_id, lock_people=True)
    now = uow.now()
    meeting.ensure_movable(now)
    people = await _people(uow, series)
    program = await uow.program_settings.get(series.pair.program_id, deps.settings)
    rules = deps.settings.rules(program, MeetingTerms(program, await uow.agreements.get(series.relationship_id)))
    move = Move(meeting, event.new_start)
    busy = await uow.meetings.busy(
        meeting.participant_ids, *move.reach(rules, now=now), except_meeting=meeting.meeting_id
    )
    slot = move.slot(people, rules=rules, busy=busy, now=now)
    changed = meeting.reschedule(
        slot,
        people=people,
        now=now,
        reason=event.reason,
        offered=move.offer(slot, people, rules=rules, busy=busy, now=now),
        requested_by=event.requested_by,  # told with the move: "Ana moved your meeting"
    )
    await uow.meetings.save(meeting)
    await uow.reminders.cancel_for(meeting.meeting_id)
    await uow.reminders.add(meeting.reminders(list(program.reminder_offsets_minutes), now=now))
    series.follow(meeting)  # the latest occurrence moved: the next one is planned after its new end
    await uow.series.save(series)
    for e in changed:
        uow.emit(e)
    uow.after_commit(deps.wake_reminders.set)


async def on_meeting_cancel_requested(
    event: ev.MeetingCancelRequested, uow: SchedulingUnitOfWork, deps: SchedulingDeps
) -> None:
    series, meeting = await _command_target(uow, event.meeting_id, event.relationship_id)
    people = await _people(uow, series)
    why = cancellations.requested(series.pair, event.requested_by, event.reason, code=event.reason_code)
    await _cancel(uow, meeting, meeting.cancel(why, people=people, now=uow.now()))


async def on_meeting_attendance_recorded(
    event: ev.MeetingAttendanceRecorded, uow: SchedulingUnitOfWork, deps: SchedulingDeps
) -> None:
    _, meeting = await _command_target(uow, event.meeting_id, event.relationship_id)
    recorded = meeting.record_attendance(event.attendance, now=uow.now())
    if recorded:
        await uow.meetings.save(meeting)
    for e in recorded:
        uow.emit(e)


async def _command_target(
    uow: SchedulingUnitOfWork, meeting_id: str, relationship_id: str, *, lock_people: bool = False
) -> tuple[Series, Meeting]:
    """The series, then (for a move) its people, then the meeting a command names: locked in that order."""
    series = await uow.series.get(relationship_id, lock=True)
    if series is not None and lock_people:
        await uow.locks.people(*series.pair.members)
    meeting = await uow.meetings.get(meeting_id, lock=True) if series is not None else None
    if series is None or meeting is None or meeting.relationship_id != relationship_id:
        # Commands name meetings this service announced, so an unknown one is never on its way.
        raise PermanentError(f"no meeting {meeting_id} in relationship {relationship_id}")
    return series, meeting


async def _people(uow: SchedulingUnitOfWork, series: Series) -> People:
    return People(*await uow.participants.require(series.pair.mentor_id, series.pair.mentee_id))


async def _forget_places(uow: SchedulingUnitOfWork, person: Participant) -> None:
    await uow.agreements.forget_places(person.participant_id)


async def _cancel(uow: SchedulingUnitOfWork, meeting: Meeting, cancelled: list[ev.EventData]) -> None:
    if not cancelled:
        return  # it was already cancelled
    await uow.meetings.save(meeting)
    await uow.reminders.cancel_for(meeting.meeting_id)
    for e in cancelled:
        uow.emit(e)


SUBSCRIPTIONS = subscriptions(
    programs.PROGRAM_SUBSCRIPTIONS,
    replica.PARTICIPANT_SUBSCRIPTIONS,
    on(ev.ParticipantErased, replica.erasure_handler("scheduling", also=_forget_places)),
    on(ev.MatchEstablished, on_match_established),
    on(ev.MatchEnded, on_match_ended),
    handle(ev.RelationshipAgreementRecorded, on_relationship_agreement_recorded),
    handle(ev.MeetingRescheduleRequested, on_meeting_reschedule_requested),
    handle(ev.MeetingCancelRequested, on_meeting_cancel_requested),
    handle(ev.MeetingAttendanceRecorded, on_meeting_attendance_recorded),
)
