"""The event catalogue: one pydantic model per event's `data`, grouped by topic.

Events are named in the past tense; commands (`*.requested`, the portal's answers and attendance)
are orders from outside. `key` names the field used as the Kafka message key, so one person's or
one pair's events stay in order.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import topics
from shared.contracts.profile import ParticipantProfile


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    key: ClassVar[str]

    def key_value(self) -> str:
        return str(getattr(self, self.key))


# --- participants.v1 (upstream -> all) -------------------------------------------------------

class ParticipantOnboarded(ParticipantProfile, EventData):
    """Someone joins a program: their full profile."""

    key = "participant_id"


class ParticipantUpdated(ParticipantProfile, EventData):
    """The full, current profile; it replaces the previous one."""

    key = "participant_id"


class ParticipantOffboarded(EventData):
    key = "participant_id"
    participant_id: str = Field(min_length=1)
    program_id: str = Field(min_length=1)
    reason: str = "offboarded"


# --- match-requests.v1 (portal/admin -> matching) --------------------------------------------

class MatchRequested(EventData):
    key = "mentee_id"
    mentee_id: str = Field(min_length=1)
    program_id: str = Field(min_length=1)


class CohortRoundRequested(EventData):
    key = "program_id"
    program_id: str = Field(min_length=1)
    round_id: str | None = None
    # Which mentees take part: all unmatched mentees of the program when omitted.
    mentee_ids: list[str] | None = None


# --- match-responses.v1 (portal -> matching) --------------------------------------------------

class ProposalAccepted(EventData):
    """The mentor accepts a proposal."""

    key = "participant_id"
    proposal_id: str = Field(min_length=1)
    participant_id: str = Field(min_length=1)


class ProposalDeclined(EventData):
    """The mentor declines a proposal (the answer; matching then publishes `match.declined` on matches.v1)."""

    key = "participant_id"
    proposal_id: str = Field(min_length=1)
    participant_id: str = Field(min_length=1)
    reason: str | None = None


# --- matches.v1 (matching ->) -----------------------------------------------------------------

class MatchProposed(EventData):
    key = "mentee_id"
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    score: float
    explanation: dict[str, Any]
    expires_at: AwareDatetime
    round_id: str | None = None


class MatchEstablished(EventData):
    key = "relationship_id"
    relationship_id: str
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    established_at: AwareDatetime
    goals: list[str] = []


class MatchDeclined(EventData):
    key = "mentee_id"
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    reason: str | None = None


class MatchExpired(EventData):
    key = "mentee_id"
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    expired_at: AwareDatetime


class MatchEnded(EventData):
    key = "relationship_id"
    relationship_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    reason: str
    ended_at: AwareDatetime


class MatchUnavailable(EventData):
    """No mentor can be proposed for this mentee now; `reason` says why in plain words."""

    key = "mentee_id"
    program_id: str
    mentee_id: str
    reason: str
    reason_code: str


# --- meeting-commands.v1 (portal -> scheduling) ----------------------------------------------

class MeetingRescheduleRequested(EventData):
    key = "relationship_id"
    meeting_id: str
    relationship_id: str
    requested_by: str
    # A proposed new start; when omitted, scheduling finds the next good slot.
    new_start: AwareDatetime | None = None
    reason: str | None = None


class MeetingCancelRequested(EventData):
    key = "relationship_id"
    meeting_id: str
    relationship_id: str
    requested_by: str
    reason: str | None = None


class MeetingAttendanceRecorded(EventData):
    key = "relationship_id"
    meeting_id: str
    relationship_id: str
    recorded_by: str
    # participant_id -> attended
    attendance: dict[str, bool] = Field(min_length=1)


# --- meetings.v1 (scheduling ->) --------------------------------------------------------------

class _Meeting(EventData):
    key = "relationship_id"
    meeting_id: str
    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    occurrence: int = Field(ge=1)
    start: AwareDatetime
    end: AwareDatetime


class MeetingScheduled(_Meeting):
    kind: Literal["kickoff", "recurring"] = "kickoff"
    sequence: int = 0
    ics: str


class MeetingRescheduled(_Meeting):
    previous_start: AwareDatetime
    sequence: int
    ics: str
    reason: str | None = None


class MeetingCancelled(_Meeting):
    sequence: int
    ics: str
    reason: str | None = None


class MeetingCompleted(_Meeting):
    pass


class MeetingMissed(_Meeting):
    absent: list[str]


class MeetingUnplaceable(EventData):
    """One occurrence of a series has no slot inside both people's hours."""

    key = "relationship_id"
    relationship_id: str
    program_id: str
    occurrence: int
    reason: str


