"""A whole Tandem of its own for each fault: its Postgres, its Kafka (one broker or a cluster of
three), its mail server and the four services as processes, on a fast program clock. Faults kill
and restart these servers, so nothing here is shared with the other tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clock import ProgramClock
from tandem.local.stack import Infrastructure, Ports, Services, free_http_ports

pytestmark = pytest.mark.chaos
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday
SPEED = 3600.0  # an hour of program time a second: kickoffs (48 h notice) come about a minute in
RESULTS = Path(os.environ.get("TANDEM_CHAOS_RESULTS", tempfile.gettempdir())) / "tandem-chaos-results.jsonl"


@dataclass
class Stack:
    infra: Infrastructure
    services: Services
    clock: ProgramClock

    @property
    def bootstrap_servers(self) -> str:
        return self.infra.bootstrap_servers

    @property
    def database_url(self) -> str:
        return self.infra.database_url


def start_stack(home: Path, *, replicas: int = 1, kafka_nodes: int = 1, extra: dict[str, str] | None = None) -> Stack:
    env_free = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    for k in env_free:  # faults need servers of their own, whatever the environment points at
        os.environ.pop(k)
    try:
        infra = Infrastructure(home, Ports.free(), kafka_nodes=kafka_nodes)
        infra.start(say=lambda *_: None)
    finally:
        os.environ.update(env_free)
    infra.create_topics()
    clock = ProgramClock(start=START, speed=SPEED)
    services = Services.on(
        database_url=infra.database_url, bootstrap_servers=infra.bootstrap_servers, smtp_port=infra.ports.smtp,
        http_ports=free_http_ports(replicas), replicas=replicas, log_dir=home / "logs", clock_env=clock.env(),
        extra={"TANDEM_OUTBOX_POLL_SECONDS": "0.5", "TANDEM_RETRY_BACKOFF_MAX_SECONDS": "2",
               "TANDEM_SENDING_LEASE_SECONDS": "5", "TANDEM_DELIVERY_RETRY_SECONDS": "1",
               "TANDEM_DELIVERY_RETRY_MAX_SECONDS": "8", "TANDEM_DELIVERY_MAX_ATTEMPTS": "30",
               **(extra or {})},
    )
    services.start()
    try:
        services.wait_ready(timeout=180)
    except BaseException:
        services.stop()
        infra.stop()
        raise
    return Stack(infra, services, clock)


@pytest.fixture
def stack_home():
    home = Path(tempfile.mkdtemp(prefix="tandem-chaos-"))
    yield home
    if not os.environ.get("TANDEM_CHAOS_KEEP"):  # keep the logs to read after a failure
        shutil.rmtree(home, ignore_errors=True)


def record(fault: str, findings, seconds: float) -> None:
    """One line per fault run, for docs/reliability.md (`python -m tests.chaos.report`)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps({
            "fault": fault, "at": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(seconds, 1),
            "published": findings.published, "effects_checked": findings.effects_checked,
            "checked": dict(findings.checked), "lost": len(findings.lost), "duplicated": len(findings.duplicated),
            "other_problems": len(findings.broken), "ok": findings.ok(),
        }) + "\n")


async def wait_until(check, timeout: float, what: str, poll: float = 0.5):
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
