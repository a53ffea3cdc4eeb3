"""Reassessing a relationship's health after anything that feeds it, from handlers and loops alike."""

from __future__ import annotations

from services.feedback.domain.model import Relationship
from services.feedback.service_layer.deps import FeedbackDeps
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.contracts import events as ev


async def reassess(uow: FeedbackUnitOfWork, deps: FeedbackDeps, relationship: Relationship) -> None:
    """Assess with the current signals and the program's term in force; save it with its goals."""
    now = uow.now()
    program = await uow.program_settings.get(relationship.pair.program_id, deps.settings)
    signals = await uow.relationships.signals(relationship.relationship_id, now)
    for event in relationship.reassess(signals, now=now, term_days=program.term_days):
        uow.emit(event)
        if isinstance(event, ev.RelationshipHealthChanged):
            await uow.analytics.health_changed(event.relationship_id, event.previous, event.current, event.score, now)
    await uow.relationships.save(relationship, at=now)
