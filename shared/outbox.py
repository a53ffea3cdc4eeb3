"""The outbox relay: publishes committed events to Kafka in commit order, then removes them.

Guarantees, with any number of replicas:
- **One relay at a time per schema** (a transaction-level advisory lock per batch), so commit order
  is publish order.
- **A key's events are never reordered.** Events of one (topic, key) go in order, a record batch at
  a time ("waves": every key's next events that fit one record batch, together; then the next),
  a batch is stored or refused whole, and once one fails, the rest of that key waits for the next
  batch.
- **A partly failed batch keeps what it achieved.** Published rows are deleted (and counted per
  type in `outbox_published`) in the same commit as the failed ones are marked; nothing already on
  Kafka is sent again (beyond at-least-once: a crash between the broker's ack and the commit sends
  it again, and consumers dedupe by event id).
- **Nothing is skipped.** A record Kafka refuses for good (too large, invalid topic) is marked
  `failed` and *blocks* the later events of its (topic, key) until an operator retries or skips it
  (`tandem outbox`); `tandem_outbox_failed` and `tandem_outbox_blocked` show it in /metrics, and
  the log names the event id.
- The relay is woken directly by a commit in its own process (`unit_of_work(wake_relay=...)`), and
  by Postgres NOTIFY from other processes (`tandem outbox`, tools); it polls as a fallback. A relay
  that finds another replica's publishing looks again within `BUSY_RETRY_SECONDS`, since that one
  was not woken for this process's commit. The LISTEN connection is reopened after a Postgres
  restart (`shared.loops.listen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidTopicError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordTooLargeError,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace

from shared import metrics
from shared.db import check_identifier
from shared.kafka import TOPIC_MAX_BYTES
from shared.loops import Pass, Wakeup, listen, run_loop
from shared.retry import InfrastructureUnavailable
from shared.telemetry import context_from_headers, current_trace_headers, recording
from shared.unit_of_work import outbox_channel

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tandem.outbox")

# Kafka will never take these records; retrying them would only hide the problem.
PERMANENT = (MessageSizeTooLargeError, RecordTooLargeError, InvalidTopicError)
# The idempotent producer lost its place (a refused record, a broker that forgot the producer id):
# only a new producer, with a new id and fresh sequence numbers, can send again.
PRODUCER_BROKEN = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)
BUSY_RETRY_SECONDS = 0.05  # how soon a relay that found another replica's publishing tries again

# Pending rows whose (topic, key) has no earlier failed row, in commit order.
_PENDING = """
SELECT o.id, o.event_id, o.topic, o.key, o.payload, o.headers FROM outbox o
 WHERE o.state = 'pending'
   AND NOT EXISTS (SELECT 1 FROM outbox f
                    WHERE f.state = 'failed' AND f.topic = o.topic AND f.key = o.key AND f.id < o.id)
 ORDER BY o.id LIMIT $1"""

_PUBLISHED = """
WITH gone AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING topic, headers->>'ce_type' AS event_type)
INSERT INTO outbox_published AS p (topic, event_type, events, last_published_at)
SELECT topic, coalesce(event_type, ''), count(*), now() FROM gone GROUP BY 1, 2
    ON CONFLICT (topic, event_type)
    DO UPDATE SET events = p.events + excluded.events, last_published_at = excluded.last_published_at"""

_BLOCKED = """
SELECT count(*) FROM outbox o
 WHERE o.state = 'pending' AND EXISTS (
       SELECT 1 FROM outbox f WHERE f.state = 'failed' AND f.topic = o.topic AND f.key = o.key AND f.id < o.id)"""


@dataclass
class BatchResult:
    published: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # refused for good
    retry: list[tuple[int, str]] = field(default_factory=list)  # not sent, or sent and not acknowledged
    broken_producer: bool = False
    busy: bool = False  # another replica's relay held the lock: nothing was taken


class OutboxRelay:
    """Publishes with a producer of its own (see `new_producer`), replaced when it loses its place."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        database_url: str,
        service: str,
        schema: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        new_producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        self.pool = pool
        self.database_url = database_url
        self.producer = producer
        self.new_producer = new_producer
        self.service = service
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.wake = Wakeup()
        self._next_measure = 0.0

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen(self.database_url, outbox_channel(self.schema), self.wake), name=f"{self.service}-outbox-listen"
        )
        try:
            await run_loop(f"{self.service} outbox relay", self.step, poll=self.poll_seconds, wake=self.wake)
        except Exception:
            log.exception("%s outbox relay stopped; it starts again", self.service)
            raise
        finally:
            listener.cancel()
            await asyncio.wait({listener}, timeout=5)  # never let a stuck listener hold the relay down

    async def step(self) -> Pass:
        taken, result = await self.publish_batch()
        if result.broken_producer and self.new_producer is not None:
            log.warning("%s outbox: the producer lost its sequence; starting a new one", self.service)
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.producer = await self.new_producer()
        if result.retry:
            raise InfrastructureUnavailable(
                f"{len(result.retry)} outbox events not published yet: {result.retry[0][1]}"
            )
        if result.busy:
            # The replica holding the lock may have read its batch before this process's last commit,
            # and nothing wakes it for that commit (the wake-up is in-process): look again shortly.
            return Pass(due_in=BUSY_RETRY_SECONDS)
        return Pass(more=taken >= self.batch_size)

    async def publish_batch(self) -> tuple[int, BatchResult]:
        """Publish one batch; returns (rows taken, what became of them). Marks are committed either way."""
        result = BatchResult()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"tandem.outbox.{self.schema}"
            ):
                result.busy = True  # another replica's relay is publishing
                return 0, result
            rows = await conn.fetch(_PENDING, self.batch_size)
            if rows:
                await self._send_in_waves(rows, result)
                await self._mark(conn, result)
            await self._measure(conn)
        return len(rows), result

    async def _send_in_waves(self, rows: list[asyncpg.Record], result: BatchResult) -> None:
        """Send rows so that a key's next events go only after its earlier ones were acknowledged. A
        wave takes, for every key, as many of its next events as fit one record batch: a batch is
        stored or refused whole, so a topic of few keys (match-work.v1, keyed by program) needs a
        round trip per batch of a key's events, not per event, and a failure never lets a later
        event of a key through before an earlier one."""
        queues: dict[object, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            # Events without a key have no order to keep: each is its own queue.
            queues[(row["topic"], row["key"]) if row["key"] is not None else ("", row["id"])].append(row)
        heads = {key: 0 for key in queues}
        while heads:
            wave = [(key, await self._send_together(queues[key], i)) for key, i in heads.items()]
            outcomes = await asyncio.gather(*(sent for _, (_, sent) in wave), return_exceptions=True)
            for (key, (taken, _)), outcome in zip(wave, outcomes, strict=True):
                if not isinstance(outcome, BaseException):
                    for row in taken:
                        result.published.append(row["id"])
                        metrics.OUTBOX_PUBLISHED.labels(self.service, row["topic"]).inc()
                    heads[key] += len(taken)
                    if heads[key] == len(queues[key]):
                        del heads[key]
                    continue
                del heads[key]  # this key waits for the next batch (or for an operator)
                row = taken[0]  # the batch's first event stands for it: the rest stay pending behind it
                if isinstance(outcome, PERMANENT):
                    result.failed.append((row["id"], repr(outcome)))
                    metrics.OUTBOX_REFUSED.labels(self.service, row["topic"]).inc()
                    log.error(
                        "Kafka refused outbox event %s (%s, key %s) for good; later events of this key wait "
                        "until it is retried or skipped: %r",
                        row["event_id"],
                        row["topic"],
                        row["key"],
                        outcome,
                    )
                else:
                    result.retry.append((row["id"], repr(outcome)))
                    result.broken_producer |= isinstance(outcome, PRODUCER_BROKEN)

    async def _send_together(
        self, queue: list[asyncpg.Record], start: int
    ) -> tuple[list[asyncpg.Record], asyncio.Future]:
        """Send `queue[start]` and as many of the rows after it as fit its record batch, to the
        partition of their (common) key; (the rows sent, the batch's acknowledgement)."""
        first = queue[start]
        if first["key"] is None or start + 1 == len(queue):
            return [first], await self._send(first)
        topic = self.topic_prefix + first["topic"]
        batch = self.producer.create_batch()
        taken: list[asyncpg.Record] = []
        for row in queue[start:]:
            if len(row["payload"]) > TOPIC_MAX_BYTES:
                break  # refused alone, as the first of a later wave
            if (
                batch.append(
                    key=row["key"].encode(), value=bytes(row["payload"]), timestamp=None, headers=self._headers(row)
                )
                is None
            ):
                break  # full: the rest go in the next wave, once this batch is acknowledged
            taken.append(row)
        batch.close()  # nothing else joins it (a keyless send may look for an open batch)
        if not taken:
            return [first], await self._send(first)
        try:
            # The partition the producer's own partitioner (the default, murmur2 of the key) would choose.
            partitions = sorted(await self.producer.partitions_for(topic))
            partition = DefaultPartitioner()(first["key"].encode(), partitions, partitions)
            return taken, await self.producer.send_batch(batch, topic, partition=partition)
        except Exception as exc:  # refused before it was queued (producer closed, unknown topic)
            return taken, self._failed(exc)

    def _headers(self, row: asyncpg.Record) -> list[tuple[str, bytes]]:
        headers = row["headers"]
        if "traceparent" in headers and recording():  # continue the trace that caused the event
            headers = dict(headers)
            with tracer.start_as_current_span(
                f"{row['topic']} publish",
                context=context_from_headers(headers),
                kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "kafka", "messaging.destination.name": row["topic"]},
            ):
                headers.update(current_trace_headers())
        return [(k, str(v).encode()) for k, v in headers.items()]

    async def _send(self, row: asyncpg.Record) -> asyncio.Future:
        if len(row["payload"]) > TOPIC_MAX_BYTES:  # refused here, before the broker (see TOPIC_MAX_BYTES)
            return self._failed(MessageSizeTooLargeError(f"{len(row['payload'])} bytes is over {TOPIC_MAX_BYTES}"))
        try:
            return await self.producer.send(
                self.topic_prefix + row["topic"],
                value=bytes(row["payload"]),
                key=row["key"].encode() if row["key"] is not None else None,
                headers=self._headers(row),
            )
        except Exception as exc:  # refused before it was queued (too large, producer closed): same as a failed send
            return self._failed(exc)

    @staticmethod
    def _failed(exc: BaseException) -> asyncio.Future:
        failed: asyncio.Future = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed

    async def _mark(self, conn: asyncpg.Connection, result: BatchResult) -> None:
        if result.published:
            # Once on Kafka an event leaves the outbox (its content, which may name people, is not kept
            # twice); what stays is a count per type (one row per type, one relay at a time: no contention).
            await conn.execute(_PUBLISHED, result.published)
        for rows, state in ((result.failed, "failed"), (result.retry, "pending")):
            if rows:
                await conn.executemany(
                    "UPDATE outbox SET state = $3, attempts = attempts + 1, last_error = $2 WHERE id = $1",
                    [(i, err, state) for i, err in rows],
                )

    async def _measure(self, conn: asyncpg.Connection) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_measure:
            return
        self._next_measure = now + 1.0  # a count over a large backlog is not free: once a second is enough
        pending = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age FROM outbox WHERE state = 'pending'"
        )
        failed = await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'failed'")
        blocked = await conn.fetchval(_BLOCKED) if failed else 0
        metrics.OUTBOX_PENDING.labels(self.service).set(pending["n"])
        metrics.OUTBOX_LAG.labels(self.service).set(float(pending["age"] or 0))
        metrics.OUTBOX_FAILED_NOW.labels(self.service).set(failed)
        metrics.OUTBOX_BLOCKED.labels(self.service).set(blocked)


