"""A local chat webhook for tests: an HTTP(S) server in a thread that keeps every message posted to
it, headers and raw body included, as a chat tool's incoming webhook would, and checks each
Standard Webhooks signature with the specification's own library when given the endpoint's secret.
It can also misbehave, for fault tests: answer with an error `status`, `hang` past the sender's
timeout, `trickle` its answer a byte at a time, or stream an `answer_size` bytes long answer (never
held in memory); only what it accepted in full (a 2xx answer, sent to its end) counts as received."""

from __future__ import annotations

import json
import socket
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
    trickle: float | None = None  # answer 200, then one byte of its body every `trickle` seconds
    answer_size: int = 0  # answer 200 with a body this long, written as fast as the client reads it
    received: list[Received] = field(default_factory=list)
    posts: int = 0  # messages that came in, however they were answered
    answer_written: int = 0  # bytes of trickled or long answers the client took before it left
    gone: int = 0  # answers the client left before their end
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
                receiver.posts += 1
                if receiver.hang:
                    time.sleep(15)  # longer than the sender waits, so this is never answered in time
                    return
                if receiver.trickle is not None or receiver.answer_size:
                    self._answer_slowly_or_long()
                    return
                if 200 <= receiver.status < 300:
                    receiver.received.append(Received(raw, {k.lower(): v for k, v in self.headers.items()},
                                                      json.loads(raw), self.path))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer_slowly_or_long(self) -> None:
                # A small send buffer, so what was written is about what the client took.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
                size = receiver.answer_size or 1 << 30
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b"x" if receiver.trickle is not None else bytes(64 * 1024)
                left = size
                try:
                    while left > 0:
                        part = chunk[:left]
                        self.wfile.write(part)
                        receiver.answer_written += len(part)
                        left -= len(part)
                        if receiver.trickle is not None:
                            time.sleep(receiver.trickle)
                except OSError:  # the client left (reset or broken pipe)
                    receiver.gone += 1
                    self.close_connection = True

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
