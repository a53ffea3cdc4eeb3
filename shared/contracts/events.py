"""The event catalogue: one pydantic model per event's `data`, grouped by topic.

Naming rule, for every type string here and every one added later:
- an **event** is a fact, named in the past tense after what happened (`match.established`,
  `meeting.cancelled`), or after the state a service found (`match.unavailable`,
  `relationship.at_risk`: listed in `STATE_FACTS`). Only the service that owns the fact publishes it;
- a **command** is an order from outside, named `<thing>.<verb>.requested`
  (`meeting.cancel.requested`, `cohort.round.requested`); the portal's answers and records
  (`proposal.accepted`, `meeting.attendance.recorded`) are commands too: the owning service decides
  what they change, and may refuse them;
- every type string is unique across all topics, so a type names one meaning wherever it is read.

`key` names the field used as the Kafka message key, so one person's or one pair's events stay in
order. `topic_of(Model)` gives the topic and type a model travels under; subscription tables are
keyed by these classes.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts import topics
from shared.contracts.profile import ParticipantProfile, QuietHours, Style
from shared.contracts.program import ProgramSettingsFields
from shared.contracts.types import Id, Instant, Reason, ShortText, Term, Text, storable

DeclineReason = Literal["no_time", "outside_expertise", "conflict_of_interest", "other"]
EndReason = Literal["goals_reached", "not_a_good_fit", "no_time", "circumstances_changed", "other"]
MeetingPlace = Literal["video", "phone", "in_person"]


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    key: ClassVar[str]

    def key_value(self) -> str:
        return str(getattr(self, self.key))


class Event(EventData):
    """A fact: something that happened, published only by the service that owns it. A service
    observes it (`shared.subscriptions.on`) and changes nothing of the owner's."""


class Command(EventData):
    """An order, or a participant's answer, from outside: the owning service handles it
    (`shared.subscriptions.handle`), decides what it changes, and may refuse it. Commands travel
    on the command topics (`COMMAND_TOPICS`) and nowhere else."""


COMMAND_TOPICS = frozenset(
    {
        topics.MATCH_REQUESTS,
        topics.MATCH_RESPONSES,
        topics.RELATIONSHIP_COMMANDS,
        topics.MEETING_COMMANDS,
        topics.FEEDBACK_SUBMISSIONS,
        topics.MATCH_WORK,
    }
)


# --- programs.v1 (program team -> all) -------------------------------------------------------


class ProgramConfigured(ProgramSettingsFields, Event):
    """The full settings of one program; they replace the previous ones. A field left out takes the
    deployment's default."""

    key = "program_id"


# --- participants.v1 (upstream -> all) -------------------------------------------------------


class ParticipantOnboarded(ParticipantProfile, Event):
    """Someone joins a program: their full profile."""

    key = "participant_id"


class ParticipantUpdated(ParticipantProfile, Event):
    """The full, current profile; it replaces the previous one."""

    key = "participant_id"


class ParticipantOffboarded(Event):
    key = "participant_id"
    participant_id: Id
    program_id: Id
    reason: ShortText = "offboarded"


