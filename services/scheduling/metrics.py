"""Scheduling's own Prometheus metrics (the shared ones cover consuming and the outbox)."""

from prometheus_client import Counter, Histogram

MEETINGS_SCHEDULED = Counter("tandem_meetings_scheduled_total", "Meetings placed, by kind.", ["kind"])
MEETINGS_UNPLACEABLE = Counter("tandem_meetings_unplaceable_total", "Occurrences with no slot in both people's hours.")
REMINDERS_FIRED = Counter("tandem_reminders_fired_total", "reminder.due events emitted.")
REMINDERS_LATE = Counter("tandem_reminders_late_total", "Reminders dropped because their meeting had already begun.")
REMINDER_LATENESS = Histogram(
    "tandem_reminder_lateness_seconds", "Real seconds between a reminder's due time and its firing.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
