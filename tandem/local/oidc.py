"""A local OpenID Provider: node-oidc-provider (OpenID Certified) run from `deploy/oidc/server.mjs`.

Stands in for the organisation's identity provider in `tandem up` and the tests: the dashboard signs
people in with the real authorization code + PKCE flow against it, and the users, their passwords and
groups are the ones given here. Everything it holds (keys, sessions, tokens) lives in its memory.
`make install` brings its npm packages (`npm ci --prefix deploy/oidc`); Node.js 20.19+ is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tandem.local.ports import PortTaken, describe, is_free, listener, verify

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "deploy" / "oidc" / "server.mjs"


def missing_prerequisite() -> str | None:
    """What the provider needs and this machine lacks (Node.js, its npm packages), said for a person; None
    when it can start."""
    if shutil.which("node") is None:
        return "Node.js (20.19 or newer) is needed for the local OpenID Provider"
    if not (SERVER.parent / "node_modules" / "oidc-provider").is_dir():
        return ("the local OpenID Provider's packages are missing: run `make install` "
                "(it runs `npm ci --prefix deploy/oidc`)")
    return None


class LocalOpenIDProvider:
    """One provider process on 127.0.0.1:`port`; its config file and nothing else is kept in `home`.

    `clients`: [{client_id, client_secret, redirect_uris, post_logout_redirect_uris?, application_type?}]
    (application_type "native" lets a loopback redirect URI match on any port, per RFC 8252).
    `users`: {login: {password, name, email, groups: [...]}}.
    """

    def __init__(self, home: Path, port: int, clients: list[dict], users: dict[str, dict]) -> None:
        self.home = Path(home)
        self.port = port
        self.clients = clients
        self.users = users
        self.process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def config_file(self) -> Path:
        return self.home / "config.json"

    def start(self, log_path: Path, timeout: float = 30.0) -> None:
        if (missing := missing_prerequisite()) is not None:
            raise RuntimeError(missing)
        node = shutil.which("node")
        if not is_free(self.port):
            raise PortTaken(f"port {self.port} is needed for the local OpenID Provider but is already in use by "
                            f"{describe(listener(self.port))}. Stop that process first.")
        self.home.mkdir(parents=True, exist_ok=True)
        # The users' passwords are in it: readable by this user only.
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"issuer": self.issuer, "port": self.port, "clients": self.clients, "users": self.users}, f)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [node, str(SERVER), str(self.config_file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            self._wait_ready(log_path, timeout)
            verify(self.port, self.process.pid, what="the local OpenID Provider", env_var="TANDEM_OIDC_ISSUER")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, log_path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the local OpenID Provider exited with {self.process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(self.discovery_url, timeout=2)
                if answer.status_code == 200 and answer.json().get("issuer") == self.issuer:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the local OpenID Provider did not answer on {self.discovery_url} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
