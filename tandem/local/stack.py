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
from tandem.local.kafka import LocalKafka, LocalKafkaCluster
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
    kafka: LocalKafka | LocalKafkaCluster | None = None
    mailbox: LocalMailbox | None = None
    database_url: str = ""
    bootstrap_servers: str = ""
    kafka_nodes: int = 1  # 3: a KRaft cluster with replication factor 3 (fault tests)

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
                self.postgres.start(logs / "postgres.log", say=say)
                self.database_url = self.postgres.url
            if not self.bootstrap_servers:
                if self.kafka_nodes == 1:
                    say(f"starting Apache Kafka (KRaft) on 127.0.0.1:{self.ports.kafka}")
                    self.kafka = LocalKafka(self.home / "kafka", self.ports.kafka, self.ports.kafka_controller)
                    self.kafka.start(logs / "kafka.log", say=say)
                else:
                    say(f"starting a {self.kafka_nodes}-node Apache Kafka cluster (KRaft)")
                    self.kafka = LocalKafkaCluster(
                        self.home / "kafka", [self.ports.kafka] + [free_port() for _ in range(self.kafka_nodes - 1)],
                        [self.ports.kafka_controller] + [free_port() for _ in range(self.kafka_nodes - 1)])
                    self.kafka.start(logs, say=say)
                self.bootstrap_servers = self.kafka.bootstrap_servers
            say(f"starting the mail server on 127.0.0.1:{self.ports.smtp} (messages in {self.mail_dir})")
            self.mailbox = LocalMailbox(self.mail_dir, self.ports.smtp)
            self.mailbox.start()
        except BaseException:
            self.stop()
            raise
        say(f"infrastructure up in {time.monotonic() - started:.1f}s")

    def create_topics(self, prefix: str = "") -> None:
        replication = 3 if isinstance(self.kafka, LocalKafkaCluster) else 1
        asyncio.run(ensure_topics(self.bootstrap_servers, all_topic_names(prefix), replication_factor=replication))

    def stop(self) -> None:
        for part in (self.mailbox, self.kafka, self.postgres):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


@dataclass
class ServiceProcess:
    """One replica of one service, as its own OS process with its own HTTP port."""

    service: str
    replica: int
    env: dict[str, str]
    log_file: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return f"{self.service}#{self.replica}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"], env=self.env, cwd=REPO,
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

    def describe(self) -> str:
        """What `tandem up` prints for each process."""
        return f"{self.name} pid {self.pid} http://127.0.0.1:{self.port}/readyz"


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


def provision_roles(owner_url: str, store: Path | None = None) -> dict[str, str]:
    """A role per service owning its schema (shared.db.provision); their URLs, by service. The
    passwords are TANDEM_DB_PASSWORD_<SERVICE> when given, else random ones kept in `store` (by
    default, kept for the server: tandem/local/passwords.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.db import provision
    from tandem.local.passwords import role_passwords, server_store

    passwords = role_passwords(SERVICES, store or server_store(owner_url))
    with ThreadPoolExecutor(1) as pool:  # its own event loop, whatever the caller runs in
        return pool.submit(asyncio.run, provision(owner_url, SERVICES, passwords)).result()


def fixed_http_ports(base: dict[str, int], replicas: int) -> dict[str, int]:
    """Replica k of a service listens on its base port + 10 (k - 1): 8081, 8091, 8101, ..."""
    return {f"{name}#{k}": port + 10 * (k - 1) for name, port in base.items() for k in range(1, replicas + 1)}


def free_http_ports(replicas: int = 1) -> dict[str, int]:
    return {f"{name}#{k}": free_port() for name in SERVICES for k in range(1, replicas + 1)}


@dataclass
class Services:
    """Every replica of the four services, keyed `<service>#<k>`; replicas of a service share its
    consumer groups, so Kafka spreads the partitions over them."""

    processes: dict[str, ServiceProcess]

    @classmethod
    def create(cls, infra: Infrastructure, *, replicas: int = 1, **kwargs) -> Services:
        # The roles' passwords stay with the server: in the home when the server is the home's own.
        store = infra.home / "db-passwords.json" if infra.postgres is not None else None
        return cls.on(database_url=infra.database_url, bootstrap_servers=infra.bootstrap_servers,
                      smtp_port=infra.ports.smtp, http_ports=fixed_http_ports(infra.ports.http, replicas),
                      log_dir=infra.home / "logs", replicas=replicas, password_store=store, **kwargs)

    @classmethod
    def on(cls, *, database_url: str, bootstrap_servers: str, smtp_port: int, http_ports: dict[str, int],
           log_dir: Path, replicas: int = 1, topic_prefix: str = "", clock_env: dict[str, str] | None = None,
           extra: dict[str, str] | None = None, password_store: Path | None = None) -> Services:
        """The four services, `replicas` processes each, on the given infrastructure. `database_url` is
        the owner's: each service connects with a role of its own that owns only its schema."""
        urls = provision_roles(database_url, password_store)
        # Participants' action links lead to the first notifications replica (one public address,
        # as a load balancer would give in production); whatever replica serves a page can act on it.
        public = {"TANDEM_PUBLIC_URL": f"http://127.0.0.1:{http_ports['notifications#1']}"}
        processes = {}
        for name in SERVICES:
            for k in range(1, replicas + 1):
                port = http_ports[f"{name}#{k}"]
                processes[f"{name}#{k}"] = ServiceProcess(
                    name, k,
                    service_env(database_url=urls[name], bootstrap_servers=bootstrap_servers, smtp_port=smtp_port,
                                port=port, topic_prefix=topic_prefix, clock_env=clock_env,
                                extra={**public, **(extra or {})}),
                    log_dir / (f"{name}.log" if k == 1 else f"{name}-{k}.log"),
                    port,
                )
        return cls(processes)

    def replica(self, service: str, k: int = 1) -> ServiceProcess:
        return self.processes[f"{service}#{k}"]

    def of(self, names: tuple[str, ...] | None) -> list[ServiceProcess]:
        """Processes by service name (all its replicas) or by `<service>#<k>`; all when None."""
        if names is None:
            return list(self.processes.values())
        return [p for p in self.processes.values() if p.service in names or p.name in names]

    def start(self) -> None:
        for proc in self.processes.values():
            proc.start()

    def wait_ready(self, timeout: float = 120.0, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {p.name: p for p in self.of(names)}
        while pending and time.monotonic() < deadline:
            for name, proc in list(pending.items()):
                if not proc.alive():
                    tail = proc.log_file.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"service {name} exited with {proc.process.returncode}:\n{tail}")
                if proc.ready():
                    del pending[name]
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"services not ready after {timeout:.0f}s: {sorted(pending)}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.alive():
                proc.process.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            proc.stop()
