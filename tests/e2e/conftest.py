"""The four services as separate processes on the real test infrastructure, with a fast clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.clock import ProgramClock
from tandem.local.stack import Services, free_http_ports
from tests.support.otlp import Collector

PROGRAM_START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday
SPEED = 7200.0  # two program hours a real second


@pytest.fixture
def collector():
    found = Collector().start()
    yield found
    found.stop()


@pytest.fixture
def clock_speed() -> float:
    """Program seconds per real second; a module that follows a longer stretch of a program overrides it."""
    return SPEED


@pytest.fixture
def system(infrastructure, database_url, topic_prefix, tmp_path, collector, clock_speed):
    clock = ProgramClock(start=PROGRAM_START, speed=clock_speed)
    services = Services.on(
        database_url=database_url, bootstrap_servers=infrastructure.bootstrap_servers,
        smtp_port=infrastructure.smtp_port, http_ports=free_http_ports(),
        log_dir=tmp_path / "logs", topic_prefix=topic_prefix, clock_env=clock.env(),
        extra={"TANDEM_OUTBOX_POLL_SECONDS": "0.5", "TANDEM_RETRY_BACKOFF_MAX_SECONDS": "1",
               "TANDEM_SENDING_LEASE_SECONDS": "3", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
               "OTEL_BSP_SCHEDULE_DELAY": "500"},
    )
    services.start()
    try:
        services.wait_ready(timeout=90)
        yield services, clock
    finally:
        services.stop()