class ParticipantPreferencesChanged(Event):
    """A participant chose, on their preferences page (or in a portal), how Tandem writes to them.

    The whole set as they left it: it replaces their previous choices, and it stands over what a later
    profile update from the HRIS says about channel, quiet hours, language and tone."""

    key = "participant_id"
    participant_id: Id
    program_id: Id
    # Kinds of message they no longer want. Messages the relationship itself needs (a proposal, a
    # meeting booked, moved or cancelled) cannot be switched off.
    muted: list[Literal["reminders", "checkins", "nudges"]] = Field([], max_length=3)
    channel: Literal["email", "chat"] | None = None  # None: as the profile says
    quiet_hours: QuietHours | None = None
    locale: str | None = Field(None, min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    style: Style | None = None
    changed_at: Instant


class ParticipantErased(Event):
    """The person asked to be forgotten (GDPR art. 17): every service deletes or irreversibly
    anonymises what it holds about them, and says so on privacy.v1."""

    key = "participant_id"
    participant_id: Id
    program_id: Id
    requested_at: Instant


# --- match-requests.v1 (portal/admin -> matching) --------------------------------------------


class MatchRequested(Command):
    key = "mentee_id"
    mentee_id: Id
    program_id: Id


class CohortRoundRequested(Command):
    key = "program_id"
    program_id: Id
    round_id: Id | None = None
    # Which mentees take part: all unmatched mentees of the program when omitted.
    mentee_ids: list[Id] | None = Field(None, max_length=100_000)


# --- match-work.v1 (matching -> matching) ----------------------------------------------------


class MatchRequestQueued(Command):
    """Matching took a `match.requested` in and queued it for its program: keyed by the program, so
    one consumer applies all of a program's requests, in order, and replicas share out programs."""

    key = "program_id"
    program_id: Id
    mentee_id: Id
    request_id: Id  # the id of the match.requested it stands for


class ProfileChangeQueued(Command):
    """Matching stored a profile change (participant.onboarded/updated) and queued it for the
    program's consumer, which stamps it for every replica's index under the program's lock."""

    key = "program_id"
    program_id: Id
    participant_id: Id


# --- match-responses.v1 (portal -> matching) --------------------------------------------------


class ProposalAccepted(Command):
    """The mentor accepts a proposal."""

    key = "participant_id"
    proposal_id: Id
    participant_id: Id


class ProposalDeclined(Command):
    """The mentor declines a proposal (the answer; matching then publishes `match.declined`)."""

    key = "participant_id"
    proposal_id: Id
    participant_id: Id
    reason: ShortText | None = None
    # Why, as a code the program team can count: no_time, outside_expertise, conflict_of_interest, other.
    reason_code: DeclineReason | None = None


# --- matches.v1 (matching ->) -----------------------------------------------------------------


class MatchProposed(Event):
    key = "mentee_id"
    proposal_id: Id
    program_id: Id
    mentee_id: Id
    mentor_id: Id
    score: float
    explanation: Annotated[dict[str, Any], AfterValidator(storable)]
    expires_at: Instant
    round_id: Id | None = None


class MatchEstablished(Event):
    key = "relationship_id"
    relationship_id: Id
    proposal_id: Id
    program_id: Id
    mentee_id: Id
    mentor_id: Id
    established_at: Instant
    goals: list[Term] = Field([], max_length=50)


class MatchDeclined(Event):
    key = "mentee_id"
    proposal_id: Id
    program_id: Id
    mentee_id: Id
    mentor_id: Id
    reason: ShortText | None = None
    reason_code: DeclineReason | None = None  # the mentor's, when they gave one


class MatchExpired(Event):
    key = "mentee_id"
    proposal_id: Id
    program_id: Id
    mentee_id: Id
    mentor_id: Id
    expired_at: Instant


class MatchEnded(Event):
    """A relationship is over; `reason_code` says how (someone left, the program team ended it, ...)."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentee_id: Id
    mentor_id: Id
    reason: ShortText
    ended_at: Instant
    reason_code: Literal["participant_left", "ended_on_request", "term_completed"] = "participant_left"
    # Who asked for the end (a participant id, or the program team's user); None when no one did.
    requested_by: Id | None = None
    # Who left, when `reason_code` is participant_left (the one who stays is the other).
    leaver_id: Id | None = None


class RelationshipEndScheduled(Event):
    """The relationship's term ends on `ends_at` (about a week from now): time for a heads-up."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    ends_at: Instant


class MatchUnavailable(Event):
    """No mentor can be proposed for this mentee now; `reason` says why in plain words. A request for
    a mentee who needs no new mentor now is answered with it too: `reason_code` `already_matched`
    (they have as many mentors as they may) or `awaiting_answer` (a mentor is considering a proposal
    for them). Those two mean "not unmatched": nobody is told they lack a mentor."""

    key = "mentee_id"
    program_id: Id
    mentee_id: Id
    reason: ShortText
    reason_code: Term
    reason_params: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict, max_length=20)


# --- relationship-commands.v1 (program team, portal -> matching, notifications) ---------------


class RelationshipEndRequested(Command):
    """End a relationship now: matching ends it (`match.ended`) and frees the mentor's place."""

    key = "relationship_id"
    relationship_id: Id
    requested_by: Id
    reason: ShortText = Field(min_length=1)
    # Propose the mentee a new mentor right away.
    rematch: bool = False
    # Never propose these two to each other again.
    do_not_pair_again: bool = False
    # Why, when one of the pair asks (from the link in a message): a code the program team can count.
    reason_code: EndReason | None = None


