"""Program settings that decide where meetings may go."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PlanningRules(BaseModel):
    """Scheduling rules of one program; every field has a sensible default.

    Slots start on multiples of `granularity_minutes` in UTC. Every UTC offset in use today is a
    multiple of 15 minutes (Kathmandu +5:45, Chatham +12:45, St John's -3:30), so 15-minute
    alignment in UTC is also 15-minute alignment on every participant's own clock: a 09:00 local
    start in Kathmandu is 03:15 UTC.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_notice_hours: float = Field(default=48, ge=0, le=24 * 365)
    # Kept clear before and after each person's other meetings.
    buffer_minutes: int = Field(default=15, ge=0, le=24 * 60)
    cadence_days: int = Field(default=14, ge=1, le=366)
    duration_minutes: int = Field(default=45, ge=5, le=24 * 60)
    # Occurrence k starts within this many days of kickoff + (k - 1) * cadence.
    tolerance_days: int = Field(default=3, ge=0, le=183)
    # How far ahead of the earliest allowed start the kickoff search looks.
    kickoff_horizon_days: int = Field(default=21, ge=1, le=366)
    # Preferred distance from the edges of both people's windows (not at the very start or end of
    # someone's day); a slot closer to an edge is used only when no comfortable one exists.
    comfort_minutes: int = Field(default=30, ge=0, le=12 * 60)
    granularity_minutes: int = Field(default=15, ge=1, le=60)

    @field_validator("granularity_minutes")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("granularity_minutes must divide 60 so slots land on the same minutes every hour")
        return value

    @property
    def duration(self) -> int:
        return self.duration_minutes * 60

    @property
    def buffer(self) -> int:
        return self.buffer_minutes * 60

    @property
    def notice(self) -> int:
        return int(self.min_notice_hours * 3600)

    @property
    def cadence(self) -> int:
        return self.cadence_days * 86_400

    @property
    def tolerance(self) -> int:
        return self.tolerance_days * 86_400

    @property
    def horizon(self) -> int:
        return self.kickoff_horizon_days * 86_400

    @property
    def comfort(self) -> int:
        return self.comfort_minutes * 60

    @property
    def granularity(self) -> int:
        return self.granularity_minutes * 60
