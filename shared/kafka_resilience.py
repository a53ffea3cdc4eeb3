"""Two gaps of aiokafka 0.14 on uvloop, closed: a consumer must never stop for good after the broker
was away.

1. Writing a request to a connection whose socket has just closed raises, on uvloop, RuntimeError
   ("unable to perform operation on <TCPTransport closed=True ...>; the handler is closed"), where
   asyncio's own loop raises an OSError. aiokafka's `AIOKafkaConnection.send` turns only OSError
   into "connection broken" (KafkaConnectionError, which every caller retries); the RuntimeError
   escapes instead. Seen with the broker killed and restarted under load (tests/chaos): it ended a
   client's metadata task. `send` is wrapped so that it fails as aiokafka means it to.
2. Every aiokafka client (each consumer's, each producer's) has one background task that refreshes
   the cluster's metadata; whoever needs fresh metadata (finding a group's coordinator again, for
   one) waits on that task's next answer. aiokafka starts it once: should a refresh raise anything
   it does not expect, the task ends silently, every later wait for metadata waits for ever, and
   that consumer stops (its group went empty and stayed so). The task is wrapped so that such an
   exception is logged with its traceback, and the task starts again and answers those waiting.

`keep_alive()` installs both, once per process, before any client starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.errors import KafkaConnectionError

log = logging.getLogger(__name__)

RESTART_AFTER = 0.5  # seconds: an exception that comes back at once does not spin the loop
_original: Callable[[AIOKafkaClient], Awaitable[None]] | None = None
_original_send: Callable[..., Any] | None = None


def keep_alive() -> None:
    """Install both guards (once per process; idempotent)."""
    global _original, _original_send
    if _original is not None:
        return
    _original, _original_send = AIOKafkaClient._md_synchronizer, AIOKafkaConnection.send
    AIOKafkaClient._md_synchronizer = _synchronizer_that_survives
    AIOKafkaConnection.send = _send_or_fail_as_broken


def _send_or_fail_as_broken(conn: Any, request: Any, expect_response: bool = True) -> Any:
    assert _original_send is not None
    try:
        return _original_send(conn, request, expect_response)
    except RuntimeError as err:
        writer = conn._writer
        if writer is None or not writer.transport.is_closing():
            raise  # not the closed socket this is about
        conn.close(reason=CloseReason.CONNECTION_BROKEN)  # what aiokafka does for an OSError here
        raise KafkaConnectionError(f"Connection at {conn._host}:{conn._port} broken: {err}") from err


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
