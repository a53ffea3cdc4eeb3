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
from shared.contracts.types import Id, Name, WebhookUrl, storable

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
            raise ValueError("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _chat_needs_a_hook(self) -> OpsContact:
        if self.channel != "email" and not self.webhook_url:
            raise ValueError(f"channel {self.channel!r} needs a webhook_url")
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

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _offsets(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None:
            if any(not 1 <= m <= 14 * 24 * 60 for m in value):
                raise ValueError("each reminder offset must be between 1 minute and 14 days")
            value = tuple(sorted(set(value), reverse=True))
        return value

    @model_validator(mode="after")
    def _weights(self) -> ProgramSettingsFields:
        w = self.matching_weights
        if w is not None and all(getattr(w, c) is not None for c in type(w).model_fields) \
                and sum(getattr(w, c) for c in type(w).model_fields) <= 0:
            raise ValueError("matching_weights: at least one weight must be positive")
        return self
