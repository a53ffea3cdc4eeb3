"""Start-up that cannot be fooled: before a local server starts, its port must be free; after, the
process answering on it must be the one we started.

A server left behind by a killed run (its owner, the `tandem` process that started it, is gone) is
stopped; anything else holding the port is reported with its pid and command line and the
environment variable that points Tandem at an existing server instead. Nothing is silently reused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import psutil

OWNER_FILE = "tandem-owner.pid"


class PortTaken(RuntimeError):
    """The port a local server needs is held by a process we did not start."""


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listener(port: int) -> psutil.Process | None:
    """The process listening on this TCP port, when it can be found."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    return None


def describe(proc: psutil.Process | None) -> str:
    if proc is None:
        return "a process that cannot be identified here"
    try:
        command = " ".join(proc.cmdline())[:160] or proc.name()
    except psutil.Error:
        command = "?"
    return f"pid {proc.pid} ({command})"


def mark_owner(data_dir: Path) -> None:
    """Record which process started the server kept in `data_dir` (read to find leftovers)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / OWNER_FILE).write_text(str(os.getpid()))


def _leftover_of(proc: psutil.Process, marker: str) -> Path | None:
    """The data dir of a Tandem server whose owner is gone, else None. `marker` is how our servers'
    command lines name their data dir (postgres: `-D <dir>/data`, kafka: `<dir>/server.properties`)."""
    try:
        args = proc.cmdline()
    except psutil.Error:
        return None
    for i, arg in enumerate(args):
        path = None
        if marker == "-D" and arg == "-D" and i + 1 < len(args):
            path = Path(args[i + 1]).parent
        elif marker == "server.properties" and arg.endswith("/server.properties"):
            path = Path(arg).parent
        if path is not None and (path / OWNER_FILE).exists():
            with contextlib.suppress(ValueError, OSError):
                owner = int((path / OWNER_FILE).read_text().strip())
                if owner != os.getpid() and not psutil.pid_exists(owner):
                    return path
    return None


def claim(port: int, *, what: str, env_var: str, marker: str, say=print, timeout: float = 30.0) -> None:
    """Make sure `port` is free for the server we are about to start (see the module docstring)."""
    if is_free(port):
        return
    holder = listener(port)
    leftover = _leftover_of(holder, marker) if holder is not None else None
    if holder is None or leftover is None:
        raise PortTaken(
            f"port {port} is needed for {what} but is already in use by {describe(holder)}. "
            f"Stop that process, or set {env_var} to use an existing server instead of starting one.")
    say(f"stopping a {what} left behind by an earlier run ({describe(holder)}, data in {leftover})")
    with contextlib.suppress(psutil.Error):
        holder.terminate() if marker != "-D" else holder.send_signal(2)  # postgres: fast shutdown
        holder.wait(timeout)
    with contextlib.suppress(psutil.Error):
        if holder.is_running():
            holder.kill()
    deadline = time.monotonic() + timeout
    while not is_free(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not is_free(port):
        raise PortTaken(f"port {port} is still in use after stopping the leftover {what}")


def verify(port: int, process: psutil.Process | int, *, what: str, env_var: str) -> None:
    """The process listening on `port` must be ours (or one of its children)."""
    ours = process if isinstance(process, psutil.Process) else psutil.Process(process)
    holder = listener(port)
    if holder is None:
        return  # nothing identifiable listens: readiness checks will say so
    family = {ours.pid}
    with contextlib.suppress(psutil.Error):
        family |= {child.pid for child in ours.children(recursive=True)}
    if holder.pid not in family:
        raise PortTaken(
            f"{what} on port {port} is answered by {describe(holder)}, not by the server started here "
            f"({describe(ours)}). Stop that process, or set {env_var} to use it deliberately.")