class RelationshipUnschedulable(EventData):
    """The pair has no common window at all."""

    key = "relationship_id"
    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    reason: str


# --- reminders.v1 (scheduling -> notifications) ----------------------------------------------

class ReminderDue(EventData):
    key = "relationship_id"
    reminder_id: str
    meeting_id: str
    relationship_id: str
    participant_ids: list[str]
    meeting_start: AwareDatetime
    minutes_before: int


# --- feedback-submissions.v1 (portal -> feedback) --------------------------------------------

class FeedbackSubmitted(EventData):
    key = "relationship_id"
    feedback_id: str = Field(min_length=1)
    relationship_id: str = Field(min_length=1)
    participant_id: str = Field(min_length=1)
    meeting_id: str | None = None
    rating: int = Field(ge=1, le=5)
    # How much closer to their goals the person feels, 1-5.
    progress: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)
    goals_achieved: list[str] = []


# --- feedback.v1 (feedback ->) ----------------------------------------------------------------

class FeedbackRequested(EventData):
    key = "relationship_id"
    request_id: str
    relationship_id: str
    meeting_id: str
    participant_id: str
    role: Literal["mentor", "mentee"]
    due_at: AwareDatetime


class RelationshipHealthChanged(EventData):
    key = "relationship_id"
    relationship_id: str
    previous: str | None
    current: Literal["healthy", "watch", "at_risk"]
    score: float
    reasons: list[str] = []


class RelationshipAtRisk(EventData):
    key = "relationship_id"
    relationship_id: str
    score: float
    reasons: list[str]


class MilestoneAchieved(EventData):
    key = "relationship_id"
    relationship_id: str
    participant_id: str
    milestone: str


# --- notifications.v1 (notifications ->) -----------------------------------------------------

class NotificationDelivered(EventData):
    key = "recipient_id"
    notification_id: str
    recipient_id: str
    channel: str
    template: str
    language: str
    cause_event_id: str
    delivered_at: AwareDatetime


class NotificationFailed(EventData):
    key = "recipient_id"
    notification_id: str
    recipient_id: str
    channel: str
    template: str
    cause_event_id: str
    error: str
    attempts: int


CATALOGUE: dict[str, dict[str, type[EventData]]] = {
    topics.PARTICIPANTS: {
        "participant.onboarded": ParticipantOnboarded,
        "participant.updated": ParticipantUpdated,
        "participant.offboarded": ParticipantOffboarded,
    },
    topics.MATCH_REQUESTS: {
        "match.requested": MatchRequested,
        "cohort.round.requested": CohortRoundRequested,
    },
    topics.MATCH_RESPONSES: {
        "match.accepted": ProposalAccepted,
        "match.declined": ProposalDeclined,
    },
    topics.MATCHES: {
        "match.proposed": MatchProposed,
        "match.established": MatchEstablished,
        "match.declined": MatchDeclined,
        "match.expired": MatchExpired,
        "match.ended": MatchEnded,
        "match.unavailable": MatchUnavailable,
    },
    topics.MEETING_COMMANDS: {
        "meeting.reschedule.requested": MeetingRescheduleRequested,
        "meeting.cancel.requested": MeetingCancelRequested,
        "meeting.attendance.recorded": MeetingAttendanceRecorded,
    },
    topics.MEETINGS: {
        "meeting.scheduled": MeetingScheduled,
        "meeting.rescheduled": MeetingRescheduled,
        "meeting.cancelled": MeetingCancelled,
        "meeting.completed": MeetingCompleted,
        "meeting.missed": MeetingMissed,
        "meeting.unplaceable": MeetingUnplaceable,
        "relationship.unschedulable": RelationshipUnschedulable,
    },
    topics.REMINDERS: {"reminder.due": ReminderDue},
    topics.FEEDBACK_SUBMISSIONS: {"feedback.submitted": FeedbackSubmitted},
    topics.FEEDBACK: {
        "feedback.requested": FeedbackRequested,
        "relationship.health.changed": RelationshipHealthChanged,
        "relationship.at_risk": RelationshipAtRisk,
        "milestone.achieved": MilestoneAchieved,
    },
    topics.NOTIFICATIONS: {
        "notification.delivered": NotificationDelivered,
        "notification.failed": NotificationFailed,
    },
}


def model_for(topic: str, event_type: str) -> type[EventData] | None:
    return CATALOGUE.get(topic, {}).get(event_type)


def topic_of(model: type[EventData]) -> tuple[str, str]:
    """(topic, type) under which a data model travels."""
    for topic, types in CATALOGUE.items():
        for event_type, candidate in types.items():
            if candidate is model:
                return topic, event_type
    raise KeyError(f"{model.__name__} is not in the catalogue")
