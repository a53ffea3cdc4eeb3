"""What matching keeps, and for how long (docs/privacy.md): purged by `shared.purge`.

Proposals that never became a relationship (declined, expired, withdrawn) go after
`TANDEM_RETAIN_PROPOSAL_DAYS`; their explanation names skills, goals and hours. Relationships, their
proposals and the pairs kept apart stay: they are the record of who was matched with whom and a
rule the program team set, and go with an erasure.
"""

from __future__ import annotations

from shared.purge import RetentionSettings, Rule


def rules(keep: RetentionSettings) -> list[Rule]:
    return [
        Rule("proposals", "proposals", "t.status IN ('declined', 'expired', 'withdrawn') AND t.closed_at < $1 "
             "AND NOT EXISTS (SELECT 1 FROM relationships r WHERE r.proposal_id = t.proposal_id)",
             keep.days("proposal")),
    ]
