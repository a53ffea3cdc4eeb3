"""The busiest handlers applied a wave at a time (shared.waves): meeting.scheduled, match.proposed,
reminder.due and feedback.requested.

Each `many` here leaves what its one-event handler (handlers.py, the reference) leaves when applied to
the wave's events one after the other, in a few statements for the whole wave: the people (and pairs)
read once with `= ANY($1)`, the messages composed and rendered in Python, and the wave's rows and
deliveries written with one multi-row statement each. None of these handlers emits an event, and none
reads what another of its wave writes, so the order within a wave only decides which of two rows with
one id is kept (the first, as one after the other).

Where the reference would stop at an event (someone not known yet, a relationship not ended yet, a
person not of the pair), the wave raises what it would raise: the consumer then applies the wave's
events one at a time, and the reference decides (parks or dead-letters that one event).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from services.notifications.adapters.subjects import FeedbackRequest, Meeting, Proposal
from services.notifications.domain import compose
from services.notifications.domain.outgoing import Outgoing
from services.notifications.service_layer import waiting
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.enqueue import Messages, for_wave
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from shared.people import Participant
from shared.programs import ProgramSettings
from shared.replica import require_all
from shared.waves import Applied


def meeting_of(event: Any, kind: str, status: str) -> Meeting:
    """The meeting as a meetings.v1 event tells it."""
    return Meeting(
        event.meeting_id,
        event.relationship_id,
        event.mentor_id,
        event.mentee_id,
        kind,
        event.start,
        event.end,
        event.sequence,
        tuple(getattr(event, "alternatives", ())),
        getattr(event, "place", None),
        getattr(event, "location", None),
        status,
    )


async def _people(uow: NotificationsUnitOfWork, ids: Iterable[str]) -> dict[str, Participant]:
    """Everyone a wave names, in one read; `require_all` then says who is not known yet."""
    return await uow.participants.many(sorted(set(ids)))


def meeting_resources(data: ev.MeetingScheduled) -> tuple[tuple[str, str], ...]:
    """Its relationship (the key) and its meeting: one statement cannot write a meeting twice."""
    return (("relationship", data.relationship_id), ("meeting", data.meeting_id))


async def on_meetings_scheduled(wave: Sequence[Applied], uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """`on_meeting_scheduled` for a wave: the meetings, then both people's messages with the invite."""
    events: list[ev.MeetingScheduled] = [a.data for a in wave]
    people = await _people(uow, (pid for e in events for pid in (e.mentor_id, e.mentee_id)))
    messages = []
    for applied, event in zip(wave, events, strict=True):
        mentor, mentee = require_all(people, (event.mentor_id, event.mentee_id))
        messages.append(Messages(applied.envelope, compose.meeting_scheduled(event, mentor, mentee), (mentor, mentee)))
    await uow.subjects.save_meetings([meeting_of(e, e.kind, "planned") for e in events])
    await for_wave(uow, deps, messages)


def proposal_message(
    event: ev.MatchProposed, mentor: Participant, mentee: Participant, program: ProgramSettings
) -> list[Outgoing]:
    """The mentor's message about a proposal, with what mentoring asks of them in this program."""
    return compose.match_proposed(
        event,
        mentor,
        mentee,
        cadence_days=program.cadence_days,
        duration_minutes=program.duration_minutes,
        term_days=program.term_days,
    )


def proposal_resources(data: ev.MatchProposed) -> tuple[tuple[str, str], ...]:
    return (("mentee", data.mentee_id), ("proposal", data.proposal_id))


async def on_matches_proposed(wave: Sequence[Applied], uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """`on_match_proposed` for a wave: the proposals, and each mentor's message."""
    events: list[ev.MatchProposed] = [a.data for a in wave]
    people = await _people(uow, (pid for e in events for pid in (e.mentor_id, e.mentee_id)))
    programs = await uow.program_settings.get_many({e.program_id for e in events}, deps.settings)
    messages = []
    for applied, event in zip(wave, events, strict=True):
        mentor, mentee = require_all(people, (event.mentor_id, event.mentee_id))
        program = programs[event.program_id]
        messages.append(Messages(applied.envelope, proposal_message(event, mentor, mentee, program), (mentor, mentee)))
    await uow.subjects.add_proposals(
        [Proposal(e.proposal_id, e.program_id, e.mentor_id, e.mentee_id, e.expires_at, "open") for e in events]
    )
    await waiting.no_longer_waiting(uow, (e.mentee_id for e in events))
    await for_wave(uow, deps, messages)


async def on_reminders_due(wave: Sequence[Applied], uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """`on_reminder_due` for a wave: each one named gets their reminder."""
    events: list[ev.ReminderDue] = [a.data for a in wave]
    people = await _people(uow, (pid for e in events for pid in e.participant_ids))
    messages = []
    for applied, event in zip(wave, events, strict=True):
        named = require_all(people, event.participant_ids)
        reminders = compose.reminder_due(event, {p.participant_id: p for p in named})
        messages.append(Messages(applied.envelope, reminders, named))
    await for_wave(uow, deps, messages)


def request_resources(data: ev.FeedbackRequested) -> tuple[tuple[str, str], ...]:
    return (("relationship", data.relationship_id), ("request", data.request_id))


async def on_feedback_requests(wave: Sequence[Applied], uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """`on_feedback_requested` for a wave: the requests, and the message to each one asked."""
    events: list[ev.FeedbackRequested] = [a.data for a in wave]
    pairs = await uow.pairs.many(sorted({e.relationship_id for e in events}))
    for event in events:  # what the reference checks before it reads the people
        pair = pairs.get(event.relationship_id)
        if pair is None:
            raise NotYetKnown(f"relationship {event.relationship_id} is not known here yet")
        if event.kind == "closure" and pair.active:
            raise NotYetKnown(f"the end of relationship {event.relationship_id} is not known here yet")
        if not pair.includes(event.participant_id):
            raise PermanentError(f"{event.participant_id} is not part of relationship {event.relationship_id}")
    people = await _people(
        uow, (pid for e in events for pid in (e.participant_id, pairs[e.relationship_id].other(e.participant_id)))
    )
    messages = []
    for applied, event in zip(wave, events, strict=True):
        asked, other = require_all(
            people, (event.participant_id, pairs[event.relationship_id].other(event.participant_id))
        )
        messages.append(Messages(applied.envelope, compose.feedback_requested(event, asked, other), (asked, other)))
    await uow.subjects.add_requests(
        [
            FeedbackRequest(e.request_id, e.relationship_id, e.participant_id, e.kind, e.meeting_id, e.due_at)
            for e in events
        ]
    )
    await for_wave(uow, deps, messages)
