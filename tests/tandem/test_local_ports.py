"""Start-up that cannot be fooled: a stranger on a server's port is reported, never used; a server
left behind by a killed run is stopped and replaced."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import psutil
import pytest

from tandem.local.ports import PortTaken, is_free, listener
from tandem.local.postgres import LocalPostgres
from tandem.local.stack import free_port

pytestmark = pytest.mark.integration


def test_a_stranger_on_the_port_is_named_and_never_used(tmp_path):
    port = free_port()
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        with pytest.raises(PortTaken) as info:
            LocalPostgres(tmp_path / "pg", port).start(tmp_path / "pg.log")
    message = str(info.value)
    assert f"port {port} is needed for PostgreSQL" in message
    assert f"pid {psutil.Process().pid}" in message and "DATABASE_URL" in message


def test_a_server_left_behind_by_a_killed_run_is_stopped_and_replaced(tmp_path):
    port = free_port()
    # An earlier run starts PostgreSQL and is killed before it can stop it: the server lives on.
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from tandem.local.postgres import LocalPostgres
        LocalPostgres(Path({str(tmp_path / 'earlier')!r}), {port}).start(Path({str(tmp_path / 'earlier.log')!r}))
        os.kill(os.getpid(), 9)
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    leftover = listener(port)
    assert leftover is not None and "postgres" in leftover.name()

    said: list[str] = []
    ours = LocalPostgres(tmp_path / "now", port)
    try:
        ours.start(tmp_path / "now.log", say=said.append)
        assert listener(port).pid == ours.process.pid
        assert not leftover.is_running()
        assert said and f"pid {leftover.pid}" in said[0] and "left behind by an earlier run" in said[0]
    finally:
        ours.stop()
    assert is_free(port)
