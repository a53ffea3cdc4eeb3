"""A local chat webhook for tests: an HTTP(S) server in a thread that keeps every message posted to
it, headers and raw body included, as a chat tool's incoming webhook would, and checks each
Standard Webhooks signature with the specification's own library when given the endpoint's secret.
It can also misbehave, for fault tests: answer with an error `status`, or `hang` past the sender's
timeout; only what it accepted (a 2xx answer) counts as received."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from standardwebhooks.webhooks import Webhook

from tandem.local.stack import free_port


@dataclass(frozen=True)
class Received:
    raw: bytes
    headers: dict[str, str]  # lower-case names
    body: dict
    path: str

    @property
    def data(self) -> dict:
        """The message itself: the `data` of a Standard Webhooks body."""
        return self.body.get("data", self.body)

    def verified_with(self, secret: str) -> dict:
        """The body, once its signature checks out with `secret` (raises when it does not)."""
        return Webhook(secret).verify(self.raw, self.headers)


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None  # serve https with this context
    path: str = "/hooks/program-team"
    status: int = 204  # the answer; anything but 2xx is a failure the sender retries
    hang: bool = False  # read the message, then answer nothing until the sender has given up
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def has(self, count: int):
        """An async check for `eventually`: at least `count` messages arrived."""
        async def check() -> bool:
            return len(self.received) >= count
        return check

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang:
                    time.sleep(15)  # longer than the sender waits, so this is never answered in time
                    return
                if 200 <= receiver.status < 300:
                    receiver.received.append(Received(raw, {k.lower(): v for k, v in self.headers.items()},
                                                      json.loads(raw), self.path))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
