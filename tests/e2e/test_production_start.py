"""TANDEM_ENV=production, as the image runs: a service with a default secret refuses to start, naming
the variable and not showing the value; with real secrets it starts, and /metrics is on its own port
only, never on the public http port."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import httpx
import pytest

from tandem.local.stack import REPO, ServiceProcess, Services, free_port, provision_roles, service_env

pytestmark = pytest.mark.e2e


def _production_env(**given: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_") and k != "DATABASE_URL"}
    return {**env, "TANDEM_ENV": "production", "PYTHONUNBUFFERED": "1", **given}


def test_a_service_with_a_default_secret_refuses_to_start():
    strong = secrets.token_urlsafe(32)
    env = _production_env(
        DATABASE_URL=f"postgresql://tandem_notifications:{secrets.token_urlsafe(32)}@127.0.0.1:1/tandem",
        TANDEM_LINK_KEYS=strong, TANDEM_WEBHOOK_SECRET="local-development-only")
    # What the container runs: `tandem service notifications`.
    done = subprocess.run([sys.executable, "-m", "tandem.cli", "service", "notifications"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "TANDEM_WEBHOOK_SECRET is a known default" in output and "secrets.token_urlsafe(32)" in output
    assert "local-development-only" not in output and strong not in output
    assert "TANDEM_LINK_KEYS" not in output  # a good key is not complained about


def test_a_service_whose_link_keys_were_left_at_the_example_refuses_too():
    env = _production_env(
        DATABASE_URL=f"postgresql://tandem_notifications:{secrets.token_urlsafe(32)}@127.0.0.1:1/tandem",
        TANDEM_LINK_KEYS="change-me-link-signing-key", TANDEM_WEBHOOK_SECRET="short")
    done = subprocess.run([sys.executable, "-m", "services.notifications"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "TANDEM_LINK_KEYS is a known default" in done.stderr
    assert "TANDEM_WEBHOOK_SECRET is too short (5 characters, at least 32)" in done.stderr
    assert "change-me-link-signing-key" not in done.stderr


def test_in_production_metrics_are_on_their_own_port_only(infrastructure, database_url, topic_prefix, tmp_path):
    urls = provision_roles(database_url)  # random role passwords, long enough for production
    http, metrics = free_port(), free_port()
    env = service_env(database_url=urls["matching"], bootstrap_servers=infrastructure.bootstrap_servers,
                      smtp_port=infrastructure.smtp_port, port=http, topic_prefix=topic_prefix,
                      extra={"TANDEM_ENV": "production", "TANDEM_METRICS_PORT": str(metrics)})
    process = ServiceProcess("matching", 1, env, tmp_path / "matching.log", http)
    services = Services({"matching#1": process})
    services.start()
    try:
        services.wait_ready(timeout=90)
        assert httpx.get(f"http://127.0.0.1:{http}/metrics", timeout=5).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5)
        assert scraped.status_code == 200 and "tandem_outbox_pending" in scraped.text
    finally:
        services.stop()
