"""Prometheus metrics shared by every service (each process serves its own /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "tandem_events_consumed_total",
    "Events taken from Kafka, by outcome: handled, duplicate (already in the inbox), ignored (not for this service), dead_lettered.",
    ["service", "topic", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "tandem_handler_seconds", "Time to apply one event, retries included.", ["service", "topic", "type"]
)
HANDLER_RETRIES = Counter(
    "tandem_handler_retries_total", "Handler attempts that failed and were retried.", ["service", "topic", "kind"]
)
DEAD_LETTERS = Counter(
    "tandem_dead_letters_total", "Messages sent to a dead-letter topic.", ["service", "topic", "error"]
)
OUTBOX_PUBLISHED = Counter("tandem_outbox_published_total", "Outbox events published to Kafka.", ["service", "topic"])
OUTBOX_REFUSED = Counter(
    "tandem_outbox_refused_total",
    "Outbox events Kafka refused for good (kept in the table, marked failed).",
    ["service", "topic"],
)
OUTBOX_PENDING = Gauge("tandem_outbox_pending", "Outbox events not yet published.", ["service"])
OUTBOX_LAG = Gauge("tandem_outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox event.", ["service"])
OUTBOX_FAILED_NOW = Gauge(
    "tandem_outbox_failed", "Outbox events refused for good and waiting for an operator (tandem outbox).", ["service"]
)
OUTBOX_BLOCKED = Gauge(
    "tandem_outbox_blocked", "Pending outbox events held back behind a failed event of the same key.", ["service"]
)
DEPRECATED_EVENT_TYPES = Counter(
    "tandem_deprecated_event_types_total",
    "Events received under a deprecated type string (an alias of a current type, docs/events.md), by topic and the type they came as.",
    ["topic", "type"],
)
