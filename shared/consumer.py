"""Consuming events: validate, dedupe, apply in one transaction, park and retry, or dead-letter.

For every event a service handles:
1. The bytes must be a CloudEvents envelope whose `data` fits the catalogue model for its topic and
   type; if not, the message goes to `<topic>.dlq` with the reason, untried (step 3). Decoding is ours
   (FastStream hands over raw bytes), so no message can fail before this step. A type an earlier
   version of docs/events.md published (`DEPRECATED_ALIASES`, e.g. `match.accepted` on
   match-responses.v1) is taken as the current type it stands for: from here on the event carries the
   current type (handlers, inbox, metrics), and each such message is counted in
   `tandem_deprecated_event_types_total{topic, type}` and logged once per sender.
2. The handler runs inside one transaction together with the inbox record (`shared.inbox`: a
   batch's ids are claimed in one statement; a redelivered event is skipped, an id reused for a
   different event refused) and the outbox rows for the events it causes.
3. An event that fails is *parked* (`shared.parking`): it is tried again alone, later, by the
   subscriber's parking task, and the later events of its key (same partition) queue behind it, so
   order per key is kept (a record without a key has none to keep: it queues alone); the rest of
   the batch, and the next batches, go on. Retries follow
   `shared.retry`'s jittered backoff: the database or broker being away is retried until it comes
   back; `NotYetKnown` (data still on its way on another topic) up to `max_deferrals` times, and
   also early, up to `EARLY_TRIES` times between two of those, when the service applies other events
   (its data may be among them: a match request ahead of its mentee's profile), an early try that
   finds nothing not counted;
   anything else up to `max_attempts` times; `PermanentError` and a message that is not an event
   (step 1) not at all. Then it is dead-lettered with its reason, and the events behind it go on.
4. A dead-lettered record is recorded by its place (`dead_lettered`: topic, partition, offset) once
   its dead letter is written: handed over again (a redelivery), it is neither waited on nor
   dead-lettered twice. Not by event id: a dead letter replayed (`tandem dlq replay`) comes at a new
   offset and is applied. (A crash between the dead letter and its record writes it twice.)
5. Offsets are committed by the consumer itself, per partition, up to the lowest record not settled
   yet (applied, skipped, ignored, or dead-lettered and recorded): delivery is at least once and
   the effect exactly once. At most one commit per `commit_interval` (a service's default: 0.5 s):
   a batch settled sooner waits for it, so a trickle of one-record batches does not cost the broker
   a commit each. At a revoke and before a clean stop, what is settled is committed at once; after
   a crash, what was settled and not committed yet comes again and is skipped by the inbox. A batch that cannot be taken at all (a bug) is not committed: its
   partitions are rewound to it, and it comes again. A partition holding `max_parked` parked
   records is paused until they drop below it.
6. Nothing waits inside the poll loop: a batch is applied and its failures parked, then the loop
   polls again, so the consumer never exceeds `max.poll.interval.ms` and never leaves its group for
   being slow. (A batch waits at most for the parking task's current step, which the broker being
   away can stretch: a dead letter waits for it.) When partitions are revoked (rebalance), what is
   settled is committed and their parked records are forgotten: their new owner gets them again
   from the committed offset. A batch fetched before a rebalance and taken after it is not applied
   to a partition revoked meanwhile, even one given back since (aiokafka's position, reset to the
   committed offset, tells): its records come again from there, behind the parked ones forgotten.

Records arrive in batches (one poll). A batch is first applied in a single transaction: the inbox
claims all its ids in one statement, then its events are applied in offset order, runs of
consecutive events whose handler is set-wise a wave at a time (`shared.waves`: a few statements for
the whole wave), the others one after the other. If one of them fails, the transaction is rolled
back, the events before it are applied again together, the failing one is parked, and the rest go
on together (when a wave failed, the events before it are applied again, then the wave's one at a
time, which finds the failing event). So nobody sleeps while holding a batch, a failure costs its
batch a few more transactions, and the common case costs one commit per batch. `dispatch_batch` (a
batch handed over directly, without Kafka: tests, tools) applies the same way and returns once
every record is settled.

Who handles what is declared in one table per service, built by one function that refuses a second
handler for an event class (`shared.subscriptions`):

    SUBSCRIPTIONS = subscriptions(on(ev.MeetingCompleted, on_meeting_completed),
                                  handle(ev.MeetingCancelRequested, on_cancel_requested), ...)

The topic comes from the event class (`shared.contracts.events.topic_of`). A handler is a
module-level function `async def on_x(event, uow, deps)`: `uow` is the service's unit of work (its
repositories, `emit`, `cause`), `deps` the service's small typed object of settings, caches and
wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import orjson
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import IllegalStateError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

from shared import dead_letters, metrics, waves
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    CATALOGUE,
    EventData,
    canonical_type,
    is_deprecated_alias,
    model_for,
    topic_of,
)
from shared.contracts.topics import dlq
from shared.contracts.types import Refusal
from shared.dead_letters import DeadLetters, dead_letter_topics
from shared.errors import NotYetKnown, PermanentError, field_path, reason_for
from shared.inbox import Claim, ReusedId, claim
from shared.parking import Ledger, Parked, Partition
from shared.retry import backoff_delay, call_until_available, is_infrastructure
from shared.telemetry import context_from_headers, continuing, recording, trace_headers
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
_background: set[asyncio.Task[None]] = set()  # deferred commits under way (a reference keeps each alive)
tracer = trace.get_tracer("tandem.consumer")

Handler = Callable[[Any, Any, Any], Awaitable[None]]  # (event data, unit of work, deps)
Subscriptions = Mapping[type[EventData], Handler]


# A record waiting for data is tried early, when its service applies other events, at most this many
# times between two counted tries, the first EARLY_SPACING s after its last try, then twice as long
# after each: a little lag between two topics is caught at once, and a flood of unknown events costs
# at most 1 + EARLY_TRIES times the tries it did.
EARLY_TRIES = 3
EARLY_SPACING = 0.025
LETTERS_PER_ROUND = 1000  # parked records dealt with in one round of a subscriber's parking task


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
    parts = [
        f"{field_path(err['loc'])}: {_safe_message(err)}"
        for err in exc.errors(include_input=False, include_url=False)[:5]
    ]
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


# What an event type looks like; anything else a sender put there is not repeated in a reason.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def _shown_type(event_type: object) -> str:
    return (
        repr(event_type)
        if isinstance(event_type, str) and len(event_type) <= 100 and _EVENT_TYPE.match(event_type)
        else "(not an event type name)"
    )


def _loads(value: bytes) -> Any:
    """orjson first (the common case, in C); the standard library when orjson refuses, for what it
    alone accepts (integers past 64 bits, lone surrogates, NaN) and for its error messages."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # what only the standard library took in (see _loads) goes back out the same way
        return json.dumps(value).encode("utf-8", "surrogatepass")


