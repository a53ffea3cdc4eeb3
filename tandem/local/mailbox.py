"""A local SMTP server (aiosmtpd) that keeps every message it accepts as an .eml file.

Stands in for the organisation's mail relay in `tandem up`, the demo and the tests: services talk
real SMTP to it, and what "reached the inbox" can be read back from disk.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


class _SaveToDisk:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        with self._lock:
            name = f"{time.time_ns()}-{next(self._counter):06d}.eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"


@dataclass
class LocalMailbox:
    directory: Path
    port: int
    host: str = "127.0.0.1"
    _controller: Controller | None = field(default=None, repr=False)

    def start(self) -> None:
        from tandem.local.ports import PortTaken, describe, is_free, listener

        if not is_free(self.port, self.host):
            raise PortTaken(f"port {self.port} is needed for the local mail server but is already in use by "
                            f"{describe(listener(self.port))}. Stop that process first.")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_SaveToDisk(self.directory), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse_connections(self) -> None:
        """Stop listening, as a server that is down for maintenance: new connections are refused, a
        transfer under way still finishes. `accept_connections` listens again."""
        controller = self._controller
        if controller is not None and controller.server is not None:
            closed = threading.Event()

            def close() -> None:
                controller.server.close()  # the listening socket only; sessions keep their connections
                closed.set()
            controller.loop.call_soon_threadsafe(close)
            closed.wait(5)

    def accept_connections(self) -> None:
        self.stop()
        self.start()


def read_mailbox(directory: Path) -> list[EmailMessage]:
    """Every stored message, oldest first."""
    messages = []
    for path in sorted(directory.glob("*.eml")):
        messages.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    return messages  # type: ignore[return-value]
