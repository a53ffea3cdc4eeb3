"""The people of a program as the services' domain code sees them: `Participant` and `Pair`.

These are internal types, deliberately apart from the wire models in `shared.contracts`: the edge
converts a validated `ParticipantProfile` once (`Participant.from_profile`), and what the services
store and reason about is this shape, not the upstream system's JSON. A new optional field on the
wire therefore changes nothing here until a service decides to use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.contracts.profile import ParticipantProfile, PersonTraits, parse_clock

ERASED_NAME = "(a former participant)"
ERASED_EMAIL = "erased@erased.invalid"
# The channels that write to a chat (`Communication.webhook_url`) rather than to the mailbox.
CHAT_CHANNELS = ("chat", "webhook", "slack", "teams")


@dataclass(frozen=True, slots=True)
class Window:
    """On each listed local weekday, from `start` to `end` on the person's own clock ("HH:MM").

    An `end` at or before `start` runs past midnight into the next day.
    """

    days: tuple[str, ...]
    start: str
    end: str
    # Minutes after the start day's midnight; `end_minute` goes beyond 1440 for windows that cross it.
    start_minute: int = field(init=False, compare=False)
    end_minute: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        start, end = parse_clock(self.start), parse_clock(self.end)
        object.__setattr__(self, "start_minute", start)
        object.__setattr__(self, "end_minute", end if end > start else end + 1440)


@dataclass(frozen=True, slots=True)
class Communication:
    """How a person wants to be reached: the pair's communication protocol."""

    channel: str = "email"  # email | chat | webhook
    style: str = "direct"  # direct | indirect: the tone of every message
    quiet_start: str | None = None
    quiet_end: str | None = None
    webhook_url: str | None = None
    response_time_hours: int = 48


@dataclass(frozen=True, slots=True)
class Choices:
    """How a person chose, on their preferences page, to be written to (`participant.preferences.changed`).

    The whole set as they left it: it replaces their previous choices and stands over what the
    profile says (`Participant.with_choices`), also after a later profile update from the HRIS.
    A `None` channel, locale or style is "as the profile says"; quiet hours are theirs as given,
    and both `None` is "no quiet hours" (not "as the profile says")."""

    changed_at: datetime
    muted: frozenset[str] = frozenset()  # reminders | checkins | nudges
    channel: str | None = None  # email | chat
    quiet_start: str | None = None
    quiet_end: str | None = None
    locale: str | None = None
    style: str | None = None  # direct | indirect

    @classmethod
    def from_event(cls, event) -> Choices:
        """From a validated `ParticipantPreferencesChanged`."""
        quiet = event.quiet_hours
        return cls(
            changed_at=event.changed_at,
            muted=frozenset(event.muted),
            channel=event.channel,
            quiet_start=quiet.start if quiet else None,
            quiet_end=quiet.end if quiet else None,
            locale=event.locale,
            style=event.style,
        )

    def channel_over(self, profile: Communication) -> str:
        """The channel once these choices stand over the profile's: "email" forces e-mail; "chat"
        takes effect only where the profile gives a chat address (`webhook_url`), in the profile's
        own chat kind (slack, teams, webhook) or, when the profile's channel is e-mail, the kind the
        address's host implies ("chat"); without an address the profile's channel stays."""
        if self.channel == "email":
            return "email"
        if self.channel == "chat" and profile.webhook_url:
            return profile.channel if profile.channel in CHAT_CHANNELS else "chat"
        return profile.channel