class RelationshipAgreementRecorded(Command):
    """One person of a pair confirmed or adjusted their mentoring agreement: how often and how long
    they meet, where, how soon each answers, the mentee's goals in their own words, and boundaries.

    The latest answer of either person stands for the pair; scheduling honours it over the program's
    defaults for the meetings it places from then on."""

    key = "relationship_id"
    relationship_id: Id
    participant_id: Id
    cadence_days: int = Field(ge=1, le=90)
    duration_minutes: int = Field(ge=15, le=240)
    place: MeetingPlace = "video"
    # Where, for phone or in person (a room, an address); never shown to anyone but the pair.
    place_details: ShortText | None = None
    # How soon this person commits to answer the other.
    response_time_hours: int = Field(ge=1, le=24 * 14)
    # The mentee's goals in their own words, most important first (the mentor's answer leaves them out).
    goals: list[Term] = Field([], max_length=10)
    boundaries: Text | None = Field(None, max_length=2000)
    recorded_at: Instant


class RelationshipNudgeRequested(Command):
    """Send both people of a relationship a friendly nudge (with the team's note, if any)."""

    key = "relationship_id"
    relationship_id: Id
    requested_by: Id
    note: Text | None = Field(None, max_length=1000)


# --- meeting-commands.v1 (portal -> scheduling) ----------------------------------------------


class MeetingRescheduleRequested(Command):
    key = "relationship_id"
    meeting_id: Id
    relationship_id: Id
    requested_by: Id
    # A proposed new start; when omitted, scheduling finds the next good slot.
    new_start: Instant | None = None
    reason: ShortText | None = None


class MeetingCancelRequested(Command):
    key = "relationship_id"
    meeting_id: Id
    relationship_id: Id
    requested_by: Id
    reason: ShortText | None = None
    # Why, as a code each reader's message can word: conflict, unwell, not_needed, other.
    reason_code: Literal["conflict", "unwell", "not_needed", "other"] | None = None


class MeetingAttendanceRecorded(Command):
    key = "relationship_id"
    meeting_id: Id
    relationship_id: Id
    recorded_by: Id
    # participant_id -> attended
    attendance: dict[Id, bool] = Field(min_length=1, max_length=2)


# --- meetings.v1 (scheduling ->) --------------------------------------------------------------


class _Meeting(Event):
    key = "relationship_id"
    meeting_id: Id
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    occurrence: int = Field(ge=1)
    start: Instant
    end: Instant


class MeetingScheduled(_Meeting):
    kind: Literal["kickoff", "recurring"] = "kickoff"
    sequence: int = 0
    ics: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(storable)]
    # Other starts inside both people's hours, offered to whoever cannot make this one.
    alternatives: list[Instant] = Field([], max_length=5)
    place: MeetingPlace | None = None
    # The video link, or where they meet; also the invite's LOCATION.
    location: ShortText | None = None


class MeetingRescheduled(_Meeting):
    previous_start: Instant
    sequence: int
    ics: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(storable)]
    reason: ShortText | None = None
    alternatives: list[Instant] = Field([], max_length=5)
    place: MeetingPlace | None = None
    location: ShortText | None = None
    # Who asked for the move (`meeting.reschedule.requested`'s `requested_by`: one of the pair, or
    # "ops:<user>" for the program team); None when scheduling moved it itself, or from an older producer.
    requested_by: Id | None = None


class MeetingCancelled(_Meeting):
    sequence: int
    ics: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(storable)]
    reason: ShortText | None = None
    reason_code: Reason | None = None  # why, for each reader's language


class MeetingCompleted(_Meeting):
    pass


class MeetingMissed(_Meeting):
    absent: list[Id] = Field(max_length=2)


class MeetingUnplaceable(Event):
    """One occurrence of a series has no slot inside both people's hours."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    occurrence: int
    reason: ShortText


class RelationshipUnschedulable(Event):
    """The pair has no common window at all."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    reason: ShortText


# --- reminders.v1 (scheduling -> notifications) ----------------------------------------------


class ReminderDue(Event):
    key = "relationship_id"
    reminder_id: Id
    meeting_id: Id
    relationship_id: Id
    participant_ids: list[str]
    meeting_start: Instant
    minutes_before: int


# --- feedback-submissions.v1 (portal -> feedback) --------------------------------------------


