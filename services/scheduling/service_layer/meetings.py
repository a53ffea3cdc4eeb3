"""Placing, moving and ending meetings. Each function runs inside the caller's unit of work, so the
meeting row, its reminders and the events it causes commit together.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.scheduling.adapters import repository as repo
from services.scheduling.domain import invites
from services.scheduling.domain.outcomes import Infeasible, Slot, Unplaceable
from services.scheduling.domain.planner import find_kickoff, find_occurrence
from services.scheduling.settings import SchedulingSettings
from services.scheduling import metrics
from shared.contracts import events as ev
from shared.contracts.profile import ParticipantProfile
from shared.errors import NotYetKnown
from shared.unit_of_work import UnitOfWork

NAMESPACE = uuid.UUID("b8d1f2c0-6a3e-4f7d-9e21-3c5a7b9d0e14")


def meeting_id(relationship_id: str, occurrence: int) -> str:
    # Deterministic: redelivered commands or a replayed plan land on the same meeting.
    return str(uuid.uuid5(NAMESPACE, f"{relationship_id}/{occurrence}"))


def reminder_id(meeting: str, minutes_before: int, sequence: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{meeting}/reminder/{minutes_before}/{sequence}"))


def invite(meeting_row, slot: Slot, mentor: ParticipantProfile, mentee: ParticipantProfile, *, method: str,
           sequence: int, uow: UnitOfWork) -> str:
    details = invites.meeting_for_pair(meeting_row["meeting_id"], slot, mentor, mentee,
                                       occurrence=meeting_row["occurrence"])
    return invites.build_invite(details, method=method, sequence=sequence, stamp=uow.clock.now())


async def pair_profiles(uow: UnitOfWork, rel) -> tuple[ParticipantProfile, ParticipantProfile]:
    people = await repo.profiles(uow.conn, [rel["mentor_id"], rel["mentee_id"]])
    missing = [p for p in (rel["mentor_id"], rel["mentee_id"]) if p not in people]
    if missing:
        raise NotYetKnown(f"no profile yet for {', '.join(missing)}")
    return people[rel["mentor_id"]], people[rel["mentee_id"]]


async def _busy(uow: UnitOfWork, rel, lo, hi, except_meeting: str | None = None):
    return await repo.busy(uow.conn, [rel["mentor_id"], rel["mentee_id"]], lo - timedelta(days=1),
                           hi + timedelta(days=1), except_meeting=except_meeting)


async def add_reminders(uow: UnitOfWork, settings: SchedulingSettings, meeting_row, start, sequence: int) -> None:
    await repo.add_reminders(uow.conn, repo.reminder_rows(
        meeting_row["meeting_id"], meeting_row["relationship_id"],
        [meeting_row["mentor_id"], meeting_row["mentee_id"]], start, settings.reminder_offsets_minutes, sequence,
        uow.clock.now(), reminder_id,
    ))


async def plan_occurrence(uow: UnitOfWork, settings: SchedulingSettings, rel, occurrence: int) -> None:
    """Place occurrence `occurrence` of the pair's series, or say why it cannot be placed."""
    mentor, mentee = await pair_profiles(uow, rel)
    rules = settings.rules().model_copy(update={"cadence_days": rel["cadence_days"],
                                                "duration_minutes": rel["duration_minutes"]})
    now = uow.clock.now()
    if occurrence == 1:
        found = find_kickoff(mentor, mentee, now=now, rules=rules,
                             busy=await _busy(uow, rel, now, now + timedelta(days=rules.kickoff_horizon_days + 2)))
        kind = "kickoff"
        target = now + timedelta(hours=rules.min_notice_hours)
    else:
        first = await repo.first_meeting(uow.conn, rel["relationship_id"])
        anchor = first["starts_at"] if first is not None else now
        target = anchor + timedelta(days=rules.cadence_days * (occurrence - 1))
        if target + timedelta(days=rules.tolerance_days) < now + timedelta(hours=rules.min_notice_hours):
            # Far behind (e.g. the series was paused): aim at the next reachable cadence step instead.
            target = now + timedelta(hours=rules.min_notice_hours, days=rules.tolerance_days)
        found = find_occurrence(
            mentor, mentee, target=target, rules=rules, not_before=now + timedelta(hours=rules.min_notice_hours),
            preferred_local_time=anchor if first is not None else None,
            busy=await _busy(uow, rel, target - timedelta(days=rules.tolerance_days),
                             target + timedelta(days=rules.tolerance_days)),
        )
        kind = "recurring"

    mid = meeting_id(rel["relationship_id"], occurrence)
    if isinstance(found, Infeasible):
        await repo.set_relationship_status(uow.conn, rel["relationship_id"], "unschedulable", found.reason)
        uow.emit(ev.RelationshipUnschedulable(relationship_id=rel["relationship_id"], program_id=rel["program_id"],
                                              mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"],
                                              reason=found.reason))
        return
    if isinstance(found, Unplaceable):
        # The row keeps the occurrence's target time, so the series moves on once that time has passed.
        if await repo.add_meeting(uow.conn, meeting_id=mid, relationship_id=rel["relationship_id"],
                                  occurrence=occurrence, mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"],
                                  start=target, end=target + timedelta(minutes=rules.duration_minutes),
                                  status="unplaceable", reason=found.reason):
            uow.emit(ev.MeetingUnplaceable(relationship_id=rel["relationship_id"], program_id=rel["program_id"],
                                           occurrence=occurrence, reason=found.reason))
            uow.after_commit(metrics.MEETINGS_UNPLACEABLE.inc)
        return
    if not await repo.add_meeting(uow.conn, meeting_id=mid, relationship_id=rel["relationship_id"],
                                  occurrence=occurrence, mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"],
                                  start=found.start, end=found.end):
        return  # already planned
    row = await repo.meeting(uow.conn, mid)
    await add_reminders(uow, settings, row, found.start, 0)
    uow.emit(ev.MeetingScheduled(
        meeting_id=mid, relationship_id=rel["relationship_id"], program_id=rel["program_id"],
        mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"], occurrence=occurrence, start=found.start,
        end=found.end, kind=kind, sequence=0,
        ics=invite(row, found, mentor, mentee, method="REQUEST", sequence=0, uow=uow),
    ))
    uow.after_commit(metrics.MEETINGS_SCHEDULED.labels(kind).inc)


