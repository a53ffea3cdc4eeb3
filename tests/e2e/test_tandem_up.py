"""`tandem up --replicas 2` starts everything on its fixed local ports, restarts a replica that
dies, and Ctrl-C stops all of it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import httpx
import psutil
import pytest

from tandem.local.stack import DEFAULT_HTTP_PORTS, fixed_http_ports
from tests.support import up as tandem_up
from tests.support.up import in_use, skip_if_ports_taken

pytestmark = pytest.mark.e2e


def test_up_then_ctrl_c(tmp_path):
    http = fixed_http_ports(DEFAULT_HTTP_PORTS, 2)
    ports = skip_if_ports_taken(http.values())
    proc, lines = tandem_up.start(["--replicas", "2"], tandem_up.environment(tmp_path))
    try:
        announced = dict(re.findall(r"^(\w+#\d) pid (\d+) http://127\.0\.0\.1:\d+/readyz$", "".join(lines), re.M))
        assert sorted(announced) == sorted(http), "".join(lines)  # one line per process: matching#1 ... feedback#2
        assert f"dashboard: http://127.0.0.1:{DEFAULT_HTTP_PORTS['feedback']}/dashboard" in "".join(lines)
        token = re.search(r"^TANDEM_OPS_TOKEN=(\S{16,})$", "".join(lines), re.M)  # a random one, since none was given
        assert token
        # No identity provider: the dashboard and API take the break-glass token, and nobody without it.
        dashboard = f"http://127.0.0.1:{DEFAULT_HTTP_PORTS['feedback']}"
        assert httpx.get(f"{dashboard}/api/programs", timeout=5).status_code == 401
        assert httpx.get(f"{dashboard}/api/programs", headers={"Authorization": f"Bearer {token[1]}"},
                         timeout=5).status_code == 200
        signed = httpx.post(f"{dashboard}/dashboard/sign-in", data={"token": token[1]}, headers={"origin": dashboard},
                            timeout=5)
        assert signed.status_code == 303 and signed.cookies.get("tandem_ops_session")
        assert (tmp_path / "session-key").stat().st_mode & 0o077 == 0
        for name, port in http.items():
            assert f"{name} pid {announced[name]} http://127.0.0.1:{port}/readyz" in "".join(lines)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": True, "broker": True}, name
            assert "tandem_outbox_pending" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        # The roles' passwords: random, one per service, kept for its own PostgreSQL, its owner's only.
        kept = tmp_path / "db-passwords.json"
        assert sorted(json.loads(kept.read_text())) == sorted(DEFAULT_HTTP_PORTS)
        assert len(set(json.loads(kept.read_text()).values())) == 4 and kept.stat().st_mode & 0o077 == 0
        # A replica that dies is started again, with the same name and port.
        os.kill(int(announced["scheduling#2"]), signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("scheduling#2 pid ") and line.split()[2] != announced["scheduling#2"]:
                break
        assert "scheduling#2 exited (-9); restarting it\n" in lines, "".join(lines[-5:])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _ready(http["scheduling#2"]):
            time.sleep(0.5)
        assert _ready(http["scheduling#2"])
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(60) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline()[:3] for p in alive]
    finally:
        tandem_up.stop(proc)
    assert all(not in_use(p) for p in (ports.postgres, ports.kafka, *http.values()))


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
