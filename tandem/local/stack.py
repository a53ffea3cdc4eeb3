"""The embedded default: PostgreSQL, Apache Kafka, a mail server and the four services, all as local
processes. `tandem up`, `tandem demo` and the tests start them the same way.

Where `KAFKA_BOOTSTRAP_SERVERS` or `DATABASE_URL` is set, that server is used instead of starting one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.kafka import all_topic_names, ensure_topics
from tandem.local.kafka import LocalKafka
from tandem.local.mailbox import LocalMailbox
from tandem.local.postgres import LocalPostgres

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("matching", "scheduling", "notifications", "feedback")
DEFAULT_HTTP_PORTS = {"matching": 8081, "scheduling": 8082, "notifications": 8083, "feedback": 8084}


def tandem_home() -> Path:
    return Path(os.environ.get("TANDEM_HOME", REPO / ".tandem"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ports:
    postgres: int = 55432
    kafka: int = 19092
    kafka_controller: int = 19093
    smtp: int = 2525
    http: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HTTP_PORTS))

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), {s: free_port() for s in SERVICES})


@dataclass
class Infrastructure:
    """Postgres + Kafka + mailbox; each either started here or taken from the environment."""

    home: Path
    ports: Ports
    postgres: LocalPostgres | None = None
    kafka: LocalKafka | None = None
    mailbox: LocalMailbox | None = None
    database_url: str = ""
    bootstrap_servers: str = ""

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    def start(self, *, say=print) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        try:
            if not self.database_url:
                say(f"starting PostgreSQL on 127.0.0.1:{self.ports.postgres}")
                self.postgres = LocalPostgres(self.home / "postgres", self.ports.postgres)
                self.postgres.start(logs / "postgres.log")
                self.database_url = self.postgres.url
            if not self.bootstrap_servers:
                say(f"starting Apache Kafka (KRaft) on 127.0.0.1:{self.ports.kafka}")
                self.kafka = LocalKafka(self.home / "kafka", self.ports.kafka, self.ports.kafka_controller)
                self.kafka.start(logs / "kafka.log")
                self.bootstrap_servers = self.kafka.bootstrap_servers
            say(f"starting the mail server on 127.0.0.1:{self.ports.smtp} (messages in {self.mail_dir})")
            self.mailbox = LocalMailbox(self.mail_dir, self.ports.smtp)
            self.mailbox.start()
        except BaseException:
            self.stop()
            raise
        say(f"infrastructure up in {time.monotonic() - started:.1f}s")

    def create_topics(self, prefix: str = "") -> None:
        asyncio.run(ensure_topics(self.bootstrap_servers, all_topic_names(prefix)))

    def stop(self) -> None:
        for part in (self.mailbox, self.kafka, self.postgres):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_file: Path
    port: int
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"], env=self.env, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what a crash looks like."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 25.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def service_env(*, database_url: str, bootstrap_servers: str, smtp_port: int, port: int, topic_prefix: str = "",
                clock_env: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "DATABASE_URL": database_url,
        "TANDEM_TOPIC_PREFIX": topic_prefix,
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_SMTP_HOST": "127.0.0.1",
        "TANDEM_SMTP_PORT": str(smtp_port),
        "PYTHONUNBUFFERED": "1",
        **(clock_env or {}),
        **(extra or {}),
    }
    return env


@dataclass
class Services:
    processes: dict[str, ServiceProcess]

    @classmethod
    def create(cls, infra: Infrastructure, **kwargs) -> Services:
        return cls.on(database_url=infra.database_url, bootstrap_servers=infra.bootstrap_servers,
                      smtp_port=infra.ports.smtp, http_ports=infra.ports.http, log_dir=infra.home / "logs", **kwargs)

    @classmethod
    def on(cls, *, database_url: str, bootstrap_servers: str, smtp_port: int, http_ports: dict[str, int],
           log_dir: Path, topic_prefix: str = "", clock_env: dict[str, str] | None = None,
           extra: dict[str, str] | None = None) -> Services:
        """The four services as processes on the given infrastructure."""
        return cls({
            name: ServiceProcess(
                name,
                service_env(database_url=database_url, bootstrap_servers=bootstrap_servers, smtp_port=smtp_port,
                            port=http_ports[name], topic_prefix=topic_prefix, clock_env=clock_env, extra=extra),
                log_dir / f"{name}.log",
                http_ports[name],
            )
            for name in SERVICES
        })

    def start(self) -> None:
        for proc in self.processes.values():
            proc.start()

    def wait_ready(self, timeout: float = 120.0, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names or self.processes)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.processes[name]
                if not proc.alive():
                    tail = proc.log_file.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"service {name} exited with {proc.process.returncode}:\n{tail}")
                if proc.ready():
                    pending.discard(name)
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"services not ready after {timeout:.0f}s: {sorted(pending)}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.alive():
                proc.process.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            proc.stop()