def parse_event(topic: str, value: bytes | None) -> tuple[Envelope, EventData]:
    if value is None:
        raise InvalidMessage("empty message (tombstone)")
    try:
        raw = _loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # json's messages are fixed texts with a position; a decoding error's would quote the bytes.
        raise InvalidMessage(
            f"not JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else "not JSON: not UTF-8"
        ) from exc
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
        # rather than having their data quietly reinterpreted. (JSON mode: strict Python mode would
        # refuse the texts a date or time travels as.)
        data = model.model_validate_json(_dumps(envelope.data), strict=True)
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
        log.warning(
            "an event on %s from %s comes under the deprecated type %r: read as %r, which the sender "
            "should publish instead (docs/events.md)",
            topic,
            sender[2],
            old,
            current,
        )
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
        if event_type in table.get(topic, {}):
            raise ValueError(f"two handlers for {event_type} on {topic}")
        table.setdefault(topic, {})[event_type] = handler
    return table


@dataclass(frozen=True)
class Limits:
    max_attempts: int = 5
    max_deferrals: int = 30
    backoff: float = 0.2
    backoff_max: float = 5.0
    batch_size: int = 200
    max_parked: int = 1000  # records parked in one partition before it is paused
    # At most one offset commit per this many seconds (the rest wait for it; 0: after every batch).
    commit_interval: float = 0.0


ClaimInbox = Callable[[Any, str, Sequence[Claim]], Awaitable[list["bool | ReusedId"]]]


async def claim_in_transaction(uow: UnitOfWork, topic: str, claims: Sequence[Claim]) -> list[bool | ReusedId]:
    """The inbox claim of a batch, in the unit of work's transaction (shared.inbox)."""
    return await claim(uow.conn, topic, claims)


@dataclass
class Runtime:
    """What the consumer needs from its service."""

    name: str
    topic_prefix: str
    producer: AIOKafkaProducer | None
    transaction: Callable[[], Any]  # -> async context manager yielding the service's UnitOfWork
    deps: Any = None
    limits: Limits = field(default_factory=Limits)
    claim_inbox: ClaimInbox = claim_in_transaction  # (uow, topic, claims) -> per event: apply, skip or refuse


@dataclass
class _Event:
    record: ConsumerRecord
    envelope: Envelope
    data: EventData
    handler: Handler

    @property
    def claim(self) -> Claim:
        """What the inbox claims for it: a dead letter by its bytes, an event by its type and data."""
        if self.envelope.type == DEAD_LETTER:
            return Claim(self.envelope.id, DEAD_LETTER, None, self.record.value or b"")
        return Claim(self.envelope.id, self.envelope.type, self.envelope.data)


