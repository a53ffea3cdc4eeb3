"""What notifications keeps, and for how long (docs/privacy.md): purged by `shared.purge`."""

from __future__ import annotations

from shared.purge import REAL_TIME, RetentionSettings, Rule

# A settled message keeps who it was for (ids), what (template, language), why (its cause) and how
# it ended; its content goes: address, subject, both bodies, the attachment, the mail's bytes (the
# delivery loop drops them when it settles; cleared here too, whatever settled it), the link to the
# reader's preferences, and the last error (a mail server's answer may quote the address).
_CONTENT = ("t.subject <> '' OR t.body <> '' OR t.html <> '' OR t.attachment IS NOT NULL OR t.mime IS NOT NULL "
            "OR t.unsubscribe_url IS NOT NULL OR t.last_error IS NOT NULL OR t.address NOT IN ('', 'erased')")
_SETTLED = "t.status IN ('delivered', 'failed')"


def rules(keep: RetentionSettings) -> list[Rule]:
    return [
        Rule("deliveries content", "deliveries", f"{_SETTLED} AND t.created_at < $1 AND ({_CONTENT})",
             keep.days("delivery_content"), clock=REAL_TIME,
             clear="address = CASE WHEN address = 'erased' THEN address ELSE '' END, subject = '', body = '', "
                   "html = '', attachment = NULL, mime = NULL, unsubscribe_url = NULL, last_error = NULL"),
        Rule("deliveries", "deliveries", f"{_SETTLED} AND t.created_at < $1", keep.days("delivery"), clock=REAL_TIME),
        # Told in a digest: kept a while after that day; never told (a program without contacts): as long.
        Rule("digest items told", "digest_items", "t.local_date IS NOT NULL AND t.local_date < $1::date",
             keep.days("digest_item")),
        Rule("digest items never told", "digest_items", "t.local_date IS NULL AND t.occurred_at < $1",
             keep.days("digest_item")),
        Rule("digests", "digests", "t.composed_at < $1", keep.days("digest")),
        # The pages' copies: where a meeting was, once it is over; a pair's agreement, once they ended.
        Rule("meetings location", "meetings", "t.ends_at < $1 AND (t.location IS NOT NULL OR t.place IS NOT NULL)",
             keep.days("place"), clear="location = NULL, place = NULL"),
        Rule("agreements", "agreements", "EXISTS (SELECT 1 FROM pairs p WHERE p.relationship_id = t.relationship_id "
             "AND p.status = 'ended' AND p.ended_at < $1)", keep.days("place")),
    ]
