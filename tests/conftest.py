"""Real infrastructure for integration and end-to-end tests.

PostgreSQL and Apache Kafka come from the environment (`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`);
else from testcontainers when a Docker engine answers; else they are started as local processes,
exactly as `tandem up` starts them. Each test gets its own database and its own topic prefix, so
tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.db import create_database
from shared.kafka import all_topic_names, ensure_topics
from tests.support.oidc import oidc_provider, start_oidc_provider  # noqa: F401 (fixtures for every test)


@dataclass
class RealInfrastructure:
    database_url: str  # a server-level URL; tests create their own databases on it
    bootstrap_servers: str
    home: Path
    smtp_port: int
    mail_dir: Path
    origin: str


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[RealInfrastructure]:
    from tandem.local.mailbox import LocalMailbox
    from tandem.local.stack import Infrastructure, Ports, free_port

    home = Path(tempfile.mkdtemp(prefix="tandem-tests-"))
    smtp_port = free_port()
    mailbox = LocalMailbox(home / "mail", smtp_port)
    env_db, env_kafka = os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    stack = None
    containers = []
    try:
        if env_db and env_kafka:
            db, kafka, origin = env_db, env_kafka, "environment"
        elif _docker_available():
            from testcontainers.kafka import KafkaContainer
            from testcontainers.postgres import PostgresContainer

            pg = PostgresContainer("postgres:16-alpine", driver=None).start()
            kc = KafkaContainer("apache/kafka:3.8.0").with_kraft().start()
            containers = [pg, kc]
            db, kafka, origin = pg.get_connection_url(), kc.get_bootstrap_server(), "testcontainers"
        else:
            ports = Ports.free()
            ports.smtp = smtp_port
            stack = Infrastructure(home, ports)
            stack.start(say=lambda *_: None)  # uses whichever of the two the environment does give
            db, kafka, origin = stack.database_url, stack.bootstrap_servers, "local processes"
        if stack is None:
            mailbox.start()
        yield RealInfrastructure(db, kafka, home, smtp_port, home / "mail", origin)
    finally:
        if stack is not None:
            stack.stop()
        else:
            mailbox.stop()
        for c in containers:
            c.stop()
        # A run leaves gigabytes (a database per test, the broker's logs); keep them only when asked.
        if not os.environ.get("TANDEM_TESTS_KEEP"):
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def database_url(infrastructure: RealInfrastructure) -> str:
    """A fresh, empty database for this test."""
    return await create_database(infrastructure.database_url, "t")


@pytest.fixture
async def topic_prefix(infrastructure: RealInfrastructure) -> str:
    """A topic namespace of this test's own, with every topic and dead-letter topic created."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    await ensure_topics(infrastructure.bootstrap_servers, all_topic_names(prefix))
    return prefix


@pytest.fixture
def bootstrap_servers(infrastructure: RealInfrastructure) -> str:
    return infrastructure.bootstrap_servers
