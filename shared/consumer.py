"""Consuming events: validate, dedupe, apply in one transaction, retry, or dead-letter.

For every event a service handles:
1. The bytes must be a CloudEvents envelope whose `data` fits the catalogue model for its topic and
   type; if not, the message goes to `<topic>.dlq` at once with the reason.
2. The handler runs inside one transaction together with the inbox record (a redelivered event is
   skipped) and the outbox rows for the events it causes.
3. Failures are retried with backoff: the database or broker being away is retried until it comes
   back; anything else a few times (longer for `NotYetKnown`), then dead-lettered.
4. Only then is the offset committed (FastStream's ack after the handler returns), so delivery is
   at least once and the effect exactly once. If even the dead-letter publish fails, the handler
   raises and the message is redelivered (nack), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from shared import metrics
from shared.contracts.envelope import Envelope
from shared.contracts.events import CATALOGUE, EventData, model_for
from shared.contracts.topics import dlq
from shared.errors import NotYetKnown, PermanentError
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, EventData, UnitOfWork], Awaitable[None]]

# The database or network is away: not the event's fault, so it is never dead-lettered for these.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class InvalidMessage(Exception):
    """The bytes are not an event this topic carries."""


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def parse_event(topic: str, value: bytes | None) -> tuple[Envelope, EventData]:
    if value is None:
        raise InvalidMessage("empty message (tombstone)")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from exc
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidMessage(f"not a CloudEvents 1.0 envelope: {describe_validation_error(exc)}") from exc
    model = model_for(topic, envelope.type)
    if model is None:
        known = ", ".join(sorted(CATALOGUE.get(topic, {})))
        raise InvalidMessage(f"unknown event type {envelope.type!r} on {topic} (known: {known})")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid {envelope.type} data: {describe_validation_error(exc)}") from exc
    return envelope, data


@dataclass
class Runtime:
    """What the router needs from its service."""

    name: str
    topic_prefix: str
    producer: AIOKafkaProducer | None
    transaction: Callable[[], object]  # -> async context manager yielding a UnitOfWork
    max_attempts: int = 5
    max_deferrals: int = 30
    backoff: float = 0.2
    backoff_max: float = 5.0


class EventRouter:
    """Maps (topic, event type) to handlers and attaches one Kafka subscriber per topic."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.handlers: dict[str, dict[str, Handler]] = {}

    def on(self, topic: str, event_type: str) -> Callable[[Handler], Handler]:
        if model_for(topic, event_type) is None:
            raise ValueError(f"{event_type!r} is not an event of {topic}")

        def register(handler: Handler) -> Handler:
            self.handlers.setdefault(topic, {})[event_type] = handler
            return handler

        return register

    @property
    def topics(self) -> list[str]:
        return list(self.handlers)

    def attach(self, broker: KafkaBroker, runtime: Runtime) -> None:
        for topic in self.handlers:
            self._subscribe(broker, runtime, topic)

    def _subscribe(self, broker: KafkaBroker, runtime: Runtime, topic: str) -> None:
        # One consumer group per (service, topic): a slow topic never holds up another, and
        # restarting one subscriber does not rebalance the rest.
        @broker.subscriber(
            runtime.topic_prefix + topic,
            group_id=f"{runtime.topic_prefix}tandem-{self.service}-{topic}",  # environments sharing a cluster stay apart
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
        )
        async def consume(message: KafkaMessage) -> None:
            await self.dispatch(runtime, topic, message.raw_message)

    async def dispatch(self, runtime: Runtime, topic: str, record: ConsumerRecord) -> str:
        """Apply one record; returns the outcome (handled, duplicate, ignored, dead_lettered)."""
        try:
            envelope, data = parse_event(topic, record.value)
        except InvalidMessage as exc:
            await dead_letter(runtime, topic, record, reason=str(exc), error_type="InvalidMessage")
            metrics.EVENTS_CONSUMED.labels(self.service, topic, "invalid", "dead_lettered").inc()
            return "dead_lettered"
        handler = self.handlers.get(topic, {}).get(envelope.type)
        if handler is None:
            metrics.EVENTS_CONSUMED.labels(self.service, topic, envelope.type, "ignored").inc()
            return "ignored"
        started = time.perf_counter()
        outcome = await self._apply(runtime, topic, record, envelope, data, handler)
        metrics.HANDLER_SECONDS.labels(self.service, topic, envelope.type).observe(time.perf_counter() - started)
        metrics.EVENTS_CONSUMED.labels(self.service, topic, envelope.type, outcome).inc()
        return outcome

    async def _apply(self, runtime: Runtime, topic: str, record: ConsumerRecord, envelope: Envelope,
                     data: EventData, handler: Handler) -> str:
        failures = deferrals = infra = 0
        while True:
            try:
                async with runtime.transaction() as uow:
                    if not await uow.claim_inbox(topic, envelope.id, envelope.type):
                        return "duplicate"
                    await handler(envelope, data, uow)
                return "handled"
            except PermanentError as exc:
                reason, kind = str(exc), "PermanentError"
            except NotYetKnown as exc:
                deferrals += 1
                metrics.HANDLER_RETRIES.labels(self.service, topic, "not_yet_known").inc()
                if deferrals < runtime.max_deferrals:
                    await asyncio.sleep(_backoff(runtime, deferrals))
                    continue
                reason, kind = f"still unknown after {deferrals} attempts: {exc}", "NotYetKnown"
            except INFRASTRUCTURE_ERRORS as exc:
                infra += 1
                metrics.HANDLER_RETRIES.labels(self.service, topic, "infrastructure").inc()
                log.warning("infrastructure error on %s %s, retrying: %r", envelope.type, envelope.id, exc)
                await asyncio.sleep(_backoff(runtime, infra))
                continue
            except Exception as exc:
                failures += 1
                metrics.HANDLER_RETRIES.labels(self.service, topic, "handler").inc()
                log.exception("handler for %s failed (attempt %d of %d)", envelope.type, failures, runtime.max_attempts)
                if failures < runtime.max_attempts:
                    await asyncio.sleep(_backoff(runtime, failures))
                    continue
                reason, kind = f"failed {failures} times: {type(exc).__name__}: {exc}", type(exc).__name__
            await dead_letter(runtime, topic, record, reason=reason, error_type=kind)
            return "dead_lettered"


def _backoff(runtime: Runtime, attempt: int) -> float:
    return min(runtime.backoff * 2 ** (attempt - 1), runtime.backoff_max)


async def dead_letter(runtime: Runtime, topic: str, record: ConsumerRecord, *, reason: str, error_type: str) -> None:
    """Publish the original bytes to `<topic>.dlq` with headers naming the error and the origin."""
    headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.")]
    headers += [
        ("dlq.error", reason[:2000].encode()),
        ("dlq.error.type", error_type.encode()),
        ("dlq.original.topic", record.topic.encode()),
        ("dlq.original.partition", str(record.partition).encode()),
        ("dlq.original.offset", str(record.offset).encode()),
        ("dlq.service", runtime.name.encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    assert runtime.producer is not None, "service not started"
    for attempt in range(1, 6):
        try:
            await runtime.producer.send_and_wait(
                runtime.topic_prefix + dlq(topic), value=record.value, key=record.key, headers=headers
            )
            break
        except KafkaError:
            if attempt == 5:
                raise  # not committed: the message comes back once the broker does
            await asyncio.sleep(_backoff(runtime, attempt))
    metrics.DEAD_LETTERS.labels(runtime.name, topic, error_type).inc()
    log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