@dataclass
class _Waiting:
    """What the consumer keeps of a parked record: enough to try it again or to dead-letter it."""

    topic: str
    record: ConsumerRecord
    event: _Event | None  # None: the bytes are not an event (dead-lettered at once)
    outcome: asyncio.Future[str]
    counts: Counter[str] = field(default_factory=Counter)
    verdict: tuple[str, str] | None = None  # (reason, error type) once it is given up
    checked: bool = False  # looked up among the records dead-lettered before (a redelivery)
    # Waiting for data: the time of its next counted try while an early one (`_data_arrived`) is due;
    # None when no early try is pending.
    early_until: float | None = None
    early_left: int = EARLY_TRIES  # early tries left before its next counted one
    last_try: float = 0.0  # monotonic time of its last failed try


class _Lot:
    """One subscriber's parked records, the task that tries them again, and its Kafka offsets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ledger = Ledger()
        self.kafka: AIOKafkaConsumer | None = None  # None when batches are handed over directly (tests)
        self.lock = asyncio.Lock()  # one step at a time: a batch taken, a parked record tried, a rebalance
        self.wake = asyncio.Event()
        self.worker: asyncio.Task | None = None
        self.committed: dict[Partition, int] = {}
        self.paused: set[Partition] = set()
        self.revoked: set[Partition] = set()  # taken away and not given back (yet): not ours to apply
        self.committed_at = 0.0  # time.monotonic() of the last commit
        self.flush: asyncio.TimerHandle | None = None  # a deferred commit, when one waits

    async def current(self, records: Sequence[ConsumerRecord]) -> set[Partition] | None:
        """The partitions of these records that are ours to apply them to (None: any, no Kafka).

        Not a partition revoked since (aiokafka reports the old assignment until the group has
        rejoined), nor one revoked and given back since the batch was fetched: the position of the
        present assignment is past a batch it fetched, and starts again from the committed offset
        otherwise. Applying such a batch would let the commit point jump past the records parked
        and forgotten at the revoke (lost), and overtake them in their key's order."""
        kafka = self.kafka
        if kafka is None:
            return None
        assigned = {Partition(tp.topic, tp.partition) for tp in kafka.assignment()} - self.revoked
        last: dict[Partition, int] = {}
        for r in records:
            where = Partition(r.topic, r.partition)
            if where in assigned:
                last[where] = max(last.get(where, r.offset), r.offset)
        ours = set()
        for where, offset in last.items():
            with contextlib.suppress(IllegalStateError):  # revoked while we looked
                if await kafka.position(TopicPartition(*where)) > offset:
                    ours.add(where)
        return ours

    async def commit(self, limits: Limits, *, now: bool = False) -> None:
        """Commit every partition up to its lowest unsettled record, at once or (within
        `commit_interval` of the last commit) a little later; pause a partition holding too many."""
        kafka = self.kafka
        if kafka is None:
            return
        points = {where: self.ledger.commit_point(where) for where in list(self.ledger.taken)}
        offsets = {
            TopicPartition(*where): point
            for where, point in points.items()
            if point is not None and point != self.committed.get(where)
        }
        wait = self.committed_at + limits.commit_interval - time.monotonic()
        if offsets and wait > 0 and not now:
            if self.flush is None:
                self.flush = asyncio.get_running_loop().call_later(wait, self._commit_later, limits)
            offsets = {}
        if offsets:
            if self.flush is not None:
                self.flush.cancel()
                self.flush = None
            self.committed_at = time.monotonic()
            try:
                await kafka.commit(offsets)
                self.committed.update({Partition(tp.topic, tp.partition): o for tp, o in offsets.items()})
            except Exception as exc:  # a rebalance under way: what is settled is committed next time
                log.warning("%s: could not commit offsets yet: %r", self.name, exc)
        for where in list(self.ledger.taken):
            full = self.ledger.waiting(where) >= limits.max_parked
            if full != (where in self.paused):
                with contextlib.suppress(Exception):  # not assigned any more
                    (kafka.pause if full else kafka.resume)(TopicPartition(*where))
                    (self.paused.add if full else self.paused.discard)(where)
                    log.warning(
                        "%s: %s[%d] %s (%d records parked)",
                        self.name,
                        *where,
                        "paused" if full else "resumed",
                        self.ledger.waiting(where),
                    )

    def _commit_later(self, limits: Limits) -> None:
        self.flush = None
        task = asyncio.get_running_loop().create_task(self.commit_now(limits))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def commit_now(self, limits: Limits) -> None:
        async with self.lock:
            await self.commit(limits, now=True)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        gone = [Partition(tp.topic, tp.partition) for tp in partitions]
        self.ledger.forget(gone)
        for where in gone:
            self.committed.pop(where, None)
            self.paused.discard(where)

    def rewind(self, records: Sequence[ConsumerRecord]) -> None:
        """A batch that could not be taken comes again from its first record (FastStream's nack)."""
        if self.kafka is None:
            return
        earliest: dict[Partition, int] = {}
        for r in records:
            where = Partition(r.topic, r.partition)
            earliest[where] = min(earliest.get(where, r.offset), r.offset)
        for where, offset in earliest.items():
            with contextlib.suppress(Exception):
                self.kafka.seek(TopicPartition(*where), offset)