class FeedbackSubmitted(Command):
    """A person's answer to a feedback request: after a meeting, at a check-in, or at the end."""

    key = "relationship_id"
    feedback_id: Id
    relationship_id: Id
    participant_id: Id
    kind: Literal["meeting", "checkin", "closure"] = "meeting"
    meeting_id: Id | None = None
    request_id: Id | None = None  # the request it answers, when known
    rating: int = Field(ge=1, le=5)
    # How much closer to their goals the person feels, 1-5.
    progress: int | None = Field(default=None, ge=1, le=5)
    comment: Text | None = None
    goals_achieved: list[Term] = Field([], max_length=50)
    # After the first meeting: is this a good fit? "not_good" tells the program team, and the mentee
    # is offered a new mentor.
    fit: Literal["good", "not_good", "unsure"] | None = None


class GoalProgressRecorded(Command):
    """How far a relationship has come on one of its goals, 0 to 100 (100: achieved)."""

    key = "relationship_id"
    relationship_id: Id
    participant_id: Id
    goal: Term = Field(min_length=1)
    progress: int = Field(ge=0, le=100)
    note: ShortText | None = None


# --- feedback.v1 (feedback ->) ----------------------------------------------------------------


class FeedbackRequested(Event):
    """A person is asked for feedback: about a meeting, at a check-in, or at the end (closure).
    `reminder` is true for the one reminder an unanswered check-in gets."""

    key = "relationship_id"
    request_id: Id
    relationship_id: Id
    participant_id: Id
    role: Literal["mentor", "mentee"]
    due_at: Instant
    kind: Literal["meeting", "checkin", "closure"] = "meeting"
    meeting_id: Id | None = None
    reminder: bool = False


