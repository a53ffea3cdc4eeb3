"""What feedback keeps, and for how long (docs/privacy.md): purged by `shared.purge`.

The dashboard's raw facts are kept for a rolling window (`TANDEM_RETAIN_ANALYTICS_DAYS`, 400 days):
programs have no end date to count from, a term is at most a year, and the dashboard's series show
the last 60 days, so 400 days keeps a whole program and a year-on-year look while nothing stays for
ever. A fact still open (a proposal awaiting an answer, a meeting still scheduled) is kept until it
closes. Relationship records (ratings, health, goals, check-ins) stay for the relationship's life and
go with an erasure; free-text comments are emptied after `TANDEM_RETAIN_COMMENT_DAYS`.
"""

from __future__ import annotations

from shared.purge import REAL_TIME, RetentionSettings, Rule


def rules(keep: RetentionSettings) -> list[Rule]:
    window = keep.days("analytics")
    return [
        Rule("analytics_onboardings", "analytics_onboardings", "t.onboarded_at < $1", window),
        Rule("analytics_proposals", "analytics_proposals",
             "t.status <> 'open' AND coalesce(t.closed_at, t.proposed_at) < $1", window),
        Rule("analytics_meetings", "analytics_meetings", "t.status <> 'scheduled' AND t.updated_at < $1", window),
        Rule("analytics_unplaceable", "analytics_unplaceable", "t.reported_at < $1", window),
        Rule("analytics_notifications", "analytics_notifications", "t.at < $1", window),
        # failed_at is when the consumer wrote the dead letter: real time.
        Rule("analytics_dead_letters", "analytics_dead_letters", "t.failed_at < $1", window, clock=REAL_TIME),
        Rule("health_changes", "health_changes", "t.changed_at < $1", window),
        Rule("ops_actions", "ops_actions", "t.requested_at < $1", window),  # requested_by names a person
        Rule("api_tokens", "api_tokens", "coalesce(least(t.revoked_at, t.expires_at), t.expires_at) < $1",
             keep.days("token"), clock=REAL_TIME),
        Rule("feedback comments", "feedback", "t.comment IS NOT NULL AND t.submitted_at < $1", keep.days("comment"),
             clear="comment = NULL"),
    ]
