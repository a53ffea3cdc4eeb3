from pydantic import Field

from services.scheduling.domain.rules import PlanningRules
from shared.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    http_port: int = 8082
    # Program settings (defaults from the program guide: every 14 days, 45 minutes, 48 h notice).
    min_notice_hours: float = 48
    buffer_minutes: int = 15
    cadence_days: int = 14
    duration_minutes: int = 45
    tolerance_days: int = 3
    kickoff_horizon_days: int = 21
    # Meetings booked per relationship, kickoff included; the next is planned when one is over.
    series_occurrences: int = Field(12, ge=1)
    # Reminders, in minutes before each meeting.
    reminder_offsets_minutes: list[int] = [24 * 60, 60]
    reminder_batch: int = Field(2000, ge=1)

    def rules(self) -> PlanningRules:
        return PlanningRules(
            min_notice_hours=self.min_notice_hours, buffer_minutes=self.buffer_minutes,
            cadence_days=self.cadence_days, duration_minutes=self.duration_minutes,
            tolerance_days=self.tolerance_days, kickoff_horizon_days=self.kickoff_horizon_days,
        )
