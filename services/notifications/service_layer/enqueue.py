"""Writing messages to the delivery log: the delivery loop is woken once they are committed.

A delivery's id derives from its cause and recipient, so a redelivered cause finds its deliveries
already in the log and nobody gets a message twice. A mail's bytes are written here, once, in the
transaction that plans it (adapters/mail_format.py): sending them is then a transfer and no more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.notifications.adapters.senders import message_of
from services.notifications.domain.delivery import Delivery, plan, plan_for_team
from services.notifications.domain.outgoing import Outgoing
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.contracts.envelope import Envelope
from shared.people import Participant
from shared.programs import ProgramSettings


async def for_people(
    uow: NotificationsUnitOfWork,
    deps: NotificationsDeps,
    outgoing: list[Outgoing],
    *people: Participant,
    cause_id: str | None = None,
    cause_type: str | None = None,
) -> None:
    """Messages to participants, caused by the event being handled unless named (a loop's own cause)."""
    if cause_id is None or cause_type is None:
        assert uow.cause is not None, "handlers run for a consumed event"
        cause_id, cause_type = uow.cause.id, uow.cause.type
    for delivery in plan(
        outgoing,
        {p.participant_id: p for p in people},
        cause_event_id=cause_id,
        cause_type=cause_type,
        now=uow.now(),
        links=deps.links,
    ):
        # False for a redelivered cause: already in the log.
        await uow.deliveries.add(_written(delivery, deps, uow))
    uow.after_commit(deps.wake.set)


@dataclass(frozen=True)
class Messages:
    """One event's messages to participants, for `for_wave`: the event (their cause), the messages,
    and the people they may go to."""

    cause: Envelope
    outgoing: list[Outgoing]
    people: Sequence[Participant]


async def for_wave(uow: NotificationsUnitOfWork, deps: NotificationsDeps, wave: Sequence[Messages]) -> None:
    """`for_people` for each event of a wave, in its order, with one statement for all the deliveries."""
    written: list[Delivery] = []
    for messages in wave:
        planned = plan(
            messages.outgoing,
            {p.participant_id: p for p in messages.people},
            cause_event_id=messages.cause.id,
            cause_type=messages.cause.type,
            now=uow.now(),
            links=deps.links,
        )
        written += (_written(delivery, deps, uow) for delivery in planned)
        # Rendering a whole wave at once would hold the event loop for a second or more, and the
        # delivery loop's sends in this process with it: each of their steps waits for a yield.
        await asyncio.sleep(0)
    await uow.deliveries.add_many(written)
    uow.after_commit(deps.wake.set)


async def for_team(
    uow: NotificationsUnitOfWork,
    deps: NotificationsDeps,
    outgoing: list[Outgoing],
    program: ProgramSettings,
    *,
    cause_id: str | None = None,
    cause_type: str | None = None,
) -> None:
    """Messages to a program's ops contacts, caused by the event being handled unless named."""
    if not outgoing:
        return
    if cause_id is None or cause_type is None:
        assert uow.cause is not None, "handlers run for a consumed event"
        cause_id, cause_type = uow.cause.id, uow.cause.type
    for delivery in plan_for_team(
        outgoing,
        program.ops_contacts,
        program_id=program.program_id,
        cause_event_id=cause_id,
        cause_type=cause_type,
        now=uow.now(),
    ):
        await uow.deliveries.add(_written(delivery, deps, uow))
    uow.after_commit(deps.wake.set)


def _written(delivery: Delivery, deps: NotificationsDeps, uow: NotificationsUnitOfWork) -> Delivery:
    """A mail with its bytes (dated now; the send dates them again)."""
    if delivery.channel == "email":
        delivery.mime = deps.mail.write(message_of(delivery), date=uow.now())
    return delivery
