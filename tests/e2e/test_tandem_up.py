"""`tandem up` starts everything on its fixed local ports, and Ctrl-C stops all of it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tandem.local.stack import DEFAULT_HTTP_PORTS, Ports

pytestmark = pytest.mark.e2e


def _in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_then_ctrl_c(tmp_path):
    ports = Ports()
    busy = [p for p in (ports.postgres, ports.kafka, ports.kafka_controller, ports.smtp, *DEFAULT_HTTP_PORTS.values())
            if _in_use(p)]
    if busy:
        pytest.skip(f"tandem up's ports are taken here: {busy}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env["TANDEM_HOME"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "tandem", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Tandem is up"):
                break
        assert lines and lines[-1].startswith("Tandem is up"), "".join(lines)
        for name, port in DEFAULT_HTTP_PORTS.items():
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": True, "broker": True}, name
            assert "tandem_outbox_pending" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(60) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline()[:3] for p in alive]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert all(not _in_use(p) for p in (ports.postgres, ports.kafka, *DEFAULT_HTTP_PORTS.values()))
