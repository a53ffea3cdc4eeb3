"""How long Kafka keeps each topic, and therefore how long every inbox must remember an event id.

This is the one place both come from: `tandem topics` sets `retention.ms` from `topic_retention`,
and every service's purge keeps an inbox row for `inbox_keep(topic)`, its topic's retention plus a
margin. An event can be read again (a new consumer group, an offset reset, a replay) for as long as
its topic holds it; the inbox must still know it then, or it is applied twice. docs/privacy.md has
the table and the reasons.
"""

from __future__ import annotations

from datetime import timedelta

from shared.contracts import topics

DAY = timedelta(days=1)

# Topics that carry people's details or own words: profiles (names, e-mail addresses, goals), the
# program team's contacts, invites, feedback comments and progress on goals, notes, reasons and
# agreements (goals, where a pair meets). Long enough to ride out an outage of a week; short enough
# to forget.
PERSONAL = 7 * DAY
# Topics of ids, codes and times: a month for replays and audits.
IDS_ONLY = 30 * DAY
# Dead letters hold the original bytes: two weeks for an operator to fix the cause and replay.
DEAD_LETTERS = 14 * DAY
# privacy.v1 is the audit trail of erasures (ids and times only): kept for more than a year.
AUDIT_TRAIL = 400 * DAY

_BY_TOPIC: dict[str, timedelta] = {
    topics.PROGRAMS: PERSONAL,  # program.configured names the ops contacts
    topics.PARTICIPANTS: PERSONAL,
    topics.MATCH_REQUESTS: IDS_ONLY,
    topics.MATCH_RESPONSES: PERSONAL,  # a decline's reason in the mentor's words
    topics.MATCHES: PERSONAL,  # match.established carries the pair's goals
    topics.RELATIONSHIP_COMMANDS: PERSONAL,  # notes, agreements with goals and a place, who asked
    topics.MEETING_COMMANDS: PERSONAL,  # why a meeting is moved or cancelled, in the person's words
    topics.MEETINGS: PERSONAL,  # invites (attendees' names and addresses), a meeting's location
    topics.REMINDERS: IDS_ONLY,
    topics.FEEDBACK_SUBMISSIONS: PERSONAL,  # comments, progress on goals in the person's words
    topics.FEEDBACK: PERSONAL,  # goal.achieved names the goal
    topics.NOTIFICATIONS: IDS_ONLY,
    topics.PRIVACY: AUDIT_TRAIL,
    topics.MATCH_WORK: IDS_ONLY,
}
assert set(_BY_TOPIC) == set(topics.ALL), "every topic needs a retention"

# Kafka deletes a whole segment once its newest record is past the retention, so a record can
# outstay the retention by up to a segment's span: every topic rolls a new segment daily
# (`segment.ms`), instead of the broker's default week, to keep that overstay to a day.
SEGMENT = 1 * DAY
# An inbox row outlives its topic's retention by a segment's span and two days more (the broker
# checks retention every few minutes; clocks differ).
INBOX_MARGIN = SEGMENT + 2 * DAY


def topic_retention(name: str) -> timedelta:
    """How long Kafka keeps `name` (a topic or a dead-letter topic, without the deployment's prefix)."""
    if name.endswith(topics.DLQ_SUFFIX):
        return DEAD_LETTERS
    return _BY_TOPIC[name]


def inbox_keep(name: str) -> timedelta:
    """How long an inbox remembers an event id taken from `name`."""
    return topic_retention(name) + INBOX_MARGIN


def retention_ms(name: str) -> int:
    return int(topic_retention(name) / timedelta(milliseconds=1))


def segment_ms() -> int:
    return int(SEGMENT / timedelta(milliseconds=1))


def all_topics() -> list[str]:
    return topics.all_with_dead_letters()


def longest_inbox_keep() -> timedelta:
    """For inbox rows of a topic this deployment no longer knows: kept as long as the longest."""
    return max(inbox_keep(name) for name in topics.all_with_dead_letters())
