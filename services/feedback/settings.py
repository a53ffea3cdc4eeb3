from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from services.feedback.domain.access import RoleMap
from shared.settings import ISSUED, ServiceSettings


class FeedbackSettings(ServiceSettings):
    http_port: int = 8084
    # How long people have to answer a feedback request, in program days.
    feedback_due_days: float = Field(7.0, gt=0)
    # The grace an unanswered check-in gets with its one reminder before it counts against health (program days).
    checkin_reminder_days: float = Field(3.0, gt=0)
    # How often the check-in loop looks for work it was not woken for (real seconds).
    checkin_check_seconds: float = Field(5.0, gt=0)
    # Break-glass admin token for /api and /dashboard (TANDEM_OPS_TOKEN): a tandem-admin on every program.
    # Empty means unset. With neither it nor single sign-on, /api and /dashboard refuse everyone.
    ops_token: SecretStr | None = None
    # Signs the dashboard's session cookie (TANDEM_OPS_SESSION_KEY); without it nobody can sign in with a
    # browser (API tokens still work). Changing it signs everybody out.
    ops_session_key: SecretStr | None = None
    # How long a dashboard sign-in lasts, in real hours.
    ops_session_hours: float = Field(12.0, gt=0)
    # The dashboard's public address (e.g. https://ops.example.com), when it is not reached on a loopback
    # name: requests must carry its host, and single sign-on returns to it.
    ops_url: str | None = None
    # Single sign-on (OpenID Connect, authorization code with PKCE); off unless the issuer is set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    # Issued by the identity provider: production refuses it empty or a default, at any length.
    oidc_client_secret: Annotated[SecretStr | None, ISSUED] = None
    oidc_scopes: str = "openid profile groups"
    # The claim (in the ID token, else from userinfo) that lists the person's groups.
    oidc_groups_claim: str = "groups"
    # The name on the sign-in button ("Sign in with <name>").
    oidc_provider_name: str = "single sign-on"
    # Groups -> roles per program (JSON, or a path to a JSON file): domain/access.py.
    role_map: str | None = None
    # How often the dashboard refreshes itself, and each replica its Prometheus gauges (real seconds).
    dashboard_refresh_seconds: float = Field(3.0, gt=0, le=5)
    metrics_refresh_seconds: float = Field(5.0, gt=0)

    @field_validator("ops_token", "ops_session_key", "oidc_client_secret", "ops_url", "oidc_issuer",
                     "oidc_client_id", "role_map", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        """Compose passes `${VAR:-}` as an empty string: that is "not set", never a secret equal to ""."""
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text.strip():
                return None
        return value

    @field_validator("role_map")
    @classmethod
    def _role_map_parses(cls, value: str | None) -> str | None:
        RoleMap.parse(value)  # refuse to start on a role map that says something else than meant
        return value

    @property
    def roles(self) -> RoleMap:
        return RoleMap.parse(self.role_map)

    @property
    def sso(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
