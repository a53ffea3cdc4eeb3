"""Scheduling: books each new pair's kickoff and the series after it inside both people's hours,
handles reschedule/cancel/attendance commands, and keeps the reminders that go with each meeting.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.scheduling.adapters import repository as repo
from services.scheduling.domain.outcomes import Slot
from services.scheduling.domain.planner import find_reschedule_slot
from services.scheduling.domain.slots import fits_window
from services.scheduling.service_layer import meetings
from services.scheduling.settings import SchedulingSettings
from shared.availability import intersect, to_epoch
from shared.consumer import EventRouter
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.errors import NotYetKnown, PermanentError
from shared.unit_of_work import UnitOfWork


def build_router(settings: SchedulingSettings, wake_reminders: asyncio.Event) -> EventRouter:
    router = EventRouter("scheduling")

    @router.on(topics.PARTICIPANTS, "participant.onboarded")
    @router.on(topics.PARTICIPANTS, "participant.updated")
    async def profile(envelope: Envelope, data: ev.ParticipantOnboarded, uow: UnitOfWork) -> None:
        # Applies to meetings not yet placed; booked ones stay where both people agreed to them.
        await repo.upsert_profile(uow.conn, data)

    @router.on(topics.PARTICIPANTS, "participant.offboarded")
    async def offboarded(envelope: Envelope, data: ev.ParticipantOffboarded, uow: UnitOfWork) -> None:
        await repo.deactivate_profile(uow.conn, data.participant_id)

    @router.on(topics.MATCHES, "match.established")
    async def established(envelope: Envelope, data: ev.MatchEstablished, uow: UnitOfWork) -> None:
        created = await repo.add_relationship(
            uow.conn, relationship_id=data.relationship_id, program_id=data.program_id, mentor_id=data.mentor_id,
            mentee_id=data.mentee_id, cadence_days=settings.cadence_days, duration_minutes=settings.duration_minutes,
            established_at=data.established_at,
        )
        if not created:
            return
        rel = await repo.relationship(uow.conn, data.relationship_id, lock=True)
        await meetings.plan_occurrence(uow, settings, rel, 1)
        uow.after_commit(wake_reminders.set)

    @router.on(topics.MATCHES, "match.ended")
    async def ended(envelope: Envelope, data: ev.MatchEnded, uow: UnitOfWork) -> None:
        rel = await repo.relationship(uow.conn, data.relationship_id, lock=True)
        if rel is None:
            raise NotYetKnown(f"relationship {data.relationship_id} not established here yet")
        if rel["status"] == "ended":
            return
        await repo.set_relationship_status(uow.conn, data.relationship_id, "ended", data.reason)
        for row in await repo.future_meetings(uow.conn, data.relationship_id, uow.clock.now()):
            await meetings.cancel(uow, row, rel, f"the mentoring relationship ended ({data.reason})")

    async def scheduled_meeting(uow: UnitOfWork, meeting_id: str, relationship_id: str):
        row = await repo.meeting(uow.conn, meeting_id, lock=True)
        if row is None or row["relationship_id"] != relationship_id:
            raise PermanentError(f"no meeting {meeting_id} in relationship {relationship_id}")
        rel = await repo.relationship(uow.conn, relationship_id, lock=True)
        return row, rel

    @router.on(topics.MEETING_COMMANDS, "meeting.reschedule.requested")
    async def reschedule(envelope: Envelope, data: ev.MeetingRescheduleRequested, uow: UnitOfWork) -> None:
        row, rel = await scheduled_meeting(uow, data.meeting_id, data.relationship_id)
        now = uow.clock.now()
        if row["status"] != "scheduled":
            raise PermanentError(f"meeting {data.meeting_id} is {row['status']}; only a scheduled meeting can move")
        if row["starts_at"] <= now:
            raise PermanentError(f"meeting {data.meeting_id} has already started; it cannot be rescheduled")
        mentor, mentee = await meetings.pair_profiles(uow, rel)
        rules = settings.rules().model_copy(update={"duration_minutes": rel["duration_minutes"]})
        if data.new_start is not None:
            slot = Slot(data.new_start, data.new_start + (row["ends_at"] - row["starts_at"]))
            if slot.start <= now:
                raise PermanentError("the proposed new start is in the past")
            for person in (mentor, mentee):
                if not fits_window(person, slot):
                    raise PermanentError(f"the proposed time is outside {person.name}'s hours ({person.timezone})")
            busy = await repo.busy(uow.conn, [mentor.participant_id, mentee.participant_id],
                                   slot.start - timedelta(hours=2), slot.end + timedelta(hours=2),
                                   except_meeting=row["meeting_id"])
            buffer = rules.buffer
            lo, hi = to_epoch(slot.start) - buffer, to_epoch(slot.end) + buffer
            for pid, intervals in busy.items():
                if intersect(intervals, [(lo, hi)]):
                    raise PermanentError(f"the proposed time clashes with another meeting of {pid}")
        else:
            busy = await repo.busy(uow.conn, [mentor.participant_id, mentee.participant_id], now,
                                   now + timedelta(days=rules.kickoff_horizon_days + 4),
                                   except_meeting=row["meeting_id"])
            # Whoever asks to move a meeting cannot make that day: look from the next day on.
            found = find_reschedule_slot(mentor, mentee, after=row["starts_at"] + timedelta(days=1), rules=rules,
                                         busy=busy, now=now)
            if not isinstance(found, Slot):
                raise PermanentError(f"no other slot found: {found.reason}")
            slot = found
        await meetings.move(uow, settings, row, rel, slot, data.reason)
        uow.after_commit(wake_reminders.set)

    @router.on(topics.MEETING_COMMANDS, "meeting.cancel.requested")
    async def cancel(envelope: Envelope, data: ev.MeetingCancelRequested, uow: UnitOfWork) -> None:
        row, rel = await scheduled_meeting(uow, data.meeting_id, data.relationship_id)
        if row["status"] == "cancelled":
            return
        if row["status"] != "scheduled":
            raise PermanentError(f"meeting {data.meeting_id} is {row['status']}; it cannot be cancelled")
        await meetings.cancel(uow, row, rel, data.reason or f"cancelled by {data.requested_by}")

    @router.on(topics.MEETING_COMMANDS, "meeting.attendance.recorded")
    async def attendance(envelope: Envelope, data: ev.MeetingAttendanceRecorded, uow: UnitOfWork) -> None:
        row, rel = await scheduled_meeting(uow, data.meeting_id, data.relationship_id)
        pair = {rel["mentor_id"], rel["mentee_id"]}
        strangers = set(data.attendance) - pair
        if strangers:
            raise PermanentError(f"{', '.join(sorted(strangers))} not part of relationship {data.relationship_id}")
        if row["status"] in ("completed", "missed"):
            return  # already recorded
        if row["status"] != "scheduled":
            raise PermanentError(f"meeting {data.meeting_id} is {row['status']}; attendance cannot be recorded")
        if row["starts_at"] > uow.clock.now():
            raise PermanentError(f"meeting {data.meeting_id} has not started yet")
        absent = sorted(p for p in pair if not data.attendance.get(p, False))
        common = dict(meeting_id=row["meeting_id"], relationship_id=rel["relationship_id"],
                      program_id=rel["program_id"], mentor_id=rel["mentor_id"], mentee_id=rel["mentee_id"],
                      occurrence=row["occurrence"], start=row["starts_at"], end=row["ends_at"])
        if absent:
            await repo.set_meeting_status(uow.conn, row["meeting_id"], "missed", f"absent: {', '.join(absent)}")
            uow.emit(ev.MeetingMissed(**common, absent=absent))
        else:
            await repo.set_meeting_status(uow.conn, row["meeting_id"], "completed")
            uow.emit(ev.MeetingCompleted(**common))

    return router
