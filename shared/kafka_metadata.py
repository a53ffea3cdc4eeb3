"""aiokafka's metadata task kept alive.

Every aiokafka client (each consumer's, each producer's) has one background task that refreshes the
cluster's metadata; whoever needs fresh metadata (finding a group's coordinator again after the
broker came back, for one) waits on that task's next answer. aiokafka 0.14 starts the task once and
never again: should one refresh raise an exception it does not expect, the task ends silently, every
later wait for metadata waits for ever, and that consumer stops. It was seen with the broker killed
and restarted under load (tests/chaos): one consumer group of a service went empty and stayed so.

`keep_alive()` wraps the task so that such an exception is logged with its traceback, and the task
starts again a moment later and answers those waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.client import AIOKafkaClient

log = logging.getLogger(__name__)

RESTART_AFTER = 0.5  # seconds: an exception that comes back at once does not spin the loop
_original: Callable[[AIOKafkaClient], Awaitable[None]] | None = None


def keep_alive() -> None:
    """Install the guard (once per process; idempotent)."""
    global _original
    if _original is not None:
        return
    _original = AIOKafkaClient._md_synchronizer
    AIOKafkaClient._md_synchronizer = _synchronizer_that_survives


async def _synchronizer_that_survives(client: Any) -> None:
    assert _original is not None
    while True:
        try:
            await _original(client)
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():  # the client closing
                raise
            # A CancelledError from something it awaited, not for this task: a failure like any other.
            log.exception("Kafka client %s: its metadata task was interrupted; it starts again", client._client_id)
            _answer_again(client)
        except Exception:
            log.exception("Kafka client %s: its metadata task failed; it starts again", client._client_id)
            _answer_again(client)
        await asyncio.sleep(RESTART_AFTER)


def _answer_again(client: Any) -> None:
    """Ready the client for its task's next round, which refreshes at once and answers those waiting."""
    pending = client._md_update_fut
    if pending is not None and pending.done():  # answered already: the next refresh needs its own
        client._md_update_fut = None
    if not client._md_update_waiter.done():
        client._md_update_waiter.set_result(None)
