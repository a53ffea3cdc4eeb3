"""What feedback drops when a person is forgotten (besides the shared scrub, shared/erasure.py):
their own free-text answers. Ratings and counts stay, tied to a pseudonymous id."""

from __future__ import annotations

from shared import replica
from shared.people import Participant


async def drop_their_words(uow, person: Participant) -> None:
    await uow.conn.execute("UPDATE feedback SET comment = NULL WHERE participant_id = $1", person.participant_id)


on_participant_erased = replica.erasure_handler("feedback", also=drop_their_words)
