"""One retry policy for the whole system (tenacity): exponential backoff with full jitter, and one
answer to the question every retry asks first: is this the infrastructure, or is it us?

- Infrastructure (the database or the broker is away, restarting, overloaded, or a transaction
  lost a race) is waited out: it is nobody's fault and it passes.
- Everything else is a bug or bad data (`DataError`, a `KeyError`, a constraint violation): retried
  a few times at most, then reported, so one bad event can never block a partition for ever.

Jitter matters with N replicas: after a shared outage they must not all come back in lock-step.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import tenacity
from aiokafka import errors as kafka_errors

log = logging.getLogger(__name__)
T = TypeVar("T")

_POSTGRES_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, and ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # the server is starting or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.SerializationError,  # lost a race with another transaction: try again
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
)
_KAFKA_AWAY: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
)
_NETWORK: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, socket.gaierror)


class InfrastructureUnavailable(Exception):
    """Raised by our own code when something it depends on is away (e.g. records not published yet)."""


def is_infrastructure(exc: BaseException) -> bool:
    """True when `exc` means "something we depend on is away", never for a code or data bug."""
    if isinstance(exc, _POSTGRES_AWAY + _KAFKA_AWAY + _NETWORK + (InfrastructureUnavailable,)):
        return True
    # asyncpg says "the underlying connection is closed" (an InterfaceError, which is otherwise a
    # bug) when the server went away under a pooled connection, e.g. a database restart.
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return True
    # aiokafka marks the broker-side errors that go away by themselves (leader moving, and so on).
    return isinstance(exc, kafka_errors.KafkaError) and bool(getattr(exc, "retriable", False))


def jittered(initial: float, maximum: float) -> tenacity.wait.wait_base:
    """Full jitter: a random wait in [0, min(maximum, initial * 2**attempt)]."""
    return tenacity.wait_random_exponential(multiplier=initial, max=maximum)


def backoff_delay(initial: float, maximum: float, attempt: int) -> float:
    """The jittered wait before try number `attempt` + 1 (`attempt` failures so far)."""
    return jittered(initial, maximum)(_Attempt(attempt))  # type: ignore[arg-type]


class Backoff:
    """Jittered exponential delays for a loop that counts its own failures."""

    def __init__(self, initial: float = 0.1, maximum: float = 10.0) -> None:
        self._wait = jittered(initial, maximum)
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return self._wait(_Attempt(self.failures))  # type: ignore[arg-type]


class _Attempt:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


def _log_before_sleep(what: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: %r; retrying in %.2fs (attempt %d)", what, exc, state.upcoming_sleep, state.attempt_number)

    return before_sleep


def while_infrastructure_is_away(
    what: str, *, initial: float = 0.1, maximum: float = 10.0, give_up_after: float | None = None
) -> tenacity.AsyncRetrying:
    """Retry only infrastructure errors, with jitter; for ever unless `give_up_after` seconds."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(is_infrastructure),
        wait=jittered(initial, maximum),
        stop=tenacity.stop_after_delay(give_up_after) if give_up_after is not None else tenacity.stop_never,
        before_sleep=_log_before_sleep(what),
        reraise=True,
    )


async def call_until_available(
    what: str,
    action: Callable[[], Awaitable[T]],
    *,
    initial: float = 0.1,
    maximum: float = 10.0,
    give_up_after: float | None = None,
) -> T:
    """`await action()`, waiting out infrastructure errors (start-up, recording an outcome after a send)."""
    async for attempt in while_infrastructure_is_away(
        what, initial=initial, maximum=maximum, give_up_after=give_up_after
    ):
        with attempt:
            return await action()
    raise AssertionError("unreachable")
