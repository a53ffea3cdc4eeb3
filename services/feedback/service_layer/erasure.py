"""What feedback drops when a person is forgotten (besides the shared scrub, shared/erasure.py):
every free-text comment of their relationships, theirs and their partners' (what a partner wrote
about them names them in ways no scrub can find: a first name, a nickname). Ratings, progress and
counts stay, tied to pseudonymous ids. Answers that arrive later are kept without their comment
(handlers.on_feedback_submitted)."""

from __future__ import annotations

from shared import replica
from shared.people import Participant


async def drop_their_words(uow, person: Participant) -> None:
    await uow.conn.execute(
        """UPDATE feedback SET comment = NULL WHERE comment IS NOT NULL AND (participant_id = $1
           OR relationship_id IN (SELECT relationship_id FROM pairs WHERE $1 IN (mentor_id, mentee_id)))""",
        person.participant_id,
    )


on_participant_erased = replica.erasure_handler("feedback", also=drop_their_words)
