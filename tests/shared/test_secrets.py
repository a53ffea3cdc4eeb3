"""Secure by default: in production a service's secrets must not be empty, a known default or short;
the complaint names the variable and never shows the value (shared/settings.py)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from services.feedback.settings import FeedbackSettings
from services.matching.settings import MatchingSettings
from services.notifications.settings import NotificationSettings
from shared.settings import InsecureSettings, Secret, ServiceSettings, production, secret_problem, secret_problems

ROOT = Path(__file__).resolve().parents[2]
GOOD = secrets.token_urlsafe(32)
GOOD_URL = f"postgresql://tandem_notifications:{secrets.token_urlsafe(32)}@postgres:5432/tandem"


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch):
    """Only what a test gives: no TANDEM_* or DATABASE_URL from the shell running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("TANDEM_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("value", "problem"), [
    ("", "is empty"),
    ("   ", "is empty"),
    ("local-development-only", "is a known default"),
    ("change-me-webhooks", "is a known default"),
    ("CHANGE-ME-" + GOOD, "is a known default"),  # a placeholder however long
    ("tandem", "is a known default"),
    ("password", "is a known default"),
    ("secret", "is a known default"),
    ("s3cr3t-but-short", "is too short (16 characters, at least 32)"),
    ("ab" * 20, "is too simple (fewer than 10 different characters)"),
])
def test_a_weak_secret_is_refused_with_the_reason(value, problem):
    assert secret_problem(value) == problem


def test_a_random_secret_will_do():
    assert secret_problem(GOOD) is None
    assert secret_problem(secrets.token_hex(16)) is None  # 32 hex digits


def test_the_message_names_the_variable_says_how_to_make_one_and_never_shows_the_value():
    weak = "short-but-mine"
    (message,) = secret_problems([Secret("TANDEM_WEBHOOK_SECRET", weak), Secret("TANDEM_LINK_KEYS", GOOD)])
    assert message.startswith("TANDEM_WEBHOOK_SECRET is too short")
    assert "secrets.token_urlsafe(32)" in message
    assert weak not in message
    (default,) = secret_problems([Secret("TANDEM_WEBHOOK_SECRET", "local-development-only")])
    assert default.startswith("TANDEM_WEBHOOK_SECRET is a known default") and "local-development-only" not in default


def test_an_issued_credential_may_be_short_but_not_a_default():
    assert secret_problems([Secret("TANDEM_SMTP_PASSWORD", "Xk9#p2", issued=True)]) == []
    (message,) = secret_problems([Secret("TANDEM_SMTP_PASSWORD", "password", issued=True)])
    assert message.startswith("TANDEM_SMTP_PASSWORD is a known default")
    # The identity provider's client secret and the mail provider's password are marked as issued.
    assert FeedbackSettings(database_url=GOOD_URL, oidc_client_secret="Idp-issued-9").insecure_secrets() == []
    assert NotificationSettings(database_url=GOOD_URL, link_keys=GOOD, webhook_secret=GOOD,
                                smtp_password="Mail-issued-9").insecure_secrets() == []


def test_every_secret_field_is_found_by_its_type_and_named_by_its_variable():
    settings = NotificationSettings(database_url=GOOD_URL, link_keys=f"{GOOD},{secrets.token_urlsafe(32)}",
                                    webhook_secret=GOOD, smtp_password="issued-by-the-mail-provider")
    assert [s.name for s in settings.secrets()] == [
        "DATABASE_URL (its password)", "TANDEM_SMTP_PASSWORD", "TANDEM_LINK_KEYS (key 1 of 2)",
        "TANDEM_LINK_KEYS (key 2 of 2)", "TANDEM_WEBHOOK_SECRET"]
    assert settings.insecure_secrets() == []
    # An optional secret left unset is not judged; one that is set is, whatever the service.
    feedback = FeedbackSettings(database_url=GOOD_URL)
    assert [s.name for s in feedback.secrets()] == ["DATABASE_URL (its password)"]
    problems = FeedbackSettings(database_url=GOOD_URL, ops_token="tandem").insecure_secrets()
    assert [p.split(" is ")[0] for p in problems] == ["TANDEM_OPS_TOKEN"]


def test_a_new_secret_setting_is_covered_without_being_listed():
    from pydantic import SecretStr

    class WithANewSecret(ServiceSettings):
        signing_key: SecretStr = SecretStr("local-development-only")

    (problem,) = WithANewSecret(database_url=GOOD_URL).insecure_secrets()
    assert problem.startswith("TANDEM_SIGNING_KEY is a known default")


def test_each_link_key_is_judged_on_its_own():
    settings = NotificationSettings(database_url=GOOD_URL, webhook_secret=GOOD, link_keys=f"{GOOD},tandem")
    (problem,) = settings.insecure_secrets()
    assert problem.startswith("TANDEM_LINK_KEYS (key 2 of 2) is a known default")


def test_the_database_password_is_judged_and_a_url_without_one_is_left_to_libpq():
    weak = ServiceSettings(database_url="postgresql://tandem_matching:change-me-matching@postgres/tandem")
    (problem,) = weak.insecure_secrets()
    assert problem.startswith("DATABASE_URL (its password) is a known default") and "change-me-matching" not in problem
    empty = ServiceSettings(database_url="postgresql://tandem_matching:@postgres/tandem")
    assert empty.insecure_secrets()[0].startswith("DATABASE_URL (its password) is empty")
    assert ServiceSettings(database_url="postgresql://tandem_matching@postgres/tandem").insecure_secrets() == []


def test_production_refuses_to_start_and_development_does_not(monkeypatch):
    monkeypatch.setenv("TANDEM_WEBHOOK_SECRET", "local-development-only")
    NotificationSettings().refuse_insecure()  # development: today's defaults still start
    monkeypatch.setenv("TANDEM_ENV", "production")
    settings = NotificationSettings()
    with pytest.raises(InsecureSettings) as refused:
        settings.refuse_insecure()
    assert isinstance(refused.value, SystemExit) and refused.value.code != 0
    text = str(refused.value.code)
    assert "TANDEM_WEBHOOK_SECRET is a known default" in text and "TANDEM_LINK_KEYS is a known default" in text
    assert "local-development-only" not in text


def test_tandem_env_takes_two_values():
    assert not production({}) and production({"TANDEM_ENV": "production"})
    with pytest.raises(ValueError, match="TANDEM_ENV must be development or production"):
        production({"TANDEM_ENV": "prod"})
    with pytest.raises(ValidationError):
        MatchingSettings(env="staging")


def test_trusted_proxies_are_addresses_or_networks():
    assert ServiceSettings(trusted_proxies="10.0.0.1, 172.16.0.0/12,::1").trusted_proxies
    assert ServiceSettings(trusted_proxies="*").trusted_proxies == "*"
    with pytest.raises(ValidationError, match="'proxy.example' is not an address or a network"):
        ServiceSettings(trusted_proxies="10.0.0.1,proxy.example")


def test_every_example_value_in_env_example_is_refused():
    values = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    assert values, "no values in .env.example"
    for name, value in values.items():
        assert secret_problem(value) == "is a known default", name
