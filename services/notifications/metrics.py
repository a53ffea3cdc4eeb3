"""Notifications' own Prometheus metrics (the shared ones are in shared/metrics.py)."""

from prometheus_client import Counter

LOCALE_FALLBACKS = Counter(
    "tandem_notifications_locale_fallbacks_total",
    "Messages written in English because the reader's locale is not one (unknown) or its language has no "
    "catalogue (untranslated).",
    ["reason"],
)

LINK_ACTS = Counter(
    "tandem_notifications_link_acts_total",
    "Participants' acts through the action links in their messages (a page's button, or one-click unsubscribe), "
    "by subject and action (proposal.answer, meeting.change, ...).",
    ["action"],
)
