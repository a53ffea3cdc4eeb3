"""Background loops: do a pass of work, then sleep until woken or until the next piece of work is due.

Every service's time- or queue-driven work (the outbox relay, reminders, the series, deliveries,
proposal expiry) is one `step` run by `run_loop`:

- the step returns a `Pass`: `more` when it stopped at its batch size (go again at once), and
  `due_in` when it knows how many real seconds remain until its next piece of work;
- otherwise the loop sleeps for `poll` seconds at the most, and wakes early when its `Wakeup` is
  set (a handler that committed new work, or a Postgres NOTIFY);
- infrastructure errors are waited out with jittered backoff; any other error propagates, and the
  service's supervisor logs it and starts the loop again.

Each step must be safe with N replicas running the same loop (row locks, SKIP LOCKED, or an
advisory lock); the loop itself adds no coordination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from shared.retry import Backoff, is_infrastructure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """What one pass of a loop found."""

    more: bool = False  # stopped at its batch size: run again at once
    due_in: float | None = None  # real seconds until the next known piece of work


class Wakeup:
    """A nudge for a background loop, set by whoever creates work for it (often after a commit)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives
        # as the inner wait completes, and a loop that cannot be cancelled hangs its service's stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()


async def run_loop(
    name: str,
    step: Callable[[], Awaitable[Pass]],
    *,
    poll: float,
    wake: Wakeup | None = None,
    min_sleep: float = 0.005,
    backoff_max: float = 10.0,
) -> None:
    """Run `step` for ever (see the module docstring)."""
    wake = wake or Wakeup()
    backoff = Backoff(0.1, backoff_max)
    while True:
        wake.clear()  # cleared before the pass: a nudge during it is not lost
        try:
            outcome = await step()
            backoff.reset()
        except Exception as exc:
            if not is_infrastructure(exc):
                raise
            delay = backoff.next_delay()
            log.warning("%s: %r; retrying in %.2fs", name, exc, delay)
            await asyncio.sleep(delay)
            continue
        if outcome.more:
            await asyncio.sleep(0)  # let handlers and heartbeats run between full batches
            continue
        timeout = poll if outcome.due_in is None else min(poll, outcome.due_in)
        await wake.wait(max(timeout, min_sleep))


async def listen(database_url: str, channel: str, wake: Wakeup, *, keepalive: float = 10.0) -> None:
    """Set `wake` on every NOTIFY on `channel`, for ever: reconnects after a Postgres restart.

    Each (re)connection also sets `wake`, since notifications sent while it was away are lost.
    """
    backoff = Backoff(0.2, 10.0)
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(database_url)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda *_, closed=closed: closed.set())
            await conn.add_listener(channel, lambda *_: wake.set())
            backoff.reset()
            wake.set()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(keepalive):  # not wait_for: see Wakeup.wait
                        await closed.wait()
                if not closed.is_set():
                    await conn.fetchval("SELECT 1")  # a dead server is noticed within `keepalive`
            log.warning("LISTEN %s: connection closed; reconnecting", channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning("LISTEN %s unavailable (%r); polling meanwhile, reconnecting in %.1fs", channel, exc, delay)
            wake.set()
            await asyncio.sleep(delay)
        finally:
            if conn is not None and not conn.is_closed():
                conn.terminate()  # no waiting here: this may run while the task is being cancelled
