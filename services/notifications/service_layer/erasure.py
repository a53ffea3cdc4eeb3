"""What notifications drops when a person is forgotten (besides the shared scrub, shared/erasure.py):
nothing more is sent to them, and the messages kept for them lose their content."""

from __future__ import annotations

from shared import replica
from shared.people import Participant

FORGOTTEN = "the recipient was forgotten on request; not sent"


async def drop_their_messages(uow, person: Participant) -> None:
    await uow.deliveries.forget_recipient(person.participant_id, FORGOTTEN)
    await uow.subjects.forget_agreements_of(person.participant_id)


on_participant_erased = replica.erasure_handler("notifications", also=drop_their_messages)
