"""The invites kept in the delivery log, as an erasure rebuilds them (service_layer/erasure.py)."""

from __future__ import annotations

import asyncpg

from services.notifications.domain.forgotten import rebuilt_if_naming
from shared.people import Participant


class StoredInvites:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def rebuild_naming(self, person: Participant) -> int:
        """Every stored invite to one of the person's partners (sent or not) that names them,
        rebuilt from its calendar keys with its reader as the only attendee; one that cannot be
        read loses its attachment. Returns how many changed."""
        rows = await self.conn.fetch(
            """SELECT delivery_id, address, attachment FROM deliveries
               WHERE attachment->>'mime_type' LIKE 'text/calendar%' AND recipient_id <> $1
                 AND recipient_id IN (SELECT mentee_id FROM pairs WHERE mentor_id = $1
                                      UNION SELECT mentor_id FROM pairs WHERE mentee_id = $1)""",
            person.participant_id)
        changed = 0
        for row in rows:
            attachment = dict(row["attachment"])
            content = rebuilt_if_naming(attachment["content"], row["address"], person.personal_strings())
            if content == attachment["content"]:
                continue
            # The mail's bytes were written from the old invite: written again when it is sent.
            await self.conn.execute("UPDATE deliveries SET attachment = $2, mime = NULL WHERE delivery_id = $1",
                                    row["delivery_id"], None if content is None else attachment | {"content": content})
            changed += 1
        return changed
