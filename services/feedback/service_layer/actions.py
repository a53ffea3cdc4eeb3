"""The program team's actions on a relationship, from the dashboard or the API.

Each is a command published through feedback's outbox (`relationship-commands.v1`,
`match-requests.v1`) in the same transaction that records it in `ops_actions`; the service that
owns the relationship decides what happens. Nothing here writes another service's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.feedback.adapters.analytics import AnalyticsReader
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.contracts import events as ev
from shared.people import Pair


class ActionRefused(Exception):
    """The action cannot be taken: `status` is the HTTP status that says why (404, 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Done:
    action: str
    relationship_id: str | None
    event_type: str
    event_id: str
    requested_by: str


async def _pair(uow: FeedbackUnitOfWork, program_id: str, relationship_id: str) -> Pair:
    pair = await uow.pairs.get(relationship_id, lock=True)
    if pair is None or pair.program_id != program_id:
        raise ActionRefused(404, f"no relationship {relationship_id} in program {program_id}")
    return pair


async def _active_pair(uow: FeedbackUnitOfWork, program_id: str, relationship_id: str) -> Pair:
    pair = await _pair(uow, program_id, relationship_id)
    if not pair.active:
        raise ActionRefused(409, f"relationship {relationship_id} has already ended")
    return pair


async def _record(
    uow: FeedbackUnitOfWork,
    data: ev.EventData,
    *,
    kind: str,
    program_id: str,
    relationship_id: str | None,
    requested_by: str,
) -> Done:
    envelope = uow.emit(data)
    await AnalyticsReader(uow.conn).record_action(
        action_id=envelope.id,
        relationship_id=relationship_id,
        program_id=program_id,
        kind=kind,
        requested_by=requested_by,
        at=uow.now(),
    )
    return Done(kind, relationship_id, envelope.type, envelope.id, requested_by)


async def nudge(
    uow: FeedbackUnitOfWork, program_id: str, relationship_id: str, *, requested_by: str, note: str | None = None
) -> Done:
    await _active_pair(uow, program_id, relationship_id)
    return await _record(
        uow,
        ev.RelationshipNudgeRequested(relationship_id=relationship_id, requested_by=requested_by, note=note or None),
        kind="nudge",
        program_id=program_id,
        relationship_id=relationship_id,
        requested_by=requested_by,
    )


async def end(
    uow: FeedbackUnitOfWork,
    program_id: str,
    relationship_id: str,
    *,
    requested_by: str,
    reason: str,
    rematch: bool = False,
    do_not_pair_again: bool = False,
) -> Done:
    await _active_pair(uow, program_id, relationship_id)
    if await AnalyticsReader(uow.conn).pending_end_request(relationship_id):
        raise ActionRefused(409, f"an end of relationship {relationship_id} was already requested")
    return await _record(
        uow,
        ev.RelationshipEndRequested(
            relationship_id=relationship_id,
            requested_by=requested_by,
            reason=reason,
            rematch=rematch,
            do_not_pair_again=do_not_pair_again,
        ),
        kind="end",
        program_id=program_id,
        relationship_id=relationship_id,
        requested_by=requested_by,
    )


async def rematch(uow: FeedbackUnitOfWork, program_id: str, relationship_id: str, *, requested_by: str) -> Done:
    """Ask matching for a new mentor for the mentee of an ended relationship."""
    pair = await _pair(uow, program_id, relationship_id)
    if pair.active:
        raise ActionRefused(409, f"relationship {relationship_id} is still active: end it with re-match instead")
    reader = AnalyticsReader(uow.conn)
    mentee = await uow.participants.get(pair.mentee_id)
    if mentee is None or not mentee.active:
        raise ActionRefused(409, f"mentee {pair.mentee_id} is no longer in the program")
    if await reader.active_relationship(pair.mentee_id) or await reader.open_proposal(pair.mentee_id):
        raise ActionRefused(409, f"mentee {pair.mentee_id} already has a mentor or a proposal waiting")
    return await _record(
        uow,
        ev.MatchRequested(mentee_id=pair.mentee_id, program_id=program_id),
        kind="rematch",
        program_id=program_id,
        relationship_id=relationship_id,
        requested_by=requested_by,
    )
