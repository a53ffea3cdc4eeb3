"""Once a meeting is over, both people are asked whether it took place: a message with two links
("it took place", "it did not"); the first answer counts for both, and becomes
`meeting.attendance.recorded` (service_layer/acts.py), from which scheduling completes the meeting
and feedback asks how it went.

A loop, because nothing is published when a meeting ends: it takes the meetings this service keeps
(from meetings.v1) that are over (for a quarter of an hour) and not yet asked about, with `FOR UPDATE SKIP LOCKED` so that of
N replicas one asks, and writes the messages in the same transaction that marks them asked. The
messages' ids derive from the meeting and its version, so nobody is asked twice.
"""

from __future__ import annotations

from datetime import timedelta

from services.notifications.domain import compose
from services.notifications.service_layer import enqueue
from services.notifications.service_layer.deps import NotificationsDeps
from shared.clock import ProgramClock
from shared.loops import Pass, run_loop
from shared.service import Service

CAUSE_TYPE = "meeting.over"  # the delivery log's cause: no event, the meeting's end on the program clock
BATCH = 100
# Asked a little after the end: a portal that records attendance itself has time to, and nobody is
# asked about a meeting that may be running late.
GRACE = timedelta(minutes=15)


class AttendanceQuestions:
    def __init__(self, transaction, clock: ProgramClock, deps: NotificationsDeps) -> None:
        self.transaction = transaction
        self.clock = clock
        self.deps = deps

    async def step(self) -> Pass:
        async with self.transaction() as uow:
            now = self.clock.now()
            meetings = await uow.subjects.meetings_to_ask_about(now - GRACE, BATCH)
            for meeting in meetings:
                await uow.subjects.mark_asked(meeting.meeting_id)
                pair = await uow.pairs.get(meeting.relationship_id)
                if pair is None or not pair.active:
                    continue  # the relationship's end settles its meetings
                people = await uow.participants.many([meeting.mentor_id, meeting.mentee_id])
                mentor, mentee = people.get(meeting.mentor_id), people.get(meeting.mentee_id)
                if mentor is None or mentee is None:
                    continue
                await enqueue.for_people(
                    uow,
                    self.deps,
                    compose.attendance_requested(
                        meeting.meeting_id, meeting.starts_at, meeting.ends_at, mentor, mentee
                    ),
                    mentor,
                    mentee,
                    cause_id=f"meeting-over/{meeting.meeting_id}/{meeting.sequence}",
                    cause_type=CAUSE_TYPE,
                )
            upcoming = None if len(meetings) == BATCH else await uow.subjects.next_meeting_end()
        if len(meetings) == BATCH:
            return Pass(more=True)
        return Pass(due_in=None if upcoming is None else max(0.0, self.clock.real_seconds_until(upcoming + GRACE)))


async def ask_about_attendance(service: Service) -> None:
    deps: NotificationsDeps = service.deps
    questions = AttendanceQuestions(service.transaction, service.clock, deps)
    await run_loop("attendance questions", questions.step, poll=deps.settings.delivery_poll_seconds * 5)