class GoalProgress(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    goal: Term
    progress: int = Field(ge=0, le=100)


class RelationshipHealthChanged(Event):
    key = "relationship_id"
    relationship_id: Id
    previous: Term | None
    current: Literal["healthy", "watch", "at_risk"]
    score: float
    reasons: list[ShortText] = Field([], max_length=20)  # in English, for logs and tools
    reason_codes: list[Reason] = Field([], max_length=20)  # the same, for each reader's language


class RelationshipAtRisk(Event):
    key = "relationship_id"
    relationship_id: Id
    score: float
    reasons: list[ShortText] = Field(max_length=20)
    reason_codes: list[Reason] = Field([], max_length=20)


class MilestoneAchieved(Event):
    key = "relationship_id"
    relationship_id: Id
    participant_id: Id
    milestone: Term
    goal: Term | None = None  # the relationship's goal it belongs to


class GoalAchieved(Event):
    """A relationship's goal reached 100: both people are congratulated, the program team sees it."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    goal: Term
    achieved_at: Instant


class RelationshipFitQuestioned(Event):
    """Someone of a pair answered that it is not a good fit: the program team hears of it, and the
    mentee is offered a new mentor."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    participant_id: Id  # who said so
    questioned_at: Instant


class RelationshipMeetingsMissed(Event):
    """Meetings in a row did not happen (two or more): both people get a kind, non-blaming nudge."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    consecutive: int = Field(ge=2)


class RelationshipConcluded(Event):
    """A relationship has ended, with what it achieved: for the closing celebration (and, when the
    term was mostly served, a certificate)."""

    key = "relationship_id"
    relationship_id: Id
    program_id: Id
    mentor_id: Id
    mentee_id: Id
    reason_code: Literal["participant_left", "ended_on_request", "term_completed"]
    established_at: Instant
    ended_at: Instant
    meetings_held: int = Field(ge=0)
    goals: list[GoalProgress] = Field([], max_length=50)
    milestones: list[Term] = Field([], max_length=50)
    term_served: float = Field(ge=0)  # share of the planned term, 1.0 = all of it
    certificate: bool


# --- notifications.v1 (notifications ->) -----------------------------------------------------


class NotificationDelivered(Event):
    key = "recipient_id"
    notification_id: Id
    recipient_id: Id
    channel: Term
    template: Term
    language: Term
    cause_event_id: Id
    delivered_at: Instant


class NotificationFailed(Event):
    key = "recipient_id"
    notification_id: Id
    recipient_id: Id
    channel: Term
    template: Term
    cause_event_id: Id
    error: ShortText
    attempts: int


# --- privacy.v1 (every service -> the audit trail) ---------------------------------------------


class ParticipantErasureCompleted(Event):
    """One service has forgotten a person: their personal data is deleted or anonymised there."""

    key = "participant_id"
    participant_id: Id
    service: Term
    completed_at: Instant


CATALOGUE: dict[str, dict[str, type[EventData]]] = {
    topics.PROGRAMS: {"program.configured": ProgramConfigured},
    topics.PARTICIPANTS: {
        "participant.onboarded": ParticipantOnboarded,
        "participant.updated": ParticipantUpdated,
        "participant.offboarded": ParticipantOffboarded,
        "participant.erased": ParticipantErased,
        "participant.preferences.changed": ParticipantPreferencesChanged,
    },
    topics.MATCH_REQUESTS: {
        "match.requested": MatchRequested,
        "cohort.round.requested": CohortRoundRequested,
    },
    topics.MATCH_RESPONSES: {
        "proposal.accepted": ProposalAccepted,
        "proposal.declined": ProposalDeclined,
    },
    topics.MATCHES: {
        "match.proposed": MatchProposed,
        "match.established": MatchEstablished,
        "match.declined": MatchDeclined,
        "match.expired": MatchExpired,
        "match.ended": MatchEnded,
        "relationship.end.scheduled": RelationshipEndScheduled,
        "match.unavailable": MatchUnavailable,
    },
    topics.RELATIONSHIP_COMMANDS: {
        "relationship.end.requested": RelationshipEndRequested,
        "relationship.nudge.requested": RelationshipNudgeRequested,
        "relationship.agreement.recorded": RelationshipAgreementRecorded,
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
    topics.FEEDBACK_SUBMISSIONS: {
        "feedback.submitted": FeedbackSubmitted,
        "goal.progress.recorded": GoalProgressRecorded,
    },
    topics.FEEDBACK: {
        "feedback.requested": FeedbackRequested,
        "relationship.health.changed": RelationshipHealthChanged,
        "relationship.at_risk": RelationshipAtRisk,
        "milestone.achieved": MilestoneAchieved,
        "goal.achieved": GoalAchieved,
        "relationship.meetings.missed": RelationshipMeetingsMissed,
        "relationship.fit.questioned": RelationshipFitQuestioned,
        "relationship.concluded": RelationshipConcluded,
    },
    topics.NOTIFICATIONS: {
        "notification.delivered": NotificationDelivered,
        "notification.failed": NotificationFailed,
    },
    topics.PRIVACY: {"participant.erasure.completed": ParticipantErasureCompleted},
    topics.MATCH_WORK: {"match.request.queued": MatchRequestQueued, "profile.change.queued": ProfileChangeQueued},
}


# Facts named after the state found rather than after a change (see the naming rule above).
STATE_FACTS = frozenset(
    {"match.unavailable", "meeting.unplaceable", "relationship.unschedulable", "relationship.at_risk", "reminder.due"}
)

# Model -> (topic, type): the reverse of the catalogue.
ROUTES: dict[type[EventData], tuple[str, str]] = {
    model: (topic, event_type) for topic, types in CATALOGUE.items() for event_type, model in types.items()
}


# Type strings an earlier docs/events.md published, still read as today's events: topic -> {old type ->
# current type}. Deprecated: consumers take them as the current type (same data) and count each use
# (`tandem_deprecated_event_types_total`); publishers should move to the current type. An alias names
# one event on its own topic only (`match.declined` on matches.v1 is another event, the fact).
DEPRECATED_ALIASES: dict[str, dict[str, str]] = {
    topics.MATCH_RESPONSES: {
        "match.accepted": "proposal.accepted",  # the mentor's answers until they were renamed
        "match.declined": "proposal.declined",
    },
}


def canonical_type(topic: str, event_type: str) -> str:
    """The current type a type string names on a topic: itself, or what a deprecated alias stands for."""
    return DEPRECATED_ALIASES.get(topic, {}).get(event_type, event_type)


def is_deprecated_alias(topic: str, event_type: str) -> bool:
    return event_type in DEPRECATED_ALIASES.get(topic, {})


def model_for(topic: str, event_type: str) -> type[EventData] | None:
    """The data model of a type on a topic, deprecated aliases included; None when the topic has no such type."""
    return CATALOGUE.get(topic, {}).get(canonical_type(topic, event_type))


def topic_of(model: type[EventData]) -> tuple[str, str]:
    """(topic, type) under which a data model travels."""
    try:
        return ROUTES[model]
    except KeyError:
        raise KeyError(f"{model.__name__} is not in the catalogue") from None


def type_of(model: type[EventData]) -> str:
    return topic_of(model)[1]
