"""Feedback: asks both people for feedback after each meeting, keeps what they say, tracks each
relationship's health, raises at-risk alerts and celebrates milestones.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.feedback.adapters import repository as repo
from services.feedback.domain.health import assess
from services.feedback.settings import FeedbackSettings
from shared.consumer import EventRouter
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.errors import NotYetKnown, PermanentError
from shared.unit_of_work import UnitOfWork

NAMESPACE = uuid.UUID("6f1f7a8e-4b0c-4d1e-9a57-0c3f5e2b9d11")


def request_id(meeting_id: str, participant_id: str) -> str:
    # Deterministic, so asking twice for the same meeting is the same request.
    return str(uuid.uuid5(NAMESPACE, f"{meeting_id}/{participant_id}"))


async def _update_health(uow: UnitOfWork, relationship_id: str) -> None:
    rel = await repo.get_relationship(uow.conn, relationship_id, lock=True)
    health = assess(await repo.signals(uow.conn, relationship_id, uow.clock.now()))
    await repo.save_health(uow.conn, relationship_id, score=health.score, state=health.state)
    if health.state != rel["health_state"]:
        uow.emit(ev.RelationshipHealthChanged(
            relationship_id=relationship_id, previous=rel["health_state"], current=health.state,
            score=health.score, reasons=list(health.reasons),
        ))
        if health.state == "at_risk":
            uow.emit(ev.RelationshipAtRisk(relationship_id=relationship_id, score=health.score, reasons=list(health.reasons)))


def build_router(settings: FeedbackSettings) -> EventRouter:
    router = EventRouter("feedback")

    @router.on(topics.MATCHES, "match.established")
    async def relationship_started(envelope: Envelope, data: ev.MatchEstablished, uow: UnitOfWork) -> None:
        await repo.add_relationship(
            uow.conn, relationship_id=data.relationship_id, program_id=data.program_id, mentor_id=data.mentor_id,
            mentee_id=data.mentee_id, goals=list(data.goals), established_at=data.established_at,
        )

    @router.on(topics.MATCHES, "match.ended")
    async def relationship_ended(envelope: Envelope, data: ev.MatchEnded, uow: UnitOfWork) -> None:
        if await repo.get_relationship(uow.conn, data.relationship_id) is None:
            raise NotYetKnown(f"relationship {data.relationship_id} not established here yet")
        await repo.end_relationship(uow.conn, data.relationship_id, reason=data.reason, at=data.ended_at)

    @router.on(topics.MEETINGS, "meeting.completed")
    async def meeting_completed(envelope: Envelope, data: ev.MeetingCompleted, uow: UnitOfWork) -> None:
        rel = await repo.get_relationship(uow.conn, data.relationship_id, lock=True)
        if rel is None:
            raise NotYetKnown(f"relationship {data.relationship_id} not established here yet")
        now = uow.clock.now()
        if not await repo.record_meeting(uow.conn, data.relationship_id, data.meeting_id, held=True, at=now):
            return  # the same meeting reported again
        due = now + timedelta(days=settings.feedback_due_days)
        for participant_id, role in ((data.mentee_id, "mentee"), (data.mentor_id, "mentor")):
            rid = request_id(data.meeting_id, participant_id)
            if await repo.add_request(uow.conn, request_id=rid, relationship_id=data.relationship_id,
                                      meeting_id=data.meeting_id, participant_id=participant_id, role=role,
                                      requested_at=now, due_at=due):
                uow.emit(ev.FeedbackRequested(request_id=rid, relationship_id=data.relationship_id,
                                              meeting_id=data.meeting_id, participant_id=participant_id, role=role,
                                              due_at=due))
        await _update_health(uow, data.relationship_id)

    @router.on(topics.MEETINGS, "meeting.missed")
    async def meeting_missed(envelope: Envelope, data: ev.MeetingMissed, uow: UnitOfWork) -> None:
        if await repo.get_relationship(uow.conn, data.relationship_id, lock=True) is None:
            raise NotYetKnown(f"relationship {data.relationship_id} not established here yet")
        if not await repo.record_meeting(uow.conn, data.relationship_id, data.meeting_id, held=False,
                                         at=uow.clock.now()):
            return
        await _update_health(uow, data.relationship_id)

    @router.on(topics.FEEDBACK_SUBMISSIONS, "feedback.submitted")
    async def feedback_submitted(envelope: Envelope, data: ev.FeedbackSubmitted, uow: UnitOfWork) -> None:
        rel = await repo.get_relationship(uow.conn, data.relationship_id, lock=True)
        if rel is None:
            raise NotYetKnown(f"relationship {data.relationship_id} not established here yet")
        if data.participant_id not in (rel["mentor_id"], rel["mentee_id"]):
            raise PermanentError(f"{data.participant_id} is not part of relationship {data.relationship_id}")
        now = uow.clock.now()
        await repo.add_feedback(
            uow.conn, feedback_id=data.feedback_id, relationship_id=data.relationship_id,
            participant_id=data.participant_id, meeting_id=data.meeting_id, rating=data.rating,
            progress=data.progress, comment=data.comment, goals_achieved=list(data.goals_achieved), submitted_at=now,
        )
        for goal in data.goals_achieved:
            if await repo.add_milestone(uow.conn, relationship_id=data.relationship_id, milestone=goal.strip().lower(),
                                        participant_id=data.participant_id, at=now):
                uow.emit(ev.MilestoneAchieved(relationship_id=data.relationship_id,
                                              participant_id=data.participant_id, milestone=goal.strip().lower()))
        await _update_health(uow, data.relationship_id)

    return router
