"""Notifications' own Prometheus metrics (the shared ones are in shared/metrics.py)."""

from prometheus_client import Counter

LOCALE_FALLBACKS = Counter(
    "tandem_notifications_locale_fallbacks_total",
    "Messages written in English because the reader's locale is not one (unknown) or its language has no "
    "catalogue (untranslated).",
    ["reason"],
)
