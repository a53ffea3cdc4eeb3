"""A real single-node Apache Kafka broker in KRaft mode, run from Maven Central jars as a local process.

The jars come from `deploy/kafka/fetch-kafka.sh` (Maven, cached under ~/.cache/tandem). No Docker,
no ZooKeeper: one JVM that is both controller and broker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tandem.local.ports import claim, mark_owner, verify

REPO = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = REPO / "deploy" / "kafka" / "fetch-kafka.sh"
LOG4J_CONFIG = REPO / "deploy" / "kafka" / "log4j2.properties"


def fetch_jars() -> Path:
    try:
        out = subprocess.run(["bash", str(FETCH_SCRIPT)], check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise RuntimeError("bash is needed to fetch Kafka") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"fetching Kafka from Maven Central failed (Java 17+ and Maven needed):\n{exc.stderr}") from exc
    return Path(out.stdout.strip().splitlines()[-1])


SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
num.partitions=3
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
"""


@dataclass
class LocalKafka:
    """One Kafka node (broker and controller). Alone by default; `LocalKafkaCluster` makes three."""

    data_dir: Path
    port: int
    controller_port: int
    heap: str = "768m"
    process: subprocess.Popen | None = None
    log_file: Path | None = None
    node_id: int = 1
    voters: str = ""  # controller.quorum.voters; this node alone when empty
    replication: int = 1
    min_isr: int = 1
    cluster_id: str | None = None  # every node of a cluster is formatted with the same id

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log_file: Path, say=print) -> None:
        self.start_process(log_file, say=say)
        self.wait_listening(log_file)

    def start_process(self, log_file: Path, say=print) -> None:
        """Format the storage once and launch the JVM (again, after a kill: same data, same ports)."""
        libs = fetch_jars()
        classpath = f"{libs}/*"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.data_dir / "data"
        config = self.data_dir / "server.properties"
        config.write_text(SERVER_PROPERTIES.format(
            port=self.port, controller_port=self.controller_port, log_dir=log_dir, node_id=self.node_id,
            voters=self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
            replication=self.replication, min_isr=self.min_isr))
        java = ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.file={log_file}", "-cp", classpath]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        for port in (self.port, self.controller_port):
            claim(port, what="Apache Kafka", env_var="KAFKA_BOOTSTRAP_SERVERS", marker="server.properties", say=say)
        mark_owner(self.data_dir)
        if not (log_dir / "meta.properties").exists():
            subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t",
                 self.cluster_id or str(uuid.uuid4()), "-c", str(config)],
                check=True, capture_output=True,
            )
        with open(log_file.with_suffix(".out"), "ab") as out:
            self.process = subprocess.Popen(
                [*java, "kafka.Kafka", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.log_file = log_file

    def wait_listening(self, log_file: Path, timeout: float = 90.0) -> None:
        self._wait_listening(log_file, timeout)
        verify(self.port, self.process.pid, what="Apache Kafka", env_var="KAFKA_BOOTSTRAP_SERVERS")

    def restart(self, timeout: float = 90.0) -> None:
        """Start the same node again after a kill (the data stays)."""
        self.start_process(self.log_file)
        self.wait_listening(self.log_file, timeout)

    def _wait_listening(self, log_file: Path, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
                raise RuntimeError(f"Kafka exited with {self.process.returncode}:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"Kafka did not start listening on port {self.port} within {timeout:.0f}s")

    def pause(self) -> None:
        """SIGSTOP: the broker stops answering, connections stay open (a long GC pause, a frozen VM)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the broker dies without a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


@dataclass
class LocalKafkaCluster:
    """Three KRaft nodes, each broker and controller, with replication factor 3 and
    `min.insync.replicas` 2: one node can be lost without losing a write or stopping the system."""

    home: Path
    ports: list[int]
    controller_ports: list[int]
    heap: str = "640m"
    nodes: list[LocalKafka] = field(default_factory=list)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def start(self, log_dir: Path, say=print) -> None:
        voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(self.controller_ports))
        cluster_id = _cluster_id()
        self.nodes = [LocalKafka(self.home / f"node-{i + 1}", port, cport, heap=self.heap, node_id=i + 1,
                                 voters=voters, replication=3, min_isr=2, cluster_id=cluster_id)
                      for i, (port, cport) in enumerate(zip(self.ports, self.controller_ports, strict=True))]
        # A node waits for a quorum of controllers before it listens: start them all, then wait.
        for i, node in enumerate(self.nodes):
            node.start_process(log_dir / f"kafka-{i + 1}.log", say=say)
        for i, node in enumerate(self.nodes):
            node.wait_listening(log_dir / f"kafka-{i + 1}.log", timeout=150)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` gives)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
