"""The program's settings, as a program team publishes them on programs.v1 (`program.configured`).

Every field but `program_id` and `name` may be left out; a missing field takes the deployment's
default (the services' environment). A new `program.configured` replaces the previous settings
whole, and applies to work not yet done: the next proposal, the next meeting placed, the next
reminder created.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.contracts.profile import Channel
from shared.contracts.types import Id, Name, Refusal, WebhookUrl, storable

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OpsContact(_Model):
    """Someone on the program team: alerts and the daily digest go to them, in their language."""

    name: Name
    email: Annotated[str, StringConstraints(max_length=320), AfterValidator(storable)]
    locale: str = Field("en", min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    channel: Channel = "email"
    webhook_url: WebhookUrl | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise Refusal("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _chat_needs_a_hook(self) -> OpsContact:
        if self.channel != "email" and not self.webhook_url:
            raise Refusal(f"channel {self.channel!r} needs a webhook_url")
        return self


class MatchingWeights(_Model):
    """Relative importance of each part of a match's score; only the ratios matter."""

    goal_fit: float | None = Field(None, ge=0, le=100)
    availability: float | None = Field(None, ge=0, le=100)
    seniority: float | None = Field(None, ge=0, le=100)
    perspective: float | None = Field(None, ge=0, le=100)
    language: float | None = Field(None, ge=0, le=100)


class ProgramSettingsFields(_Model):
    program_id: Id
    name: Name
    # The program team's own zone: their daily digest arrives at 08:00 there.
    timezone: Annotated[str, StringConstraints(max_length=64), AfterValidator(storable)] | None = None
    ops_contacts: tuple[OpsContact, ...] | None = Field(None, max_length=50)
    cadence_days: int | None = Field(None, ge=1, le=90)
    duration_minutes: int | None = Field(None, ge=15, le=240)
    min_notice_hours: float | None = Field(None, ge=0, le=24 * 14)
    response_window_hours: float | None = Field(None, gt=0, le=24 * 30)
    min_overlap_hours: float | None = Field(None, ge=0, le=60)
    reminder_offsets_minutes: tuple[int, ...] | None = Field(None, max_length=5)
    matching_weights: MatchingWeights | None = None
    # The relationship's planned length, counted from its establishment.
    term_days: int | None = Field(None, ge=7, le=3 * 365)
    # Check-ins: both people are asked how it goes on these days after establishment.
    checkin_first_day: int | None = Field(None, ge=1, le=365)
    checkin_every_days: int | None = Field(None, ge=7, le=365)
    # The range a pair may choose in their mentoring agreement (how often, how long they meet).
    cadence_days_min: int | None = Field(None, ge=1, le=90)
    cadence_days_max: int | None = Field(None, ge=1, le=90)
    duration_minutes_min: int | None = Field(None, ge=15, le=240)
    duration_minutes_max: int | None = Field(None, ge=15, le=240)
    # Where video meetings happen: a link per meeting, `{meeting_id}` filled in
    # (e.g. "https://meet.jit.si/tandem-{meeting_id}"); written into the invite's LOCATION and the mails.
    video_link_template: Annotated[str, StringConstraints(max_length=500), AfterValidator(storable)] | None = None
    # The invite's ORGANIZER. Tandem does not read calendar replies: invites point to the meeting's page.
    organizer_email: Annotated[str, StringConstraints(max_length=320), AfterValidator(storable)] | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise Refusal("unknown IANA time zone") from exc
        return value

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _offsets(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None:
            if any(not 1 <= m <= 14 * 24 * 60 for m in value):
                raise Refusal("each reminder offset must be between 1 minute and 14 days")
            value = tuple(sorted(set(value), reverse=True))
        return value

    @field_validator("video_link_template")
    @classmethod
    def _video_link(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.startswith(("https://", "http://")) or "{meeting_id}" not in value:
                raise Refusal("must be an http(s) address naming {meeting_id}")
            try:
                value.format(meeting_id="x")
            except (KeyError, IndexError, ValueError) as exc:
                raise Refusal("may name only {meeting_id}") from exc
        return value

    @field_validator("organizer_email")
    @classmethod
    def _organizer(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise Refusal("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> ProgramSettingsFields:
        for low, high in (("cadence_days_min", "cadence_days_max"), ("duration_minutes_min", "duration_minutes_max")):
            if (
                getattr(self, low) is not None
                and getattr(self, high) is not None
                and getattr(self, low) > getattr(self, high)
            ):
                raise Refusal(f"{low} is above {high}")
        return self

    @model_validator(mode="after")
    def _weights(self) -> ProgramSettingsFields:
        w = self.matching_weights
        if (
            w is not None
            and all(getattr(w, c) is not None for c in type(w).model_fields)
            and sum(getattr(w, c) for c in type(w).model_fields) <= 0
        ):
            raise Refusal("matching_weights: at least one weight must be positive")
        return self
