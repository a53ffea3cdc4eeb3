"""The participant profile: the onboarding contract every upstream system and offline tool uses.

Availability windows are wall-clock times in the person's own IANA zone; `shared.availability`
turns them into UTC instants.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.types import Id, Name, Refusal, Term, WebhookUrl, storable

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Role = Literal["mentor", "mentee"]
# chat: the format the webhook's host implies; webhook: Standard Webhooks (signed JSON); slack, teams:
# those platforms' incoming-webhook formats.
Channel = Literal["email", "chat", "webhook", "slack", "teams"]
Style = Literal["direct", "indirect"]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_clock(value: str) -> int:
    """'HH:MM' (00:00..24:00) as minutes after local midnight."""
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise Refusal("expected a wall-clock time 'HH:MM' between 00:00 and 24:00")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _valid_clock(value: str) -> str:
    parse_clock(value)
    return value


# A wall-clock time "HH:MM" on the person's own clock.
Clock = Annotated[str, AfterValidator(_valid_clock)]


class _Model(BaseModel):
    # Upstream systems may send fields we do not know yet; they are ignored, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True)


class AvailabilityWindow(_Model):
    """On each listed local weekday, from `start` to `end` local time.

    An `end` at or before `start` runs past midnight into the next day (e.g. 22:00-02:00).
    """

    days: tuple[Weekday, ...] = Field(min_length=1, max_length=7)
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _well_formed(self) -> AvailabilityWindow:
        if self.start == "24:00":
            raise Refusal("availability window cannot start at 24:00; use 00:00 of the next day")
        if parse_clock(self.start) == parse_clock(self.end):
            raise Refusal(
                f"availability window {self.start}-{self.end} is ambiguous: start equals end "
                "(a whole day is 00:00-24:00)"
            )
        return self

    @property
    def start_minute(self) -> int:
        return parse_clock(self.start)

    @property
    def end_minute(self) -> int:
        """Minutes after the start day's midnight; beyond 1440 for windows that cross midnight."""
        start, end = parse_clock(self.start), parse_clock(self.end)
        return end if end > start else end + 1440


class QuietHours(_Model):
    start: Clock
    end: Clock


class Communication(_Model):
    channel: Channel = "email"
    style: Style = "direct"
    quiet_hours: QuietHours | None = None
    # Where chat/webhook messages go; e-mail is always the fallback.
    webhook_url: WebhookUrl | None = None
    # The response time this person commits to, part of the pair's communication protocol.
    response_time_hours: int = Field(default=48, ge=1, le=24 * 14)


class Preferences(_Model):
    diverse_perspective: bool = False


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    """Whether `name` is an IANA zone here. Remembered: zoneinfo itself keeps only a few zones loaded,
    and reading a profile would load its zone from disk again and again."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class PersonTraits:
    """What a person's roles, locale and time zone tell, alike for the wire profile and the replica's
    `Participant` (shared/people.py). It holds no fields (the classes built on it do), so it serves a
    pydantic model and a slotted dataclass alike."""

    __slots__ = ()
    if TYPE_CHECKING:
        roles: tuple[str, ...]
        locale: str
        timezone: str

    @property
    def is_mentor(self) -> bool:
        return "mentor" in self.roles

    @property
    def is_mentee(self) -> bool:
        return "mentee" in self.roles

    @property
    def language(self) -> str:
        """The language for messages to this person: the primary subtag of the locale."""
        return self.locale.replace("_", "-").split("-")[0].lower()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ParticipantProfile(_Model, PersonTraits):
    participant_id: Id
    program_id: Id
    roles: tuple[Role, ...] = Field(min_length=1, max_length=2)
    name: Name
    email: str = Field(max_length=320)
    locale: str = Field("en", min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    languages: tuple[Term, ...] = Field(min_length=1, max_length=20)
    timezone: str = Field(max_length=64)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")
    region: Term = Field(min_length=1)
    sector: Term = Field(min_length=1)
    department: Term | None = None
    manager_id: Id | None = None
    seniority: int = Field(ge=1, le=10)
    skills: tuple[Term, ...] = Field((), max_length=50)
    goals: tuple[Term, ...] = Field((), max_length=20)
    mentor_capacity: int = Field(default=0, ge=0, le=50)
    preferences: Preferences = Preferences()
    availability: tuple[AvailabilityWindow, ...] = Field((), max_length=50)
    communication: Communication = Communication()

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise Refusal("not an e-mail address")  # the value itself stays out of reasons and logs
        return storable(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not _known_zone(value):
            raise Refusal("unknown IANA time zone")
        return value

    @field_validator("languages", "skills", "goals")
    @classmethod
    def _normalise_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Terms are compared case-insensitively; keep order, drop duplicates.
        seen: dict[str, None] = {}
        for term in value:
            term = term.strip().lower()
            if term:
                seen.setdefault(term, None)
        return tuple(seen)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return value.upper()
