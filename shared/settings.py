"""Settings every service reads from the environment (pydantic-settings).

Infrastructure addresses keep their conventional names (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`,
`OTEL_EXPORTER_OTLP_ENDPOINT`); everything else is `TANDEM_<FIELD>`.
"""

from __future__ import annotations


from pydantic import AliasChoices, AwareDatetime, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"TANDEM_{name}")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore", frozen=True, populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    # It carries a password: a secret, never printed by a repr or a log line.
    database_url: SecretStr = Field(SecretStr("postgresql://tandem@127.0.0.1:55432/tandem"),
                                    validation_alias=_env("DATABASE_URL"))
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))

    # Prepended to every topic name, so several environments (or test runs) can share a cluster.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    log_level: str = "INFO"
    db_pool_size: int = 8

    # Program clock: real time unless the demo or a test sets an origin and/or a speed-up.
    clock_start: AwareDatetime | None = None
    clock_origin: float | None = None
    clock_speed: float = Field(1.0, gt=0)

    # Handler failures: retried with backoff, then dead-lettered.
    max_attempts: int = Field(5, ge=1)
    # Data that may still be on its way on another topic (e.g. a profile) is waited for longer.
    max_deferrals: int = Field(30, ge=1)
    retry_backoff_seconds: float = 0.2
    retry_backoff_max_seconds: float = 5.0

    # Records taken from Kafka per poll and applied together in one transaction when they all succeed.
    consumer_batch_size: int = Field(200, ge=1)

    # Program defaults: what a program gets for every setting its team left out (shared/programs.py).
    program_timezone: str = "UTC"
    cadence_days: int = Field(14, ge=1, le=90)
    duration_minutes: int = Field(45, ge=15, le=240)
    min_notice_hours: float = Field(48, ge=0)
    response_window_hours: float = Field(72.0, gt=0)
    min_overlap_hours: float = Field(2.0, ge=0)
    reminder_offsets_minutes: list[int] = [24 * 60, 60]
    term_days: int = Field(180, ge=7)
    checkin_first_day: int = Field(30, ge=1)
    checkin_every_days: int = Field(60, ge=7)
    matching_weights: dict[str, float] = {"goal_fit": 0.40, "availability": 0.15, "seniority": 0.15,
                                          "perspective": 0.20, "language": 0.10}

    # A pair's mentoring agreement may choose within these bounds (shared/programs.py).
    cadence_days_min: int = Field(7, ge=1, le=90)
    cadence_days_max: int = Field(42, ge=1, le=90)
    duration_minutes_min: int = Field(30, ge=15, le=240)
    duration_minutes_max: int = Field(90, ge=15, le=240)
    # A video link per meeting (`{meeting_id}` filled in); unset: meetings carry no video link.
    video_link_template: str | None = None
    # The invites' organizer (Tandem does not read calendar replies; invites link to the meeting's page).
    organizer_email: str = "scheduling@tandem.example"

    outbox_batch_size: int = 500
    outbox_poll_seconds: float = 1.0

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
