"""Planning one occurrence of a series: the kickoff (match handler) and every occurrence after it
(series loop) go through here. Runs in the caller's unit of work, which holds the series row.

The terms are those in force now: the program's settings and the pair's latest agreement
(domain/agreements.py), so an agreement counts from the next meeting planned."""

from __future__ import annotations

from services.scheduling import metrics
from services.scheduling.domain.agreements import MeetingTerms
from services.scheduling.domain.model import SCHEDULED, Meeting, People, Series
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings


async def plan_occurrence(uow: SchedulingUnitOfWork, settings: SchedulingSettings, series: Series,
                          occurrence: int) -> Meeting | None:
    """Place `occurrence` around both people's other meetings, or say why it cannot be placed.
    Returns the meeting stored (scheduled or unplaceable); None when none was."""
    pair = series.pair
    people = People(*await uow.participants.require(pair.mentor_id, pair.mentee_id))
    await uow.locks.people(*pair.members)  # before reading busy times: adapters/locks.py
    now = uow.now()
    program = await uow.program_settings.get(pair.program_id, settings)  # the settings in force now
    terms = MeetingTerms(program, await uow.agreements.get(series.relationship_id))
    rules = settings.rules(program, terms)
    first = await uow.meetings.first_placed(series.relationship_id, rules.cadence_days) if occurrence > 1 else None
    aim = series.aim(occurrence, now=now, rules=rules, first=first)
    busy = await uow.meetings.busy(pair.members, *aim.reach(rules))
    placement = series.place(aim, people, now=now, rules=rules, busy=busy, terms=terms)
    meeting = placement.meeting
    if meeting is not None:
        if not await uow.meetings.add(meeting):
            # Planned before (a redelivery): the series just catches up with the stored one.
            stored = await uow.meetings.get(meeting.meeting_id)
            if stored is not None:
                series.follow(stored)
                await uow.series.save(series)
            return None
        await uow.reminders.add(meeting.reminders(list(program.reminder_offsets_minutes), now=now))
        if meeting.status == SCHEDULED:
            uow.after_commit(metrics.MEETINGS_SCHEDULED.labels(meeting.kind).inc)
        else:
            uow.after_commit(metrics.MEETINGS_UNPLACEABLE.inc)
    await uow.series.save(series)
    for event in placement.events:
        uow.emit(event)
    return meeting