class _Rebalance(ConsumerRebalanceListener):
    """Partitions taken away: commit what is settled, and forget what was parked (the next owner
    gets those records again from the committed offset)."""

    def __init__(self, lot: _Lot, limits: Limits) -> None:
        self.lot, self.limits = lot, limits

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not revoked:
            return
        log.info(
            "%s: partitions revoked: %s", self.lot.name, ", ".join(f"{tp.topic}[{tp.partition}]" for tp in revoked)
        )
        async with self.lot.lock:
            await self.lot.commit(self.limits, now=True)
            self.lot.forget(revoked)
            self.lot.revoked |= {Partition(tp.topic, tp.partition) for tp in revoked}

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.lot.lock:
            self.lot.forget(assigned)  # they start again from their committed offsets
            self.lot.revoked -= {Partition(tp.topic, tp.partition) for tp in assigned}


class Consumer:
    """One batch subscriber per topic of a subscription table; applies what arrives (module docstring)."""

    def __init__(self, service: str, subscriptions: Subscriptions, *, set_wise: bool = True) -> None:
        self.service = service
        self.handlers = by_topic(subscriptions)
        self.set_wise = set_wise  # False: every event by its reference handler (the property tests compare)
        self._lots: list[_Lot] = []

    @property
    def topics(self) -> list[str]:
        return list(self.handlers)

    def attach(self, broker: KafkaBroker, runtime: Runtime) -> None:
        letters = [t for t, handlers in self.handlers.items() if DEAD_LETTER in handlers]
        for topic in self.handlers:
            if topic not in letters:
                # One consumer group per (service, topic): a slow topic never holds up another, and
                # restarting one subscriber does not rebalance the rest.
                self._subscribe(broker, runtime, [topic], f"tandem-{self.service}-{topic}")
        if letters:
            # One group for all dead-letter topics: they are quiet, and one consumer is enough.
            self._subscribe(broker, runtime, letters, f"tandem-{self.service}-dead-letters")

    def _subscribe(self, broker: KafkaBroker, runtime: Runtime, topics_: list[str], group: str) -> None:
        lot = _Lot(group)
        self._lots.append(lot)

        @broker.subscriber(
            *[runtime.topic_prefix + t for t in topics_],
            group_id=runtime.topic_prefix + group,  # environments sharing a cluster stay apart
            # Offsets are ours to commit (_Lot.commit): only up to what is settled.
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            batch=True,
            max_records=runtime.limits.batch_size,
            batch_timeout_ms=100,
            decoder=_fetched,  # decoding is ours: see parse_event
            listener=_Rebalance(lot, runtime.limits),
        )
        async def consume(fetched: Any) -> None:  # Any: handed over as _fetched made it, unchecked
            records = fetched.records
            records = tuple(records) if isinstance(records, (tuple, list)) else (records,)
            lot.kafka = fetched.consumer  # the AIOKafkaConsumer itself
            by_topic_: dict[str, list[ConsumerRecord]] = {}
            for record in records:
                by_topic_.setdefault(record.topic.removeprefix(runtime.topic_prefix), []).append(record)
            await self._take(runtime, lot, by_topic_)

    async def commit_settled(self, limits: Limits) -> None:
        """Commit what is settled now, not after `commit_interval`: before a clean stop."""
        for lot in self._lots:
            await lot.commit_now(limits)

    async def close(self) -> None:
        """Stop trying parked records (they are not committed, so they come again)."""
        for lot in self._lots:
            if lot.flush is not None:  # the broker is stopping: what is settled comes again, and is skipped
                lot.flush.cancel()
                lot.flush = None
            if lot.worker is not None:
                lot.worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await lot.worker

    # --- applying ---------------------------------------------------------------------------------

    async def dispatch(self, runtime: Runtime, topic: str, record: ConsumerRecord) -> str:
        """Apply one record; returns its outcome (handled, duplicate, ignored, dead_lettered, skipped)."""
        return (await self.dispatch_batch(runtime, topic, (record,)))[0]

    async def dispatch_batch(self, runtime: Runtime, topic: str, records: Sequence[ConsumerRecord]) -> list[str]:
        """Apply a batch handed over directly (no Kafka consumer) and wait until every record is settled."""
        lot = _Lot(f"{self.service} {topic}")
        outcomes = await self._take(runtime, lot, {topic: list(records)})
        return [await outcome for outcome in outcomes]

    async def _take(
        self, runtime: Runtime, lot: _Lot, batches: Mapping[str, Sequence[ConsumerRecord]]
    ) -> list[asyncio.Future[str]]:
        """Apply what can be applied now; park the rest. Returns without waiting for parked records."""
        outcomes: list[asyncio.Future[str]] = []
        async with lot.lock:
            # A partition taken away meanwhile is not ours to apply: it comes again from the committed offset.
            mine = await lot.current([r for batch in batches.values() for r in batch])
            batches = {
                topic: [r for r in batch if mine is None or Partition(r.topic, r.partition) in mine]
                for topic, batch in batches.items()
            }
            records = [r for batch in batches.values() for r in batch]
            try:
                for topic, batch in batches.items():
                    outcomes += await self._take_topic(runtime, lot, topic, batch)
            except BaseException:
                lot.rewind(records)
                raise
            for r in records:
                lot.ledger.took(Partition(r.topic, r.partition), r.offset)
        if any(o.done() and not o.cancelled() and o.result() == "handled" for o in outcomes):
            self._data_arrived()
        await lot.commit(runtime.limits)
        return outcomes

    def _data_arrived(self) -> None:
        """Events of this service were just applied: a record parked because its data was still on
        its way (often on another topic of the same service: a match request ahead of its mentee's
        profile) is tried again soon rather than after its backoff (`EARLY_TRIES`). Such an early try
        does not count against `max_deferrals`."""
        now = time.monotonic()
        for lot in self._lots:
            woke = False
            for queue in lot.ledger.queues.values():
                head = queue[0]
                waiting: _Waiting = head.item
                if (
                    waiting.early_until is None
                    and waiting.early_left
                    and waiting.verdict is None
                    and waiting.counts["not_yet_known"]
                ):
                    at = max(now, waiting.last_try + EARLY_SPACING * 2 ** (EARLY_TRIES - waiting.early_left))
                    if at < head.due:
                        waiting.early_until, head.due = head.due, at
                        waiting.early_left -= 1
                        woke = True
            if woke:
                lot.wake.set()

    async def _take_topic(
        self, runtime: Runtime, lot: _Lot, topic: str, records: Sequence[ConsumerRecord]
    ) -> list[asyncio.Future[str]]:
        loop = asyncio.get_running_loop()
        outcomes: list[asyncio.Future[str]] = []
        ready: list[tuple[_Event, asyncio.Future[str]]] = []
        letter_handler = self.handlers.get(topic, {}).get(DEAD_LETTER)
        for record in records:
            where = Partition(record.topic, record.partition)
            if lot.ledger.holds(where, record.offset):  # parked already: handed over again after a rewind
                parked = lot.ledger.find(where, record.offset)
                assert parked is not None
                outcomes.append(parked.item.outcome)
                continue
            outcome: asyncio.Future[str] = loop.create_future()
            outcomes.append(outcome)
            if letter_handler is not None:
                letter = dead_letters.read(record, runtime.topic_prefix)
                # Never parsed as an event (it may be any bytes): its place in the topic is its id.
                envelope = Envelope.model_construct(
                    specversion="1.0", id=letter.id, type=DEAD_LETTER, source="/kafka", time=letter.failed_at, data={}
                )
                event = _Event(record, envelope, letter, letter_handler)  # type: ignore[arg-type]
            else:
                try:
                    envelope, data = parse_event(topic, record.value)
                except InvalidMessage as exc:
                    self._park(runtime, lot, _Waiting(topic, record, None, outcome), exc)
                    continue
                handler = self.handlers.get(topic, {}).get(envelope.type)
                if handler is None:
                    _consumed(self.service, topic, envelope.type, "ignored").inc()
                    outcome.set_result("ignored")
                    continue
                event = _Event(record, envelope, data, handler)
            if lot.ledger.is_parked(where, record.key):  # an earlier record of its key waits: so does it
                self._park(runtime, lot, _Waiting(topic, record, event, outcome), None)
            else:
                ready.append((event, outcome))
        while ready:
            done, failure = await self._apply_together(runtime, topic, [e for e, _ in ready])
            for (event, outcome), result in zip(ready, done, strict=False):
                self._settled(topic, event.envelope.type, outcome, result)
            if failure is None:
                break
            # The failing event parks its key: it is tried again alone, later, and the events of its
            # key after it wait behind it; the others go on together.
            (failing, outcome), rest = ready[len(done)], ready[len(done) + 1 :]
            self._park(runtime, lot, _Waiting(topic, failing.record, failing, outcome), failure)
            ready = []
            for event, outcome in rest:
                if lot.ledger.is_parked(Partition(event.record.topic, event.record.partition), event.record.key):
                    self._park(runtime, lot, _Waiting(topic, event.record, event, outcome), None)
                else:
                    ready.append((event, outcome))
        return outcomes

    def _settled(self, topic: str, event_type: str, outcome: asyncio.Future[str], result: str) -> None:
        _consumed(self.service, topic, event_type, result).inc()
        if not outcome.done():
            outcome.set_result(result)

    def _park(self, runtime: Runtime, lot: _Lot, waiting: _Waiting, failure: Exception | None) -> None:
        record = waiting.record
        entry = Parked(
            Partition(record.topic, record.partition), record.offset, record.key, waiting, due=time.monotonic()
        )
        lot.ledger.park(entry)
        if failure is not None:
            self._judge(runtime, entry, failure)
        lot.wake.set()
        if lot.worker is None or lot.worker.done():
            lot.worker = asyncio.create_task(self._work(runtime, lot), name=f"{lot.name} parked")

    async def _work(self, runtime: Runtime, lot: _Lot) -> None:
        """Deal with parked records when they are due; ends when none is left. Each round looks the
        due records up among those dead-lettered before (one query), dead-letters those given up
        (together), and tries the others again, one transaction each."""
        while lot.ledger.queues:
            due = lot.ledger.due(time.monotonic())[:LETTERS_PER_ROUND]
            if due:
                async with lot.lock:
                    due = [e for e in due if lot.ledger.is_head(e)]  # not forgotten meanwhile (rebalance)
                    await self._settle_dead_lettered_before(runtime, lot, due)
                    await self._dead_letter_given_up(
                        runtime, lot, [e for e in due if e.item.checked and e.item.verdict]
                    )
            for entry in due:
                async with lot.lock:
                    if lot.ledger.is_head(entry) and entry.item.checked and entry.item.verdict is None:
                        await self._try_again(runtime, lot, entry)
            await lot.commit(runtime.limits)
            lot.wake.clear()
            next_due = lot.ledger.next_due()
            if next_due is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lot.wake.wait(), max(0.0, next_due - time.monotonic()))
        lot.worker = None

    async def _settle_dead_lettered_before(self, runtime: Runtime, lot: _Lot, due: list[Parked]) -> None:
        """A record handed over again may have been given up already: then it is settled as it is."""
        unchecked = [e for e in due if not e.item.checked]
        if not unchecked:
            return
        try:
            before = await _dead_lettered_among(runtime, [e.item.record for e in unchecked])
        except Exception as exc:
            log.warning("%s: looking up dead letters failed, retrying: %r", lot.name, exc)
            for entry in unchecked:
                entry.due = time.monotonic() + runtime.limits.backoff_max
            return
        for entry in unchecked:
            waiting: _Waiting = entry.item
            waiting.checked = True
            if (waiting.record.topic, waiting.record.partition, waiting.record.offset) in before:
                self._settled(waiting.topic, _type_of(waiting), waiting.outcome, "duplicate")
                lot.ledger.settle(entry, time.monotonic())

    async def _try_again(self, runtime: Runtime, lot: _Lot, entry: Parked) -> None:
        waiting: _Waiting = entry.item
        assert waiting.event is not None
        try:
            async with runtime.transaction() as uow:
                result = await self._run(uow, runtime, waiting.topic, waiting.event)
        except Exception as exc:
            self._judge(runtime, entry, exc)  # due again later, or given up (dead-lettered next round)
            return
        self._settled(waiting.topic, _type_of(waiting), waiting.outcome, result)
        lot.ledger.settle(entry, time.monotonic())
        if result == "handled":
            self._data_arrived()

    async def _dead_letter_given_up(self, runtime: Runtime, lot: _Lot, given_up: list[Parked]) -> None:
        """Write the dead letters of records given up, together; then record them, then settle them."""
        letters = []
        for entry in given_up:
            waiting: _Waiting = entry.item
            reason, _ = waiting.verdict  # type: ignore[misc]
            if waiting.event is not None and waiting.event.envelope.type == DEAD_LETTER:
                # A dead letter is not dead-lettered again: said, and passed.
                log.error("could not take in dead letter %s: %s", waiting.event.envelope.id, reason)
                self._settled(waiting.topic, DEAD_LETTER, waiting.outcome, "skipped")
                lot.ledger.settle(entry, time.monotonic())
            else:
                letters.append(entry)
        sent = await asyncio.gather(
            *(
                dead_letter(
                    runtime, e.item.topic, e.item.record, reason=e.item.verdict[0], error_type=e.item.verdict[1]
                )
                for e in letters
            ),
            return_exceptions=True,
        )
        written = []
        for entry, outcome in zip(letters, sent, strict=True):
            if isinstance(outcome, BaseException):  # e.g. Kafka refused it: it stays parked, and says so
                log.error(
                    "%s: the dead letter of %s[%d]@%d could not be written: %r",
                    lot.name,
                    *entry.where,
                    entry.offset,
                    outcome,
                )
                entry.due = time.monotonic() + runtime.limits.backoff_max
            else:
                written.append(entry)
        if written:
            # Recorded once written, so a redelivery is not waited on or dead-lettered again.
            await call_until_available(
                "recording dead letters",
                lambda: _record_dead_letters(runtime, [e.item.record for e in written]),
                maximum=runtime.limits.backoff_max,
            )
        for entry in written:
            self._settled(entry.item.topic, _type_of(entry.item), entry.item.outcome, "dead_lettered")
            lot.ledger.settle(entry, time.monotonic())

    def _judge(self, runtime: Runtime, entry: Parked, exc: Exception) -> None:
        """Count a failure: set the parked record's next try, or give it up with a reason."""
        waiting: _Waiting = entry.item
        limits, topic, event = runtime.limits, waiting.topic, waiting.event
        if isinstance(exc, InvalidMessage):
            waiting.verdict = (str(exc), "InvalidMessage")
            return
        assert event is not None
        kind = _kind(exc)
        metrics.HANDLER_RETRIES.labels(self.service, topic, kind).inc()
        now = waiting.last_try = time.monotonic()
        early_until, waiting.early_until = waiting.early_until, None
        if early_until is not None and kind == "not_yet_known" and early_until > now:
            entry.due = early_until  # an early try (`_data_arrived`): not counted, the counted one stays due
            return
        waiting.early_left = EARLY_TRIES  # a counted try: the next wait has its early ones
        waiting.counts[kind] += 1
        if isinstance(exc, PermanentError):
            waiting.verdict = (str(exc), "PermanentError")
        elif kind == "not_yet_known" and waiting.counts[kind] >= limits.max_deferrals:
            waiting.verdict = (f"still unknown after {waiting.counts[kind]} attempts: {exc}", "NotYetKnown")
        elif kind == "handler" and waiting.counts[kind] >= limits.max_attempts:
            log.error("handler for %s %s failed for good", event.envelope.type, event.envelope.id, exc_info=exc)
            waiting.verdict = (f"failed {waiting.counts[kind]} times: {reason_for(exc)}", type(exc).__name__)
        else:
            if kind == "handler":
                log.warning(
                    "handler for %s %s failed (attempt %d of %d): %r",
                    event.envelope.type,
                    event.envelope.id,
                    waiting.counts[kind],
                    limits.max_attempts,
                    exc,
                )
            elif kind == "infrastructure":
                log.warning("infrastructure error on %s %s, retrying: %r", event.envelope.type, event.envelope.id, exc)
            entry.due = time.monotonic() + backoff_delay(
                limits.backoff, limits.backoff_max, sum(waiting.counts.values())
            )

    async def _run(
        self, uow: UnitOfWork, runtime: Runtime, topic: str, event: _Event, verdict: bool | ReusedId | None = None
    ) -> str:
        """Apply one event in `uow`'s transaction; `verdict` is its inbox claim when the batch's was made."""
        uow.cause = event.envelope
        if verdict is None:
            (verdict,) = await runtime.claim_inbox(uow, topic, [event.claim])
        if isinstance(verdict, ReusedId):
            raise verdict
        if not verdict:
            return "duplicate"
        if not recording():  # nothing records spans: the consumed event's trace is passed on as it came
            with continuing(event.record.headers or ()):
                return await self._handle(uow, runtime, topic, event)
        with tracer.start_as_current_span(
            f"{topic} process",
            context=context_from_headers(_headers(event.record)) if _header(event.record, "traceparent") else None,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.message.id": event.envelope.id,
                "tandem.event.type": event.envelope.type,
            },
        ):
            return await self._handle(uow, runtime, topic, event)

    async def _handle(self, uow: UnitOfWork, runtime: Runtime, topic: str, event: _Event) -> str:
        started = time.perf_counter()
        await event.handler(event.data, uow, runtime.deps)
        _handler_seconds(self.service, topic, event.envelope.type).observe(time.perf_counter() - started)
        return "handled"

    async def _apply_together(
        self, runtime: Runtime, topic: str, events: list[_Event], *, set_wise: bool = True
    ) -> tuple[list[str], Exception | None]:
        """Apply events in one transaction until one fails. Returns the outcomes committed (the events
        before the failing one: re-applied in a transaction of their own) and the failure, if any.
        The inbox claims the whole batch in one statement, and runs of events whose handler is
        set-wise are applied a wave at a time (shared.waves); a failure rolls all of it back. When a
        wave failed, its events are applied again one at a time, which finds the failing one
        (`_apply_around`)."""
        outcomes: list[str] = []
        wave: tuple[int, int] | None = None  # the wave being applied, while it is
        try:
            async with runtime.transaction() as uow:
                verdicts = await runtime.claim_inbox(uow, topic, [event.claim for event in events])
                handlers, data = [e.handler for e in events], [e.data for e in events]
                fresh = [v is True for v in verdicts]
                i = 0
                while i < len(events):
                    end = waves.wave_end(handlers, data, fresh, i) if set_wise and self.set_wise else i + 1
                    if end - i == 1:
                        outcomes.append(await self._run(uow, runtime, topic, events[i], verdicts[i]))
                    else:
                        wave = (i, end)
                        await self._run_wave(uow, runtime, topic, events[i:end])
                        wave = None
                        outcomes += ["handled"] * (end - i)
                    i = end
            return outcomes, None
        except Exception as exc:
            failure, failed_at = exc, len(outcomes)
        if wave is not None:
            return await self._apply_around(runtime, topic, events, *wave)
        if failed_at == 0:
            return [], failure
        # The transaction was rolled back with the failure: apply the events before it again.
        done, again = await self._apply_together(runtime, topic, events[:failed_at], set_wise=set_wise)
        if again is not None:  # they fail now (data changed meanwhile): the caller goes on from there
            return done, again
        if failed_at == len(events):  # the commit failed, not an event: all of them are applied now
            return done, None
        return done, failure

    async def _apply_around(
        self, runtime: Runtime, topic: str, events: list[_Event], start: int, end: int
    ) -> tuple[list[str], Exception | None]:
        """The wave events[start:end] failed and took its batch's transaction with it: the events before
        it are applied again as before, the wave's one at a time (the failing one is found, and the
        caller parks it), and, if none of them fails now, the events after it as before."""
        done, failure = await self._apply_together(runtime, topic, events[:start]) if start else ([], None)
        if failure is not None:
            return done, failure
        alone, failure = await self._apply_together(runtime, topic, events[start:end], set_wise=False)
        if failure is not None or end == len(events):
            return done + alone, failure
        rest, failure = await self._apply_together(runtime, topic, events[end:])
        return done + alone + rest, failure

    async def _run_wave(self, uow: UnitOfWork, runtime: Runtime, topic: str, wave: list[_Event]) -> None:
        many = waves.many_of(wave[0].handler)
        assert many is not None
        started = time.perf_counter()
        # What `many` emits while it names an event of the wave as the cause continues that event's trace.
        uow.traces_of_causes = {
            e.envelope.id: trace for e in wave if (trace := trace_headers(e.record.headers or ())) is not None
        }
        try:
            await many([waves.Applied(e.envelope, e.data) for e in wave], uow, runtime.deps)
        finally:
            del uow.traces_of_causes  # back to the class's: none
        uow.cause = wave[-1].envelope
        each = (time.perf_counter() - started) / len(wave)
        for event in wave:
            _handler_seconds(self.service, topic, event.envelope.type).observe(each)