async def cancel(uow: UnitOfWork, meeting_row, rel, reason: str) -> None:
    mentor, mentee = await pair_profiles(uow, rel)
    sequence = await repo.set_meeting_status(uow.conn, meeting_row["meeting_id"], "cancelled", reason,
                                             bump_sequence=True)
    await repo.cancel_reminders(uow.conn, meeting_row["meeting_id"])
    slot = Slot(meeting_row["starts_at"], meeting_row["ends_at"])
    uow.emit(ev.MeetingCancelled(
        meeting_id=meeting_row["meeting_id"], relationship_id=rel["relationship_id"], program_id=rel["program_id"],
        mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"], occurrence=meeting_row["occurrence"],
        start=slot.start, end=slot.end, sequence=sequence, reason=reason,
        ics=invite(meeting_row, slot, mentor, mentee, method="CANCEL", sequence=sequence, uow=uow),
    ))


async def move(uow: UnitOfWork, settings: SchedulingSettings, meeting_row, rel, slot: Slot, reason: str | None) -> None:
    mentor, mentee = await pair_profiles(uow, rel)
    sequence = await repo.move_meeting(uow.conn, meeting_row["meeting_id"], slot.start, slot.end)
    await repo.cancel_reminders(uow.conn, meeting_row["meeting_id"])
    await add_reminders(uow, settings, meeting_row, slot.start, sequence)
    uow.emit(ev.MeetingRescheduled(
        meeting_id=meeting_row["meeting_id"], relationship_id=rel["relationship_id"], program_id=rel["program_id"],
        mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"], occurrence=meeting_row["occurrence"],
        start=slot.start, end=slot.end, previous_start=meeting_row["starts_at"], sequence=sequence, reason=reason,
        ics=invite(meeting_row, slot, mentor, mentee, method="REQUEST", sequence=sequence, uow=uow),
    ))
