from pydantic import Field

from services.scheduling.domain.agreements import MeetingTerms
from services.scheduling.domain.rules import PlanningRules
from shared.programs import ProgramSettings
from shared.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    """Cadence, length, notice and reminder offsets are per program (shared/programs.py); the
    deployment's defaults for them live in ServiceSettings."""

    http_port: int = 8082
    buffer_minutes: int = 15
    tolerance_days: int = 3
    kickoff_horizon_days: int = 21
    # Meetings booked per relationship, kickoff included; the next is planned when one is over.
    series_occurrences: int = Field(12, ge=1)
    reminder_batch: int = Field(2000, ge=1)

    def rules(self, program: ProgramSettings, terms: MeetingTerms | None = None) -> PlanningRules:
        """The planning rules in force for a program: its settings (the cadence and length a pair's
        agreement chose, when `terms` has one), and this deployment's own knobs."""
        terms = terms or MeetingTerms(program)
        return PlanningRules(
            min_notice_hours=program.min_notice_hours, buffer_minutes=self.buffer_minutes,
            cadence_days=terms.cadence_days, duration_minutes=terms.duration_minutes,
            tolerance_days=self.tolerance_days, kickoff_horizon_days=self.kickoff_horizon_days,
        )
