"""Topic names. Every topic is versioned; every input topic has a dead-letter twin `<topic>.dlq`."""

from __future__ import annotations

PARTICIPANTS = "participants.v1"
MATCH_REQUESTS = "match-requests.v1"
MATCH_RESPONSES = "match-responses.v1"
MATCHES = "matches.v1"
MEETING_COMMANDS = "meeting-commands.v1"
MEETINGS = "meetings.v1"
REMINDERS = "reminders.v1"
FEEDBACK_SUBMISSIONS = "feedback-submissions.v1"
FEEDBACK = "feedback.v1"
NOTIFICATIONS = "notifications.v1"
PROGRAMS = "programs.v1"
PRIVACY = "privacy.v1"
RELATIONSHIP_COMMANDS = "relationship-commands.v1"
# Matching's own queue: on-demand requests and profile changes again, keyed by their program, so one
# consumer owns a program's proposals (services/matching/service_layer/handlers.py).
MATCH_WORK = "match-work.v1"

ALL = (
    PROGRAMS,
    PARTICIPANTS,
    MATCH_REQUESTS,
    MATCH_RESPONSES,
    MATCHES,
    RELATIONSHIP_COMMANDS,
    MEETING_COMMANDS,
    MEETINGS,
    REMINDERS,
    FEEDBACK_SUBMISSIONS,
    FEEDBACK,
    NOTIFICATIONS,
    PRIVACY,
    MATCH_WORK,
)

DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


def all_with_dead_letters() -> list[str]:
    """Every topic and its dead-letter twin (any topic may be an input to some consumer)."""
    return [name for topic in ALL for name in (topic, dlq(topic))]