def _header(record: ConsumerRecord, name: str) -> bytes | None:
    return next((v for k, v in (record.headers or ()) if k == name), None)


def _headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


@functools.lru_cache(maxsize=4096)
def _handler_seconds(service: str, topic: str, event_type: str) -> Any:
    return metrics.HANDLER_SECONDS.labels(service, topic, event_type)


@functools.lru_cache(maxsize=4096)
def _consumed(service: str, topic: str, event_type: str, outcome: str) -> Any:
    return metrics.EVENTS_CONSUMED.labels(service, topic, event_type, outcome)


def _kind(exc: BaseException | None) -> str:
    if isinstance(exc, NotYetKnown):
        return "not_yet_known"
    if exc is not None and is_infrastructure(exc):
        return "infrastructure"
    return "handler"


@dataclass(frozen=True)
class _Fetched:
    records: Any  # the batch's ConsumerRecords
    consumer: AIOKafkaConsumer


async def _fetched(message: Any) -> _Fetched:
    """FastStream decoder: the batch's records and the consumer that fetched them, as they are
    (`consume` decodes each record itself, see parse_event). Not `message: KafkaMessage` in
    `consume`'s signature: FastStream resolves that context in its thread pool, a thread hop per
    batch; nor a plain function here, which it runs there too."""
    return _Fetched(message.raw_message, message.consumer)


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
        lambda: producer.send_and_wait(
            runtime.topic_prefix + dlq(topic), value=record.value, key=record.key, headers=headers
        ),
        maximum=runtime.limits.backoff_max,
    )
    metrics.DEAD_LETTERS.labels(runtime.name, topic, error_type).inc()
    log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)


def _type_of(waiting: _Waiting) -> str:
    return waiting.event.envelope.type if waiting.event is not None else "invalid"


async def _record_dead_letters(runtime: Runtime, records: Sequence[ConsumerRecord]) -> None:
    async with runtime.transaction() as uow:
        await uow.conn.execute(
            'INSERT INTO dead_lettered (topic, partition, "offset") '
            "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) ON CONFLICT DO NOTHING",
            [r.topic for r in records],
            [r.partition for r in records],
            [r.offset for r in records],
        )


async def _dead_lettered_among(runtime: Runtime, records: Sequence[ConsumerRecord]) -> set[tuple[str, int, int]]:
    """The places (topic, partition, offset) of these records that were dead-lettered before."""
    async with runtime.transaction() as uow:
        rows = await uow.conn.fetch(
            'SELECT d.topic, d.partition, d."offset" FROM dead_lettered d '
            'JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS r (topic, partition, "offset") '
            'USING (topic, partition, "offset")',
            [r.topic for r in records],
            [r.partition for r in records],
            [r.offset for r in records],
        )
    return {(row["topic"], row["partition"], row["offset"]) for row in rows}