def events_written(schema: str) -> str:
    """SQL for every event a service's outbox ever took, by (topic, event type): the rows still there
    (pending, failed, skipped) plus the published ones counted in `outbox_published`. One snapshot,
    so the sum is the same before and after the relay publishes (it deletes and counts in one commit).
    Columns: topic, event_type, n. Topics as the service wrote them (without an environment's prefix)."""
    schema = check_identifier(schema)
    return (
        f"SELECT topic, event_type, sum(n)::bigint AS n FROM ("
        f"SELECT topic, coalesce(headers->>'ce_type', '') AS event_type, count(*) AS n FROM {schema}.outbox "
        f"GROUP BY 1, 2 UNION ALL SELECT topic, event_type, events FROM {schema}.outbox_published) w "
        f"GROUP BY 1, 2"
    )


# --- operator actions (`tandem outbox`) --------------------------------------------------------------


async def failed_events(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, event_id, topic, key, attempts, last_error, created_at FROM outbox WHERE state = 'failed' ORDER BY id"
    )


async def retry_failed(conn: asyncpg.Connection, event_ids: list[str]) -> int:
    """Put refused events back in line (e.g. after raising the broker's message size limit)."""
    done = await conn.execute(
        "UPDATE outbox SET state = 'pending' WHERE state = 'failed' AND event_id = ANY($1::text[])", event_ids
    )
    await conn.execute("SELECT pg_notify($1, '')", outbox_channel(await conn.fetchval("SELECT current_schema()")))
    return int(done.split()[-1])


async def skip_failed(conn: asyncpg.Connection, event_ids: list[str]) -> int:
    """Give up on refused events for good, so the later events of their keys go out."""
    done = await conn.execute(
        "UPDATE outbox SET state = 'skipped' WHERE state = 'failed' AND event_id = ANY($1::text[])", event_ids
    )
    await conn.execute("SELECT pg_notify($1, '')", outbox_channel(await conn.fetchval("SELECT current_schema()")))
    return int(done.split()[-1])
