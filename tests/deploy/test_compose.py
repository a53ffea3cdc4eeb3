"""docker-compose.yml cannot run here (no Docker engine), so check statically what can be checked."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tandem.local.stack import DEFAULT_HTTP_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _listener_host_port(value: str) -> tuple[str, int]:
    host, port = value.rsplit(":", 1)
    return host.split("//")[-1], int(port)


def test_it_parses_and_has_the_infrastructure(compose):
    assert {"kafka", "postgres", "topics", *SERVICES} <= set(compose["services"])
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "broker,controller" == kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, one node


def test_every_service_is_wired_to_the_broker_and_the_database(compose):
    services = compose["services"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    kafka_host, kafka_port = _listener_host_port(advertised.split(",")[0])
    pg_env = services["postgres"]["environment"]
    for name in SERVICES:
        svc = services[name]
        env = svc["environment"]
        assert _listener_host_port(env["KAFKA_BOOTSTRAP_SERVERS"]) == (kafka_host, kafka_port), name
        db = urlparse(env["DATABASE_URL"])
        assert (db.hostname, db.port, db.username, db.password, db.path.lstrip("/")) == (
            "postgres", 5432, pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"]), name
        assert svc["command"] == ["service", name]
        assert int(env["TANDEM_HTTP_PORT"]) == DEFAULT_HTTP_PORTS[name]
        assert svc["ports"] == [f"{DEFAULT_HTTP_PORTS[name]}:{DEFAULT_HTTP_PORTS[name]}"]
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert services["topics"]["command"] == ["topics"]
    mail = services["notifications"]["environment"]
    assert mail["TANDEM_SMTP_HOST"] in services and int(mail["TANDEM_SMTP_PORT"]) == 1025


def test_the_image_is_buildable_from_the_repository(compose):
    build = compose["services"]["matching"]["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    text = dockerfile.read_text()
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied
    assert re.search(r"^ENTRYPOINT \[\"tandem\"\]", text, re.M)


def test_settings_read_the_variables_compose_sets(compose, monkeypatch):
    from shared.settings import ServiceSettings

    env = compose["services"]["matching"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.database_url == env["DATABASE_URL"]
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8081)
