"""What scheduling keeps, and for how long (docs/privacy.md): purged by `shared.purge`."""

from __future__ import annotations

from shared.purge import RetentionSettings, Rule


def rules(keep: RetentionSettings) -> list[Rule]:
    return [
        Rule("reminders", "reminders", "t.status <> 'pending' AND t.meeting_start < $1", keep.days("reminder")),
        # Where they met (a room, an address, a phone number), once the meeting is over; the pair's own
        # words on where they meet, once the pair has ended.
        Rule("meetings location", "meetings", "t.ends_at < $1 AND t.location IS NOT NULL", keep.days("place"),
             clear="location = NULL"),
        Rule("agreements place", "agreements", "t.place_details IS NOT NULL AND EXISTS (SELECT 1 FROM pairs p "
             "WHERE p.relationship_id = t.relationship_id AND p.status = 'ended' AND p.ended_at < $1)",
             keep.days("place"), clear="place_details = NULL"),
    ]
