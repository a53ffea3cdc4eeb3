from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    http_port: int = 8084
    # How long people have to answer a feedback request, in program days.
    feedback_due_days: float = Field(7.0, gt=0)
    # The grace an unanswered check-in gets with its one reminder before it counts against health (program days).
    checkin_reminder_days: float = Field(3.0, gt=0)
    # How often the check-in loop looks for work it was not woken for (real seconds).
    checkin_check_seconds: float = Field(5.0, gt=0)
    # The program team's token for /api and /dashboard (TANDEM_OPS_TOKEN); both are open when unset.
    ops_token: SecretStr | None = None
    # How long a dashboard sign-in lasts, in real hours.
    ops_session_hours: float = Field(12.0, gt=0)
    # How often the dashboard refreshes itself, and each replica its Prometheus gauges (real seconds).
    dashboard_refresh_seconds: float = Field(3.0, gt=0, le=5)
    metrics_refresh_seconds: float = Field(5.0, gt=0)
