"""Settings every service reads from the environment (pydantic-settings).

Infrastructure addresses keep their conventional names (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`,
`OTEL_EXPORTER_OTLP_ENDPOINT`); everything else is `TANDEM_<FIELD>`.

Secrets are the fields typed `SecretStr` (any service's, found by their type, so a new one is covered
without a list). With `TANDEM_ENV=production` (the image's default) a service refuses to start when one
is empty, a known default or short (`insecure_secrets`, docs/security.md); in development anything goes.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# --- secrets --------------------------------------------------------------------------------------

MIN_SECRET_LENGTH = 32
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# Values that ship somewhere (code, compose files, docs, .env.example) or that people type first.
KNOWN_DEFAULTS = frozenset(
    {
        "local-development-only",
        "tandem",
        "password",
        "passwd",
        "secret",
        "changeme",
        "admin",
        "example",
        "default",
        "test",
        "token",
        "key",
        "postgres",
        "grafana",
        "letmein",
        "12345678",
        "123456789",
        "1234567890",
    }
)
# Parts that mark a placeholder, whatever surrounds them (`change-me-webhooks`, `<your secret>`).
PLACEHOLDER_MARKS = (
    "change-me",
    "change_me",
    "changeme",
    "replace-me",
    "replace_me",
    "local-development",
    "your-secret",
    "your_secret",
    "example",
    "placeholder",
    "<",
    ">",
)


class KeyList:
    """Marks a secret that is a comma-separated list of keys: each key is checked on its own."""


class Issued:
    """Marks a credential another system issues (an SMTP password, an identity provider's client
    secret): Tandem cannot choose its length, so only empty values and known defaults are refused."""


KEY_LIST, ISSUED = KeyList(), Issued()


def secret_problem(value: str, *, min_length: int = MIN_SECRET_LENGTH) -> str | None:
    """What is wrong with a secret's value (never the value itself), or None when it will do."""
    stripped = value.strip()
    lowered = stripped.lower()
    if not stripped:
        return "is empty"
    if lowered in KNOWN_DEFAULTS or any(mark in lowered for mark in PLACEHOLDER_MARKS):
        return "is a known default"
    if len(stripped) < min_length:
        return f"is too short ({len(stripped)} characters, at least {min_length})"
    if min_length and len(set(stripped)) < 10:
        return "is too simple (fewer than 10 different characters)"
    return None


@dataclass(frozen=True)
class Secret:
    name: str  # what the operator sets: the environment variable, maybe with which part of it
    value: str
    issued: bool = False  # issued elsewhere: no length rule

    def problem(self) -> str | None:
        problem = secret_problem(self.value, min_length=0 if self.issued else MIN_SECRET_LENGTH)
        if problem is None:
            return None
        fix = "set the one its issuer gave you" if self.issued else f"generate one with: {GENERATE}"
        return f"{self.name} {problem}; {fix}"


def secret_problems(secrets: Iterable[Secret]) -> list[str]:
    """One line per bad secret, naming its variable and never showing its value."""
    return [problem for secret in secrets if (problem := secret.problem()) is not None]


def database_password(name: str, url: str) -> Secret | None:
    """The password in a database URL, when it has one (without one, libpq looks in PGPASSWORD,
    ~/.pgpass or a client certificate: nothing here to judge)."""
    password = urlsplit(url).password
    return None if password is None else Secret(f"{name} (its password)", password)


ENVIRONMENTS = ("development", "production")


def production(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether TANDEM_ENV says production (for tools that read no service settings)."""
    value = environ.get("TANDEM_ENV", "").strip() or "development"
    if value not in ENVIRONMENTS:
        raise ValueError(f"TANDEM_ENV must be development or production, not {value!r}")
    return value == "production"


class InsecureSettings(SystemExit):
    """Raised instead of starting: printed on stderr as it is, exit status 1."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "refusing to start with TANDEM_ENV=production:\n  " + "\n  ".join(problems) + "\n(docs/security.md)"
        )
        self.problems = problems


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"TANDEM_{name}")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore", frozen=True, populate_by_name=True)

    # TANDEM_ENV: production refuses weak secrets and keeps /metrics off the public port.
    env: Literal["development", "production"] = "development"

    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    # It carries a password: a secret, never printed by a repr or a log line.
    database_url: SecretStr = Field(
        SecretStr("postgresql://tandem@127.0.0.1:55432/tandem"), validation_alias=_env("DATABASE_URL")
    )
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))

    # Prepended to every topic name, so several environments (or test runs) can share a cluster.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Prometheus' /metrics on a port of its own (bound like http), never on the public one. Unset: in
    # development /metrics stays on the http port; in production it is not served at all.
    metrics_port: int | None = None
    # Proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (comma-separated addresses or
    # networks, `*` for any). Empty: forwarded headers are ignored.
    trusted_proxies: str = ""
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
    # Offsets are committed at most this often (seconds): one-record batches need not cost a commit each.
    # What was settled since the last commit comes again after a crash and is skipped (the inbox).
    consumer_commit_interval_seconds: float = Field(0.5, ge=0, le=30)

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
    matching_weights: dict[str, float] = {
        "goal_fit": 0.40,
        "availability": 0.15,
        "seniority": 0.15,
        "perspective": 0.20,
        "language": 0.10,
    }

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

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"TANDEM_TRUSTED_PROXIES: {entry!r} is not an address or a network") from None
        return value

    @property
    def metrics_on_http_port(self) -> bool:
        return self.metrics_port is None and self.env == "development"

    def secrets(self) -> Iterator[Secret]:
        """Every secret this service is configured with: each `SecretStr` field that is set."""
        for field_name, field in type(self).model_fields.items():
            if not _holds_secret(field.annotation):
                continue
            value = getattr(self, field_name)
            if value is None:  # an optional secret left unset
                continue
            name = _variable(field_name, field.validation_alias)
            text = value.get_secret_value()
            if field_name == "database_url":
                if (password := database_password(name, text)) is not None:
                    yield password
            elif KEY_LIST in field.metadata and text.strip():
                keys = text.split(",")
                for n, key in enumerate(keys, 1):
                    yield Secret(f"{name} (key {n} of {len(keys)})" if len(keys) > 1 else name, key)
            else:
                yield Secret(name, text, issued=ISSUED in field.metadata)

    def insecure_secrets(self) -> list[str]:
        return secret_problems(self.secrets())

    def refuse_insecure(self) -> None:
        """In production, stop (`InsecureSettings`, a SystemExit) when a secret will not do."""
        if self.env == "production" and (problems := self.insecure_secrets()):
            raise InsecureSettings(problems)


def _holds_secret(annotation) -> bool:
    return annotation is SecretStr or any(_holds_secret(a) for a in get_args(annotation))


def _variable(field_name: str, alias) -> str:
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return alias if isinstance(alias, str) else f"TANDEM_{field_name.upper()}"
