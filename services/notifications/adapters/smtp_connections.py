"""A few kept connections to the mail server, so a mail costs its transfer and not a new session
(TCP, greeting, EHLO, STARTTLS, login) each time.

Each connection carries one mail at a time. One is kept only while it is known to be sound: after a
mail went through, or after the server answered with a refusal (aiosmtplib has then reset the
envelope). One that broke, timed out or was cancelled mid-transfer is closed. A kept connection is
used again only if it has been idle for less than `idle_seconds`: a server closes idle sessions after
a while (RFC 5321 asks for at least 5 minutes), and a send over a connection the server has just
dropped cannot tell whether the mail went, so it would be given up. After `messages_per_connection`
mails a connection is closed politely and the next send opens a fresh one, as relays expect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib


@dataclass
class Kept:
    smtp: aiosmtplib.SMTP
    sent: int = 0  # mails that went through on it
    idle_since: float = 0.0


class SmtpConnections:
    def __init__(self, *, host: str, port: int, username: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout: float = 15.0, size: int = 4, messages_per_connection: int = 100,
                 idle_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password
        self.starttls, self.timeout = starttls, timeout
        self.messages_per_connection, self.idle_seconds, self.clock = messages_per_connection, idle_seconds, clock
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Kept] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.opened = 0  # connections opened so far (for tests and logs)

    async def take(self) -> Kept:
        """A connection for one mail: a kept one still fresh, else a new one. Raises what
        `aiosmtplib` raises when the server cannot be reached or refuses the login."""
        await self._slots.acquire()
        try:
            while self._idle:
                kept = self._idle.pop()
                if kept.smtp.is_connected and self.clock() - kept.idle_since < self.idle_seconds:
                    return kept
                self._quit(kept)
            return Kept(await self._connect())
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, kept: Kept, *, sound: bool) -> None:
        """Return a connection after one mail; `sound` when the session is known to be in a clean state."""
        try:
            if not sound or not kept.smtp.is_connected:
                kept.smtp.close()
            elif kept.sent >= self.messages_per_connection:
                self._quit(kept)
            else:
                kept.idle_since = self.clock()
                self._idle.append(kept)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Say goodbye on every kept connection."""
        while self._idle:
            self._quit(self._idle.pop())
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout, start_tls=self.starttls)
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self.opened += 1
        return smtp

    def _quit(self, kept: Kept) -> None:
        async def quit_politely() -> None:
            try:
                await kept.smtp.quit()
            except Exception:  # noqa: BLE001 (closing is best effort; its mails are decided)
                kept.smtp.close()

        if not kept.smtp.is_connected:
            kept.smtp.close()
            return
        task = asyncio.create_task(quit_politely())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