@dataclass(frozen=True, slots=True)
class Participant(PersonTraits):
    participant_id: str
    program_id: str
    roles: tuple[str, ...]
    name: str
    email: str
    locale: str
    languages: tuple[str, ...]
    timezone: str
    country: str
    region: str
    sector: str
    seniority: int
    department: str | None = None
    manager_id: str | None = None
    skills: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    mentor_capacity: int = 0
    diverse_perspective: bool = False
    availability: tuple[Window, ...] = ()
    communication: Communication = field(default_factory=Communication)
    active: bool = True
    erased: bool = False  # forgotten on request: only pseudonymous fields are left
    # Kinds of message the person no longer wants (reminders, checkins, nudges): their own choice.
    muted: frozenset[str] = frozenset()
    # The person's own choices laid over the profile (`with_choices`), None when they made none:
    # `communication` and `locale` above are then already as they chose.
    choices: Choices | None = None

    @classmethod
    def from_profile(cls, profile: ParticipantProfile) -> Participant:
        """The edge: a validated wire profile to the domain's own type."""
        comm = profile.communication
        quiet = comm.quiet_hours
        return cls(
            participant_id=profile.participant_id,
            program_id=profile.program_id,
            roles=tuple(profile.roles),
            name=profile.name,
            email=profile.email,
            locale=profile.locale,
            languages=tuple(profile.languages),
            timezone=profile.timezone,
            country=profile.country,
            region=profile.region,
            sector=profile.sector,
            seniority=profile.seniority,
            department=profile.department,
            manager_id=profile.manager_id,
            skills=tuple(profile.skills),
            goals=tuple(profile.goals),
            mentor_capacity=profile.mentor_capacity,
            diverse_perspective=profile.preferences.diverse_perspective,
            availability=tuple(Window(tuple(w.days), w.start, w.end) for w in profile.availability),
            communication=Communication(
                channel=comm.channel,
                style=comm.style,
                quiet_start=quiet.start if quiet else None,
                quiet_end=quiet.end if quiet else None,
                webhook_url=comm.webhook_url,
                response_time_hours=comm.response_time_hours,
            ),
        )

    def with_(self, **changes) -> Participant:
        return replace(self, **changes)

    def with_choices(self, choices: Choices | None) -> Participant:
        """This profile as the person chose to be written to: channel, quiet hours, language and
        tone from their choices where they made one, and what they muted. Apply it to the profile
        (not to a participant that already carries choices)."""
        if choices is None:
            return self
        comm = self.communication
        return replace(
            self,
            locale=choices.locale or self.locale,
            muted=choices.muted,
            choices=choices,
            communication=replace(
                comm,
                channel=choices.channel_over(comm),
                style=choices.style or comm.style,
                quiet_start=choices.quiet_start,
                quiet_end=choices.quiet_end,
            ),
        )

    def forgotten(self) -> Participant:
        """What may be kept once the person asked to be forgotten: their pseudonymous id, program,
        roles, region and sector (for counts); nothing that names, reaches or describes them."""
        return Participant(
            participant_id=self.participant_id,
            program_id=self.program_id,
            roles=self.roles,
            name=ERASED_NAME,
            email=ERASED_EMAIL,
            locale="en",
            languages=(),
            timezone="UTC",
            country="ZZ",
            region=self.region,
            sector=self.sector,
            seniority=self.seniority,
            active=False,
            erased=True,
        )

    def personal_strings(self) -> tuple[str, ...]:
        """What would identify this person in a text: used to scrub stored messages about them."""
        return tuple(s for s in (self.name, self.email) if s and not self.erased)


@dataclass(frozen=True, slots=True)
class Pair:
    """A mentoring relationship as the services that follow matching know it."""

    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    established_at: datetime
    goals: tuple[str, ...] = ()
    status: str = "active"  # active | ended
    ended_at: datetime | None = None
    end_reason: str | None = None

    @property
    def members(self) -> tuple[str, str]:
        return self.mentor_id, self.mentee_id

    def includes(self, participant_id: str) -> bool:
        return participant_id in (self.mentor_id, self.mentee_id)

    def other(self, participant_id: str) -> str:
        return self.mentee_id if participant_id == self.mentor_id else self.mentor_id

    def role_of(self, participant_id: str) -> str:
        return "mentor" if participant_id == self.mentor_id else "mentee"

    @property
    def active(self) -> bool:
        return self.status == "active"
