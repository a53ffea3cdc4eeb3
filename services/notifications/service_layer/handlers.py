"""Notifications: turns events into messages for people, in their language, tone and channel,
outside their quiet hours, recorded in the delivery log before anything is sent.
"""

from __future__ import annotations

import asyncio
import uuid

from services.notifications.adapters import repository as repo
from services.notifications.domain import compose
from services.notifications.domain.compose import Outgoing, Recipient
from services.notifications.domain.quiet_hours import next_allowed
from services.notifications.domain.templates import render
from services.notifications.settings import NotificationSettings
from shared.consumer import EventRouter
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.errors import NotYetKnown
from shared.unit_of_work import UnitOfWork

NAMESPACE = uuid.UUID("0b7e3c52-57a4-4c43-8f0e-8d9a1f2e6c33")


def delivery_id(cause_event_id: str, recipient_id: str, template: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{cause_event_id}/{recipient_id}/{template}"))


def route(recipient: Recipient) -> tuple[str, str]:
    """(channel, address): chat and webhook need a URL; e-mail is the fallback."""
    if recipient.channel in ("chat", "webhook") and recipient.webhook_url:
        return "webhook", recipient.webhook_url
    return "email", recipient.email


async def _people(uow: UnitOfWork, ids: list[str]) -> dict[str, tuple[Recipient, dict, bool]]:
    found = await repo.recipients(uow.conn, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotYetKnown(f"no profile yet for {', '.join(missing)}")
    return found


async def enqueue(uow: UnitOfWork, envelope: Envelope, outgoing: list[Outgoing],
                  people: dict[str, tuple[Recipient, dict, bool]], wake: asyncio.Event) -> None:
    now = uow.clock.now()
    for item in outgoing:
        recipient, _, active = people[item.recipient_id]
        if not active:
            continue  # offboarded: no more messages
        language, subject, body = render(item.template, recipient.language, recipient.style, item.context)
        channel, address = route(recipient)
        not_before = next_allowed(now, recipient.timezone, recipient.quiet_start, recipient.quiet_end)
        if item.useful_until is not None and not_before > item.useful_until:
            not_before = now  # waiting for the quiet hours to end would make it useless
        attachment = None
        if item.attachment is not None:
            attachment = {"filename": item.attachment.filename, "content": item.attachment.content,
                          "mime_type": item.attachment.mime_type}
        await repo.add_delivery(
            uow.conn, delivery_id=delivery_id(envelope.id, item.recipient_id, item.template),
            recipient_id=item.recipient_id, channel=channel, template=item.template, language=language,
            cause_event_id=envelope.id, cause_type=envelope.type, address=address, subject=subject, body=body,
            attachment=attachment, not_before=not_before,
        )
    uow.after_commit(wake.set)


def build_router(settings: NotificationSettings, wake: asyncio.Event) -> EventRouter:
    router = EventRouter("notifications")

    @router.on(topics.PARTICIPANTS, "participant.onboarded")
    @router.on(topics.PARTICIPANTS, "participant.updated")
    async def profile(envelope: Envelope, data: ev.ParticipantOnboarded, uow: UnitOfWork) -> None:
        await repo.upsert_recipient(uow.conn, data)

    @router.on(topics.PARTICIPANTS, "participant.offboarded")
    async def offboarded(envelope: Envelope, data: ev.ParticipantOffboarded, uow: UnitOfWork) -> None:
        await repo.deactivate_recipient(uow.conn, data.participant_id)

    @router.on(topics.MATCHES, "match.proposed")
    async def proposed(envelope: Envelope, data: ev.MatchProposed, uow: UnitOfWork) -> None:
        people = await _people(uow, [data.mentor_id, data.mentee_id])
        out = compose.match_proposed(data, people[data.mentor_id][0], people[data.mentee_id][0], people[data.mentee_id][1])
        await enqueue(uow, envelope, out, people, wake)

    @router.on(topics.MATCHES, "match.established")
    async def established(envelope: Envelope, data: ev.MatchEstablished, uow: UnitOfWork) -> None:
        await repo.add_relationship(uow.conn, data.relationship_id, data.mentor_id, data.mentee_id)
        people = await _people(uow, [data.mentor_id, data.mentee_id])
        out = compose.match_established(data, people[data.mentor_id][0], people[data.mentee_id][0],
                                        cadence_days=settings.cadence_days, duration_minutes=settings.meeting_minutes)
        await enqueue(uow, envelope, out, people, wake)

    async def meeting(envelope: Envelope, data, uow: UnitOfWork, build) -> None:
        people = await _people(uow, [data.mentor_id, data.mentee_id])
        await enqueue(uow, envelope, build(data, people[data.mentor_id][0], people[data.mentee_id][0]), people, wake)

    @router.on(topics.MEETINGS, "meeting.scheduled")
    async def scheduled(envelope: Envelope, data: ev.MeetingScheduled, uow: UnitOfWork) -> None:
        await meeting(envelope, data, uow, compose.meeting_scheduled)

    @router.on(topics.MEETINGS, "meeting.rescheduled")
    async def rescheduled(envelope: Envelope, data: ev.MeetingRescheduled, uow: UnitOfWork) -> None:
        await meeting(envelope, data, uow, compose.meeting_rescheduled)

    @router.on(topics.MEETINGS, "meeting.cancelled")
    async def cancelled(envelope: Envelope, data: ev.MeetingCancelled, uow: UnitOfWork) -> None:
        await meeting(envelope, data, uow, compose.meeting_cancelled)

    @router.on(topics.REMINDERS, "reminder.due")
    async def reminder(envelope: Envelope, data: ev.ReminderDue, uow: UnitOfWork) -> None:
        people = await _people(uow, list(data.participant_ids))
        out = compose.reminder_due(data, {pid: p[0] for pid, p in people.items()})
        await enqueue(uow, envelope, out, people, wake)

    async def pair(uow: UnitOfWork, relationship_id: str, participant_id: str):
        rel = await repo.relationship(uow.conn, relationship_id)
        if rel is None:
            raise NotYetKnown(f"relationship {relationship_id} not seen yet")
        other_id = rel["mentee_id"] if participant_id == rel["mentor_id"] else rel["mentor_id"]
        people = await _people(uow, [participant_id, other_id])
        return people, people[participant_id][0], people[other_id][0]

    @router.on(topics.FEEDBACK, "feedback.requested")
    async def feedback_requested(envelope: Envelope, data: ev.FeedbackRequested, uow: UnitOfWork) -> None:
        people, me, other = await pair(uow, data.relationship_id, data.participant_id)
        await enqueue(uow, envelope, compose.feedback_requested(data, me, other), people, wake)

    @router.on(topics.FEEDBACK, "milestone.achieved")
    async def milestone(envelope: Envelope, data: ev.MilestoneAchieved, uow: UnitOfWork) -> None:
        people, achiever, other = await pair(uow, data.relationship_id, data.participant_id)
        await enqueue(uow, envelope, compose.milestone_achieved(data, achiever, other), people, wake)

    return router
