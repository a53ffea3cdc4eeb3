"""Consuming events: validate, dedupe, apply in one transaction, retry, or dead-letter.

For every event a service handles:
1. The bytes must be a CloudEvents envelope whose `data` fits the catalogue model for its topic and
   type; if not, the message goes to `<topic>.dlq` at once with the reason. Decoding is ours
   (FastStream hands over raw bytes), so no message can fail before this step. A type an earlier
   version of docs/events.md published (`DEPRECATED_ALIASES`, e.g. `match.accepted` on
   match-responses.v1) is taken as the current type it stands for: from here on the event carries the
   current type (handlers, inbox, metrics), and each such message is counted in
   `tandem_deprecated_event_types_total{topic, type}` and logged once per sender.
2. The handler runs inside one transaction together with the inbox record (a redelivered event is
   skipped) and the outbox rows for the events it causes.
3. Failures are retried with jittered backoff (`shared.retry`): the database or broker being away
   is retried until it comes back; `NotYetKnown` (data still on its way on another topic) up to
   `max_deferrals` times; anything else up to `max_attempts` times; `PermanentError` not at all.
   Then the event is dead-lettered and the service goes on.
4. Only then is the offset committed (FastStream's ack after the handler returns), so delivery is
   at least once and the effect exactly once. If even the dead-letter publish cannot happen, the
   batch is not acknowledged and comes back (nack), so nothing is lost.

Records arrive in batches (one poll). A batch is first applied in a single transaction, one event
after the other in offset order; if any of them fails, the transaction is rolled back and the batch
is applied again one event per transaction with the retry rules above. The outcome is the same,
and the common case costs one commit per batch instead of one per event.

Who handles what is declared in one table per service, event class -> handler:

    SUBSCRIPTIONS = {ev.MeetingCompleted: on_meeting_completed, ...}

The topic comes from the event class (`shared.contracts.events.topic_of`). A handler is a
module-level function `async def on_x(event, uow, deps)`: `uow` is the service's unit of work (its
repositories, `emit`, `cause`), `deps` the service's small typed object of settings, caches and
wake-ups.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import tenacity
from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

from shared import dead_letters, metrics
from shared.contracts.envelope import Envelope
from shared.contracts.types import Refusal
from shared.contracts.events import CATALOGUE, EventData, canonical_type, is_deprecated_alias, model_for, topic_of
from shared.contracts.topics import dlq
from shared.dead_letters import DeadLetters, dead_letter_topics
from shared.errors import NotYetKnown, PermanentError, field_path, reason_for
from shared.retry import call_until_available, is_infrastructure, jittered
from shared.telemetry import context_from_headers
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tandem.consumer")

Handler = Callable[[Any, Any, Any], Awaitable[None]]  # (event data, unit of work, deps)
Subscriptions = Mapping[type[EventData], Handler]


class InvalidMessage(Exception):
    """The bytes are not an event this topic carries."""


def _printable(part: object) -> str:
    text = str(part)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


# pydantic's own error types word only the rule broken ("Input should be a valid integer", "Field
# required"), never the input; these three carry a validator's own text, which may quote it.
_FREE_TEXT_ERRORS = {"value_error", "assertion_error"}
_BUILT_IN_ERRORS = set(get_args(ErrorType))


def _safe_message(err: Mapping[str, Any]) -> str:
    """pydantic's message when it cannot hold the input: its own templates, and our contracts'
    `Refusal`s; anything else a validator said is replaced by what kind of error it was."""
    kind = err["type"]
    if kind in _FREE_TEXT_ERRORS:
        cause = (err.get("ctx") or {}).get("error")
        return str(cause) if isinstance(cause, Refusal) else "invalid value"
    if kind not in _BUILT_IN_ERRORS:  # a PydanticCustomError: its template is someone else's
        return "invalid value"
    return err["msg"] if len(err["msg"]) <= 200 else _printable(err["msg"])


def describe_validation_error(exc: ValidationError) -> str:
    """Where and what, for a dead-letter reason: field paths and the rule broken, never the values."""
    parts = [f"{field_path(err['loc'])}: {_safe_message(err)}" for err in exc.errors(include_input=False,
                                                                                       include_url=False)[:5]]
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


# What an event type looks like; anything else a sender put there is not repeated in a reason.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def _shown_type(event_type: object) -> str:
    return repr(event_type) if isinstance(event_type, str) and len(event_type) <= 100 \
        and _EVENT_TYPE.match(event_type) else "(not an event type name)"


def parse_event(topic: str, value: bytes | None) -> tuple[Envelope, EventData]:
    if value is None:
        raise InvalidMessage("empty message (tombstone)")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # json's messages are fixed texts with a position; a decoding error's would quote the bytes.
        raise InvalidMessage(f"not JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else "not JSON: not UTF-8") from exc
    except RecursionError:
        raise InvalidMessage("not JSON we accept: nested too deeply") from None
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidMessage(f"not a CloudEvents 1.0 envelope: {describe_validation_error(exc)}") from exc
    model = model_for(topic, envelope.type)
    if model is None:
        known = ", ".join(sorted(CATALOGUE.get(topic, {})))
        raise InvalidMessage(f"unknown event type {_shown_type(envelope.type)} on {topic} (known: {known})")
    came_as = envelope.type
    if is_deprecated_alias(topic, came_as):
        envelope = _under_current_type(topic, envelope)
        came_as = f"{came_as} (deprecated name of {envelope.type})"
    try:
        # Strict: a number is not a text, true is not 1, "5" is not 5. Upstream systems get told,
        # rather than having their data quietly reinterpreted.
        data = model.model_validate_json(json.dumps(envelope.data), strict=True)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid {came_as} data: {describe_validation_error(exc)}") from exc
    return envelope, data


_WARNED: set[tuple[str, str, str]] = set()  # (topic, deprecated type, source) already logged


def _under_current_type(topic: str, envelope: Envelope) -> Envelope:
    """An envelope that came under a deprecated alias, counted, and carrying the current type."""
    old, current = envelope.type, canonical_type(topic, envelope.type)
    metrics.DEPRECATED_EVENT_TYPES.labels(topic, old).inc()
    sender = (topic, old, _printable(envelope.source))
    if sender not in _WARNED and len(_WARNED) < 1000:
        _WARNED.add(sender)
        log.warning("an event on %s from %s comes under the deprecated type %r: read as %r, which the sender "
                    "should publish instead (docs/events.md)", topic, sender[2], old, current)
    return envelope.model_copy(update={"type": current})


DEAD_LETTER = "dead.letter"  # the type a dead letter is handled (and deduplicated) under


def by_topic(subscriptions: Subscriptions) -> dict[str, dict[str, Handler]]:
    """topic -> {event type -> handler}, from a subscription table keyed by event classes."""
    table: dict[str, dict[str, Handler]] = {}
    for model, handler in subscriptions.items():
        if model is DeadLetters:
            for topic in dead_letter_topics():
                table.setdefault(topic, {})[DEAD_LETTER] = handler
            continue
        topic, event_type = topic_of(model)
        table.setdefault(topic, {})[event_type] = handler
    return table


@dataclass(frozen=True)
class Limits:
    max_attempts: int = 5
    max_deferrals: int = 30
    backoff: float = 0.2
    backoff_max: float = 5.0
    batch_size: int = 200


@dataclass
class Runtime:
    """What the consumer needs from its service."""

    name: str
    topic_prefix: str
    producer: AIOKafkaProducer | None
    transaction: Callable[[], Any]  # -> async context manager yielding the service's UnitOfWork
    deps: Any = None
    limits: Limits = field(default_factory=Limits)


@dataclass
class _Event:
    record: ConsumerRecord
    envelope: Envelope
    data: EventData
    handler: Handler

    @property
    def digest(self) -> bytes:
        """What makes this event this event: its type and data (not its time or encoding)."""
        if self.envelope.type == DEAD_LETTER:
            return hashlib.sha256(self.record.value or b"").digest()
        canonical = json.dumps([self.envelope.type, self.envelope.data], sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()


class Consumer:
    """One batch subscriber per topic of a subscription table; applies what arrives (module docstring)."""

    def __init__(self, service: str, subscriptions: Subscriptions) -> None:
        self.service = service
        self.handlers = by_topic(subscriptions)

    @property
    def topics(self) -> list[str]:
        return list(self.handlers)

    def attach(self, broker: KafkaBroker, runtime: Runtime) -> None:
        letters = [t for t, handlers in self.handlers.items() if DEAD_LETTER in handlers]
        for topic in self.handlers:
            if topic not in letters:
                self._subscribe(broker, runtime, topic)
        if letters:
            self._subscribe_dead_letters(broker, runtime, letters)

    def _subscribe(self, broker: KafkaBroker, runtime: Runtime, topic: str) -> None:
        # One consumer group per (service, topic): a slow topic never holds up another, and
        # restarting one subscriber does not rebalance the rest.
        @broker.subscriber(
            runtime.topic_prefix + topic,
            group_id=f"{runtime.topic_prefix}tandem-{self.service}-{topic}",  # environments sharing a cluster stay apart
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            batch=True,
            max_records=runtime.limits.batch_size,
            batch_timeout_ms=100,
            decoder=_raw_bytes,  # decoding is ours: see parse_event
        )
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message
            await self.dispatch_batch(runtime, topic, tuple(records) if isinstance(records, (tuple, list)) else (records,))

    def _subscribe_dead_letters(self, broker: KafkaBroker, runtime: Runtime, letters: list[str]) -> None:
        # One group for all dead-letter topics: they are quiet, and one consumer is enough.
        @broker.subscriber(
            *[runtime.topic_prefix + t for t in letters],
            group_id=f"{runtime.topic_prefix}tandem-{self.service}-dead-letters",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            batch=True,
            max_records=runtime.limits.batch_size,
            batch_timeout_ms=100,
            decoder=_raw_bytes,
        )
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message
            records = tuple(records) if isinstance(records, (tuple, list)) else (records,)
            by_topic_: dict[str, list[ConsumerRecord]] = {}
            for record in records:
                by_topic_.setdefault(record.topic.removeprefix(runtime.topic_prefix), []).append(record)
            for topic, batch in by_topic_.items():
                await self.dispatch_batch(runtime, topic, batch)

    # --- applying ---------------------------------------------------------------------------------

    async def dispatch(self, runtime: Runtime, topic: str, record: ConsumerRecord) -> str:
        """Apply one record; returns its outcome (handled, duplicate, ignored, dead_lettered)."""
        return (await self.dispatch_batch(runtime, topic, (record,)))[0]

    async def dispatch_batch(self, runtime: Runtime, topic: str, records: Sequence[ConsumerRecord]) -> list[str]:
        outcomes: dict[int, str] = {}
        events: list[tuple[int, _Event]] = []
        for i, record in enumerate(records):
            letter_handler = self.handlers.get(topic, {}).get(DEAD_LETTER)
            if letter_handler is not None:
                letter = dead_letters.read(record, runtime.topic_prefix)
                # Never parsed as an event (it may be any bytes): its place in the topic is its id.
                envelope = Envelope.model_construct(id=letter.id, type=DEAD_LETTER, source="/kafka", time=letter.failed_at,
                                                    data={})
                events.append((i, _Event(record, envelope, letter, letter_handler)))  # type: ignore[arg-type]
                continue
            try:
                envelope, data = parse_event(topic, record.value)
            except InvalidMessage as exc:
                await dead_letter(runtime, topic, record, reason=str(exc), error_type="InvalidMessage")
                metrics.EVENTS_CONSUMED.labels(self.service, topic, "invalid", "dead_lettered").inc()
                outcomes[i] = "dead_lettered"
                continue
            handler = self.handlers.get(topic, {}).get(envelope.type)
            if handler is None:
                metrics.EVENTS_CONSUMED.labels(self.service, topic, envelope.type, "ignored").inc()
                outcomes[i] = "ignored"
                continue
            events.append((i, _Event(record, envelope, data, handler)))
        applied = await self._apply_in_order(runtime, topic, [e for _, e in events])
        for (i, event), outcome in zip(events, applied, strict=True):
            metrics.EVENTS_CONSUMED.labels(self.service, topic, event.envelope.type, outcome).inc()
            outcomes[i] = outcome
        return [outcomes[i] for i in range(len(records))]

    async def _apply_in_order(self, runtime: Runtime, topic: str, events: list[_Event]) -> list[str]:
        """Apply in offset order: as many together as succeed, a failing one alone with the retry rules."""
        outcomes: list[str] = []
        while events:
            done, failure = await self._apply_together(runtime, topic, events)
            outcomes += done
            if failure is None:
                break
            # `done` committed the events before the failing one; it takes its turn alone, its first
            # failure counting as its first attempt, and the rest go on together after it.
            failing = events[len(done)]
            outcomes.append(await self._apply_alone(runtime, topic, failing, first_failure=failure))
            events = events[len(done) + 1:]
        return outcomes

    async def _run(self, uow: UnitOfWork, runtime: Runtime, topic: str, event: _Event) -> str:
        uow.cause = event.envelope
        headers = {k: v.decode(errors="replace") for k, v in (event.record.headers or ())}
        with tracer.start_as_current_span(
            f"{topic} process", context=context_from_headers(headers), kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                        "messaging.message.id": event.envelope.id, "tandem.event.type": event.envelope.type},
        ):
            if not await uow.claim_inbox(topic, event.envelope.id, event.envelope.type, event.digest):
                return "duplicate"
            await event.handler(event.data, uow, runtime.deps)
            return "handled"

    async def _apply_together(self, runtime: Runtime, topic: str,
                              events: list[_Event]) -> tuple[list[str], Exception | None]:
        """Apply events in one transaction until one fails. Returns the outcomes committed (the events
        before the failing one: re-applied in a transaction of their own) and the failure, if any."""
        outcomes: list[str] = []
        try:
            async with runtime.transaction() as uow:
                for event in events:
                    started = time.perf_counter()
                    outcomes.append(await self._run(uow, runtime, topic, event))
                    metrics.HANDLER_SECONDS.labels(self.service, topic, event.envelope.type).observe(
                        time.perf_counter() - started)
            return outcomes, None
        except Exception as exc:
            failure, failed_at = exc, len(outcomes)
        if failed_at == 0:
            return [], failure
        # The transaction was rolled back with the failure: apply the events before it again.
        done, again = await self._apply_together(runtime, topic, events[:failed_at])
        if again is not None:  # they fail now (data changed meanwhile): the caller goes on from there
            return done, again
        return done, failure

    async def _apply_alone(self, runtime: Runtime, topic: str, event: _Event, *,
                           first_failure: Exception | None = None) -> str:
        limits = runtime.limits
        pending_failure = [first_failure]
        counts: Counter[str] = Counter()

        def give_up(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            kind = _kind(exc)
            counts[kind] += 1
            metrics.HANDLER_RETRIES.labels(self.service, topic, kind).inc()
            if kind == "handler":
                log.warning("handler for %s %s failed (attempt %d of %d): %r", event.envelope.type,
                            event.envelope.id, counts[kind], limits.max_attempts, exc)
            elif kind == "infrastructure":
                log.warning("infrastructure error on %s %s, retrying: %r", event.envelope.type, event.envelope.id, exc)
            return ((kind == "handler" and counts[kind] >= limits.max_attempts)
                    or (kind == "not_yet_known" and counts[kind] >= limits.max_deferrals))

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(_worth_another_try),
            stop=give_up,
            wait=jittered(limits.backoff, limits.backoff_max),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if pending_failure[0] is not None:  # already tried, together with its batch
                        failure, pending_failure[0] = pending_failure[0], None
                        raise failure
                    started = time.perf_counter()
                    async with runtime.transaction() as uow:
                        outcome = await self._run(uow, runtime, topic, event)
                    metrics.HANDLER_SECONDS.labels(self.service, topic, event.envelope.type).observe(
                        time.perf_counter() - started)
                    return outcome
        except PermanentError as exc:
            reason, kind = str(exc), "PermanentError"
        except NotYetKnown as exc:
            reason, kind = f"still unknown after {counts['not_yet_known']} attempts: {exc}", "NotYetKnown"
        except Exception as exc:
            log.error("handler for %s %s failed for good", event.envelope.type, event.envelope.id, exc_info=exc)
            reason, kind = f"failed {counts['handler']} times: {reason_for(exc)}", type(exc).__name__
        if event.envelope.type == DEAD_LETTER:  # a dead letter is not dead-lettered again: said, and passed
            log.error("could not take in dead letter %s: %s", event.envelope.id, reason)
            return "skipped"
        await dead_letter(runtime, topic, event.record, reason=reason, error_type=kind)
        return "dead_lettered"


def _worth_another_try(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not isinstance(exc, PermanentError)  # never a cancellation


def _kind(exc: BaseException | None) -> str:
    if isinstance(exc, NotYetKnown):
        return "not_yet_known"
    if exc is not None and is_infrastructure(exc):
        return "infrastructure"
    return "handler"


def _raw_bytes(message: Any) -> Any:
    """FastStream decoder that leaves the bytes alone."""
    return message.body


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
    producer = runtime.producer
    assert producer is not None, "service not started"
    # The broker being away is waited out: the message is not acknowledged until its dead letter is written.
    await call_until_available(
        f"dead letter for {record.topic}[{record.partition}]@{record.offset}",
        lambda: producer.send_and_wait(runtime.topic_prefix + dlq(topic), value=record.value, key=record.key,
                                       headers=headers),
        maximum=runtime.limits.backoff_max,
    )
    metrics.DEAD_LETTERS.labels(runtime.name, topic, error_type).inc()
    log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
