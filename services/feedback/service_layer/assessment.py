"""Reassessing a relationship's health after anything that feeds it, from handlers and loops alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.feedback.adapters.analytics import HealthChange
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


async def reassess_many(
    uow: FeedbackUnitOfWork, deps: FeedbackDeps, relationships: Sequence[Relationship], now: datetime
) -> list[list[ev.EventData]]:
    """`reassess` for several relationships (each once) in a few statements. Returns what each
    reassessment tells, in their order, for the caller to emit with its own cause (nothing is emitted here)."""
    programs = await uow.program_settings.get_many({r.pair.program_id for r in relationships}, deps.settings)
    signals = await uow.relationships.signals_many([r.relationship_id for r in relationships], now)
    told, changes = [], []
    for relationship in relationships:
        events = relationship.reassess(
            signals[relationship.relationship_id], now=now, term_days=programs[relationship.pair.program_id].term_days
        )
        changes += [
            HealthChange(e.relationship_id, e.previous, e.current, e.score, now)
            for e in events
            if isinstance(e, ev.RelationshipHealthChanged)
        ]
        told.append(events)
    await uow.analytics.health_changes(changes)
    await uow.relationships.save_many(relationships, at=now)
    return told
