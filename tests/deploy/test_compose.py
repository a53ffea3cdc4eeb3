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
        # Its own role (least privilege), with the password db-roles gives that role.
        roles_env = services["db-roles"]["environment"]
        assert (db.hostname, db.port, db.username, db.path.lstrip("/")) == (
            "postgres", 5432, f"tandem_{name}", pg_env["POSTGRES_DB"]), name
        assert db.password == roles_env[f"TANDEM_DB_PASSWORD_{name.upper()}"], name
        assert svc["depends_on"]["db-roles"]["condition"] == "service_completed_successfully"
        assert svc["command"] == ["service", name]
        assert int(env["TANDEM_HTTP_PORT"]) == DEFAULT_HTTP_PORTS[name]
        assert svc["ports"] == [f"{DEFAULT_HTTP_PORTS[name]}:{DEFAULT_HTTP_PORTS[name]}"]
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert services["topics"]["command"] == ["topics"]
    assert services["db-roles"]["command"] == ["db", "provision"]
    owner = urlparse(services["db-roles"]["environment"]["DATABASE_URL"])
    assert (owner.username, owner.password) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert "scram-sha-256" in pg_env["POSTGRES_INITDB_ARGS"]
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
    assert settings.database_url.get_secret_value() == env["DATABASE_URL"]
    assert env["DATABASE_URL"].split(":")[2].split("@")[0] not in repr(settings)  # the password stays secret
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8081)


# --- Prometheus and Grafana (static: what a running stack would read) -------------------------------

def _mounted(service: dict, target: str) -> Path:
    for volume in service["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return ROOT / source
    raise AssertionError(f"nothing mounted at {target}")


def test_prometheus_scrapes_the_four_services_where_compose_runs_them(compose):
    prometheus = compose["services"]["prometheus"]
    config = yaml.safe_load(_mounted(prometheus, "/etc/prometheus/prometheus.yml").read_text())
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
               for job in config["scrape_configs"]}
    assert targets == {name: [f"{name}:{DEFAULT_HTTP_PORTS[name]}"] for name in SERVICES}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])
    assert not any("labels" in sc for job in config["scrape_configs"] for sc in job["static_configs"])


def test_grafana_is_provisioned_with_the_prometheus_source_and_both_dashboards(compose):
    from tests.support.promql import dashboards

    grafana = compose["services"]["grafana"]
    provisioning = _mounted(grafana, "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    url = urlparse(source["url"])
    assert source["type"] == "prometheus" and url.hostname == "prometheus" and url.port == 9090
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "tandem.yml").read_text())["providers"]
    assert _mounted(grafana, provider["options"]["path"]) == ROOT / "deploy" / "grafana" / "dashboards"
    boards = dashboards()
    assert {b["title"] for b in boards.values()} == {"Tandem services", "Tandem programs"}
    for board in boards.values():
        for panel in board["panels"]:
            if panel["type"] != "text":
                assert panel["datasource"]["uid"] == source["uid"], panel["title"]
                assert panel["targets"], panel["title"]


def test_every_panel_names_tandem_metrics_and_program_kpis_only_by_program_and_region():
    from services.feedback.metrics import metric_names as program_metrics
    from tests.support.promql import dashboards, expressions, metric_names

    exported_program_metrics = set(program_metrics())
    for name, board in dashboards().items():
        for title, expr in expressions(board):
            names = metric_names(expr)
            assert names and all(n.startswith("tandem_") for n in names), (name, title, expr)
            assert {n for n in names if n.startswith("tandem_program_")} <= exported_program_metrics, (title, expr)
            if any(n.startswith("tandem_program_") for n in names):
                labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", " ".join(re.findall(r"\{([^}]*)\}", expr))))
                assert labels <= {"program", "region"}, (title, expr)
