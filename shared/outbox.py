"""The outbox relay: publishes committed events to Kafka in commit order, then marks them.

It may publish an event twice (a crash between the broker's ack and the UPDATE); consumers dedupe
by event id, so the effect is exactly once. One relay per schema is active at a time (an advisory
lock), which keeps per-key order when a service runs several replicas.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidTopicError, MessageSizeTooLargeError, RecordTooLargeError
from opentelemetry import trace

from shared import metrics
from shared.telemetry import context_from_headers, current_trace_headers
from shared.unit_of_work import outbox_channel

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tandem.outbox")

# Kafka will never take these records; retrying would block everything behind them.
PERMANENT = (MessageSizeTooLargeError, RecordTooLargeError, InvalidTopicError)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *, database_url: str, service: str,
                 schema: str, topic_prefix: str = "", batch_size: int = 500, poll_seconds: float = 1.0) -> None:
        self.pool = pool
        self.database_url = database_url
        self.producer = producer
        self.service = service
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener = await self._listen()
        backoff = 0.1
        next_purge = asyncio.get_running_loop().time() + 60
        try:
            while True:
                try:
                    published = await self.publish_batch()
                    backoff = 0.1
                    if asyncio.get_running_loop().time() > next_purge:
                        next_purge += 3600
                        await self.purge()
                except Exception as exc:  # database or broker away: keep everything, try again
                    log.warning("outbox relay failed, retrying in %.1fs: %r", backoff, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if published >= self.batch_size:
                    continue
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        """LISTEN for new outbox rows so publishing starts right after a commit; polling is the fallback."""
        try:
            conn = await asyncpg.connect(self.database_url)
            await conn.add_listener(outbox_channel(self.schema), lambda *_: self._wake.set())
            return conn
        except Exception as exc:
            log.warning("outbox LISTEN unavailable, polling every %.1fs: %r", self.poll_seconds, exc)
            return None

    async def publish_batch(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"tandem.outbox.{self.schema}"):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox WHERE state = 'pending' ORDER BY id LIMIT $1",
                self.batch_size,
            )
            if not rows:
                metrics.OUTBOX_PENDING.labels(self.service).set(0)
                metrics.OUTBOX_LAG.labels(self.service).set(0)
                return 0
            futures = []
            for row in rows:
                headers = dict(row["headers"])
                if "traceparent" in headers:  # continue the trace that caused the event
                    with tracer.start_as_current_span(
                        f"{row['topic']} publish", context=context_from_headers(headers), kind=trace.SpanKind.PRODUCER,
                        attributes={"messaging.system": "kafka", "messaging.destination.name": row["topic"]},
                    ):
                        headers.update(current_trace_headers())
                futures.append(await self.producer.send(
                    self.topic_prefix + row["topic"],
                    value=bytes(row["payload"]),
                    key=row["key"].encode() if row["key"] is not None else None,
                    headers=[(k, str(v).encode()) for k, v in headers.items()],
                ))
            results = await asyncio.gather(*futures, return_exceptions=True)

            published, failed, transient = [], [], []
            for row, result in zip(rows, results, strict=True):
                if not isinstance(result, BaseException):
                    published.append(row["id"])
                    metrics.OUTBOX_PUBLISHED.labels(self.service, row["topic"]).inc()
                elif isinstance(result, PERMANENT):
                    failed.append((row["id"], repr(result)))
                    metrics.OUTBOX_FAILED.labels(self.service, row["topic"]).inc()
                    log.error("Kafka refused outbox event %s for good: %r", row["id"], result)
                else:
                    transient.append((row["id"], repr(result)))
            if published:
                await conn.execute(
                    "UPDATE outbox SET state = 'published', published_at = now(), attempts = attempts + 1 "
                    "WHERE id = ANY($1::bigint[])", published,
                )
            for ids, state in ((failed, "failed"), (transient, "pending")):
                if ids:
                    await conn.executemany(
                        "UPDATE outbox SET state = $3, attempts = attempts + 1, last_error = $2 WHERE id = $1",
                        [(i, err, state) for i, err in ids],
                    )
            stats = await conn.fetchrow(
                "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age FROM outbox WHERE state = 'pending'"
            )
            metrics.OUTBOX_PENDING.labels(self.service).set(stats["n"])
            metrics.OUTBOX_LAG.labels(self.service).set(float(stats["age"] or 0))
            if transient:
                raise RuntimeError(f"{len(transient)} outbox events not published yet: {transient[0][1]}")
            return len(rows)

    async def purge(self, keep_days: int = 7) -> int:
        """Drop published events and inbox records older than the retention (the topics keep them)."""
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                "DELETE FROM outbox WHERE state = 'published' AND published_at < now() - make_interval(days => $1)", keep_days)
            await conn.execute("DELETE FROM inbox WHERE received_at < now() - make_interval(days => $1)", keep_days * 4)
        return int(done.split()[-1])
