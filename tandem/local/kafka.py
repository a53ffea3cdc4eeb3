"""A real single-node Apache Kafka broker in KRaft mode, run from Maven Central jars as a local process.

The jars come from `deploy/kafka/fetch-kafka.sh` (Maven, cached under ~/.cache/tandem). No Docker,
no ZooKeeper: one JVM that is both controller and broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
"""


@dataclass
class LocalKafka:
    data_dir: Path
    port: int
    controller_port: int
    heap: str = "768m"
    process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log_file: Path) -> None:
        libs = fetch_jars()
        classpath = f"{libs}/*"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.data_dir / "data"
        config = self.data_dir / "server.properties"
        config.write_text(SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port, log_dir=log_dir))
        java = ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.file={log_file}", "-cp", classpath]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if not (log_dir / "meta.properties").exists():
            subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", str(uuid.uuid4()), "-c", str(config)],
                check=True, capture_output=True,
            )
        with open(log_file.with_suffix(".out"), "ab") as out:
            self.process = subprocess.Popen(
                [*java, "kafka.Kafka", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_listening(log_file)

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

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
