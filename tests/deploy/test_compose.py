"""docker-compose.yml cannot run here (no Docker engine), so check statically what can be checked, on
the file as `docker compose` would read it with the shipped .env.example; and, where Go could build it
(`make install`), have compose's own loader (compose-go) validate it as `docker compose config` does."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from dotenv import dotenv_values

from tandem.local.stack import DEFAULT_HTTP_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_CONFIG = ROOT / "build" / "compose-config"  # deploy/compose-config, built by `make install`
# Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a $.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEYS?$")


def raw_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    return {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}


def interpolate(value, env: dict[str, str]):
    """What compose makes of a value with `env` as its .env (and nothing from the shell)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = env.get(name)
        unset = given is None or (given == "" and op and op.startswith(":"))
        if not unset:
            return given
        if op and op.endswith("?"):
            raise AssertionError(f"{name} is required and .env has no value for it: {arg}")
        return arg if op else ""

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def variables(value) -> list[re.Match]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in variables(v)]
    if isinstance(value, list):
        return [m for v in value for m in variables(v)]
    return list(VARIABLE.finditer(value)) if isinstance(value, str) else []


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(raw_compose(), env_example())


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
    # Each service's metrics port, which the compose network reaches and the host does not.
    ports = {name: compose["services"][name]["environment"]["TANDEM_METRICS_PORT"] for name in SERVICES}
    assert targets == {name: [f"{name}:{ports[name]}"] for name in SERVICES}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])
    assert not any("labels" in sc for job in config["scrape_configs"] for sc in job["static_configs"])


def test_grafana_is_provisioned_with_the_prometheus_source_and_both_dashboards(compose):
    from tests.support.promql import dashboards

    grafana = compose["services"]["grafana"]
    provisioning = _mounted(grafana, "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    url = urlparse(source["url"])
    assert source["type"] == "prometheus" and url.hostname == "prometheus" and url.port == 9090
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]
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


# --- secure by default (docs/security.md) -----------------------------------------------------------

def _settings_class(service: str):
    import importlib
    import inspect

    from shared.settings import ServiceSettings

    module = importlib.import_module(f"services.{service}.settings")
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
              if issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
    return cls


def _no_outside_settings(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("TANDEM_", "GRAFANA_", "POSTGRES_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_every_variable_resolves_from_env_example_and_no_secret_has_a_default():
    example = env_example()
    found = variables(raw_compose())
    for match in found:
        name, op = match["name"], match["op"] or ""
        if SECRET_NAME.search(name) and op == ":-":
            # An optional secret (a feature that is off without it): empty means unset, never a value.
            assert match["arg"] == "", f"${{{name}}}: a secret gets no default value"
        elif SECRET_NAME.search(name):
            assert op == ":?", f"${{{name}}}: a secret gets no default, compose must refuse to run without it"
            assert name in example, f"{name} is missing from .env.example"
        else:
            assert name in example or op.endswith("-"), f"{name} resolves neither from .env.example nor a default"
    assert set(example) <= {m["name"] for m in found}, "a value in .env.example that compose does not use"
    interpolate(raw_compose(), example)  # would raise on a required variable .env.example lacks
    with pytest.raises(AssertionError, match="TANDEM_WEBHOOK_SECRET is required"):
        interpolate(raw_compose(), {k: v for k, v in example.items() if k != "TANDEM_WEBHOOK_SECRET"})


def test_the_image_and_compose_run_in_production(compose):
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^ENV .*\bTANDEM_ENV=production\b", dockerfile, re.M)
    for name in (*SERVICES, "db-roles", "grafana-password"):
        assert compose["services"][name]["environment"]["TANDEM_ENV"] == "production", name


def test_the_services_refuse_the_example_secrets_and_take_real_ones(compose, monkeypatch):
    _no_outside_settings(monkeypatch)
    example = env_example()
    real = {name: secrets.token_urlsafe(32) for name in example}
    for service in SERVICES:
        env = compose["services"][service]["environment"]
        settings_class = _settings_class(service)
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = settings_class()
        assert settings.env == "production"
        refused = {problem.split(" is ")[0] for problem in settings.insecure_secrets()}
        given = {m["name"] for m in variables(raw_compose()["services"][service]["environment"])} & set(example)
        # Every secret compose gives the service is judged, and the example values are all refused.
        assert {r.split(" (")[0] for r in refused} == {"DATABASE_URL", *given} - {f"TANDEM_DB_PASSWORD_{service.upper()}"}
        with pytest.raises(SystemExit):
            settings.refuse_insecure()
        for key, value in interpolate(raw_compose()["services"][service]["environment"], real).items():
            monkeypatch.setenv(key, str(value))
        assert settings_class().insecure_secrets() == [], service
        for key in env:
            monkeypatch.delenv(key)


def test_db_roles_and_grafana_password_refuse_the_example_secrets(compose, monkeypatch):
    from tandem.cli import main

    _no_outside_settings(monkeypatch)
    for name, service in (("db-roles", compose["services"]["db-roles"]),
                          ("grafana-password", compose["services"]["grafana-password"])):
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, str(value))
        assert main(service["command"]) == 2, name  # refused before touching any database


def test_grafana_takes_its_admin_password_from_env_and_admits_no_anonymous_user(compose):
    raw = raw_compose()["services"]
    grafana = raw["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    check = raw["grafana-password"]
    assert check["command"] == ["secrets", "check", "GRAFANA_ADMIN_PASSWORD"]
    assert check["environment"]["GRAFANA_ADMIN_PASSWORD"] == grafana["GF_SECURITY_ADMIN_PASSWORD"]
    assert raw["grafana"]["depends_on"]["grafana-password"]["condition"] == "service_completed_successfully"
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    assert "anonymous" not in " ".join(p.read_text() for p in provisioning.rglob("*.y*ml")).lower()


def test_metrics_and_peoples_data_are_not_published_beyond_this_host(compose):
    services = compose["services"]
    for name in SERVICES:
        metrics = str(services[name]["environment"]["TANDEM_METRICS_PORT"])
        assert metrics != str(DEFAULT_HTTP_PORTS[name])
        assert not any(p.split(":")[-1] == metrics for p in services[name]["ports"]), name
    for name in ("prometheus", "mail"):  # every program's figures; people's mail
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name


def _compose_config(env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMPOSE_CONFIG), "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(env_file)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not COMPOSE_CONFIG.exists(), reason="build/compose-config is not built (make install; needs Go)")
def test_compose_config_validates_with_the_shipped_env_example(tmp_path):
    loaded = _compose_config(ROOT / ".env.example")
    assert loaded.returncode == 0, loaded.stderr
    project = json.loads(loaded.stdout)
    assert {"kafka", "postgres", "db-roles", "topics", "grafana", "grafana-password", *SERVICES} <= set(project["services"])
    example = env_example()
    feedback = project["services"]["feedback"]["environment"]
    assert feedback["TANDEM_ENV"] == "production" and feedback["TANDEM_OPS_TOKEN"] == example["TANDEM_OPS_TOKEN"]
    grafana = project["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == example["GRAFANA_ADMIN_PASSWORD"]
    # Without a secret, compose itself refuses, naming it.
    lacking = tmp_path / ".env"
    lacking.write_text("".join(f"{k}={v}\n" for k, v in example.items() if k != "TANDEM_WEBHOOK_SECRET"))
    refused = _compose_config(lacking)
    assert refused.returncode != 0 and "TANDEM_WEBHOOK_SECRET" in refused.stderr
