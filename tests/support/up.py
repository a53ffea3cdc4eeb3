"""`tandem up` run by a test as a person runs it: a subprocess on the fixed local ports, started
until it says it is up, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from tandem.local.stack import Ports

# Settings a developer's shell may hold that would point `tandem up` elsewhere or sign people in.
_NOT_PASSED = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TANDEM_ROLE_MAP")
_NOT_PASSED_PREFIXES = ("TANDEM_OIDC_", "TANDEM_OPS_")


def in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def skip_if_ports_taken(http_ports) -> Ports:
    ports = Ports()
    busy = [p for p in (ports.postgres, ports.kafka, ports.kafka_controller, ports.smtp, *http_ports) if in_use(p)]
    if busy:
        pytest.skip(f"tandem up's ports are taken here: {busy}")
    return ports


def environment(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED and not k.startswith(_NOT_PASSED_PREFIXES)}
    env["TANDEM_HOME"] = str(home)
    return env


def start(args: list[str], env: dict[str, str], timeout: float = 150) -> tuple[subprocess.Popen, list[str]]:
    """`tandem up <args>` and the lines it printed up to "Tandem is up"; the caller stops it."""
    proc = subprocess.Popen([sys.executable, "-m", "tandem", "up", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Tandem is up"):
                break
        assert lines and lines[-1].startswith("Tandem is up"), "".join(lines)
    except BaseException:
        stop(proc)
        raise
    return proc, lines


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C, as a person stops it (the stack stops its own processes, each in its own session);
    whatever still runs a minute later is killed."""
    if proc.poll() is not None:
        return
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for child in psutil.wait_procs(children, timeout=30)[1]:
        child.kill()
