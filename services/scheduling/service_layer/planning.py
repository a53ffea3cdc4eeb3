"""Planning one occurrence of a series: the kickoff (match handler) and every occurrence after it
(series loop) go through here. Runs in the caller's unit of work, which holds the series row.

The terms are those in force now: the program's settings and the pair's latest agreement
(domain/agreements.py), so an agreement counts from the next meeting planned."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.scheduling import metrics
from services.scheduling.domain.agreements import MeetingTerms
from services.scheduling.domain.model import SCHEDULED, Aim, Meeting, People, Reminder, Series
from services.scheduling.domain.rules import PlanningRules
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings
from shared import replica
from shared.availability import Interval, to_epoch
from shared.programs import ProgramSettings
from shared.waves import Applied


async def plan_occurrence(
    uow: SchedulingUnitOfWork, settings: SchedulingSettings, series: Series, occurrence: int
) -> Meeting | None:
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


@dataclass(slots=True)
class _Kickoff:
    """One new pair of a wave, with what its kickoff is planned from."""

    applied: Applied
    series: Series
    people: People
    now: datetime
    program: ProgramSettings
    terms: MeetingTerms
    rules: PlanningRules
    aim: Aim
    reach: tuple[datetime, datetime]  # aim.reach(rules): where the two people's bookings are read


async def plan_kickoffs(uow: SchedulingUnitOfWork, settings: SchedulingSettings, wave: Sequence[Applied]) -> bool:
    """`on_match_established` for a wave of pairs, each relationship once (shared/waves.py): the same
    rows and events as establishing them one after the other, in a few statements for the whole wave.
    Returns whether any meeting was stored.

    The pairs of a wave may share a person (a mentor's mentees). One after the other, each kickoff
    is placed around the bookings of those before it, read from the table; here each is placed, in
    the wave's order, around the bookings read for the wave plus those its predecessors made in
    `busy` (the same rows, by the same overlap test as the table's `&&`)."""
    pairs = [replica.pair_from_event(applied.data) for applied in wave]
    await uow.pairs.add_many(pairs)  # a transaction adding one of these series too is waited for here
    known = await uow.series.known([pair.relationship_id for pair in pairs])
    todo = [
        (applied, Series(pair, occurrences=settings.series_occurrences))
        for applied, pair in zip(wave, pairs, strict=True)
        if pair.relationship_id not in known
    ]
    if not todo:
        return False  # already following all these pairs
    found = await uow.participants.many(sorted({pid for _, series in todo for pid in series.pair.members}))
    people = [People(*replica.require_all(found, series.pair.members)) for _, series in todo]  # else NotYetKnown
    uow.cause = todo[0][0].envelope  # the wave's first to lock: it may wait (adapters/locks.py)
    await uow.locks.people(*(pid for _, series in todo for pid in series.pair.members))
    programs = await uow.program_settings.get_many({series.pair.program_id for _, series in todo}, settings)
    agreements = await uow.agreements.get_many([series.relationship_id for _, series in todo])
    kickoffs = []
    rules_of: dict[tuple[str, int, int], PlanningRules] = {}  # the same for a program's pairs without agreements
    for (applied, series), two in zip(todo, people, strict=True):
        now = uow.now()
        program = programs[series.pair.program_id]
        terms = MeetingTerms(program, agreements.get(series.relationship_id))
        key = (program.program_id, terms.cadence_days, terms.duration_minutes)  # all settings.rules reads
        rules = rules_of.get(key)
        if rules is None:
            rules = rules_of[key] = settings.rules(program, terms)
        aim = series.aim(1, now=now, rules=rules)
        kickoffs.append(_Kickoff(applied, series, two, now, program, terms, rules, aim, aim.reach(rules)))
    read = await uow.meetings.busy_many([(k.series.pair.members, *k.reach) for k in kickoffs])
    meetings, reminders = _place_in_order(uow, kickoffs, read)
    await uow.series.add_new([k.series for k in kickoffs])  # as planned: written once, before its meetings
    await uow.meetings.add_new(meetings)
    await uow.reminders.add_new(reminders)
    _count_after_commit(uow, meetings)
    return bool(meetings)


def _place_in_order(
    uow: SchedulingUnitOfWork, kickoffs: list[_Kickoff], read: list[dict[str, list[Interval]]]
) -> tuple[list[Meeting], list[Reminder]]:
    """Place each kickoff around what was read for it and what those before it booked, and emit its
    events under its own cause; returns the meetings and reminders to store."""
    made: defaultdict[str, list[tuple[datetime, datetime]]] = defaultdict(list)  # the wave's own bookings
    meetings: list[Meeting] = []
    reminders: list[Reminder] = []
    for k, busy in zip(kickoffs, read, strict=True):
        lo, hi = k.reach
        for pid in k.series.pair.members:
            # tstzrange's `&&` on [s, e) and [lo, hi), compared as instants (not whole seconds).
            mine = [(to_epoch(s), to_epoch(e)) for s, e in made.get(pid, ()) if s < hi and lo < e and s < e]
            if mine:
                busy[pid] = sorted(busy.get(pid, []) + mine)
        placement = k.series.place(k.aim, k.people, now=k.now, rules=k.rules, busy=busy, terms=k.terms)
        meeting = placement.meeting
        if meeting is not None:
            meetings.append(meeting)
            reminders += meeting.reminders(list(k.program.reminder_offsets_minutes), now=k.now)
            if meeting.holds_time:
                for pid in meeting.participant_ids:
                    made[pid].append((meeting.start, meeting.end))
        uow.cause = k.applied.envelope  # the cause of what it emits, as when applied alone
        for event in placement.events:
            uow.emit(event)
    return meetings, reminders


def _count_after_commit(uow: SchedulingUnitOfWork, meetings: list[Meeting]) -> None:
    kinds = Counter(m.kind for m in meetings if m.status == SCHEDULED)
    for kind, n in kinds.items():
        uow.after_commit(functools.partial(metrics.MEETINGS_SCHEDULED.labels(kind).inc, n))
    unplaceable = sum(m.status != SCHEDULED for m in meetings)
    if unplaceable:
        uow.after_commit(functools.partial(metrics.MEETINGS_UNPLACEABLE.inc, unplaceable))
