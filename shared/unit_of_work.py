"""One Postgres transaction: the state change, the events it causes (outbox) and, for a consumed
event, its inbox record all commit together, or none of them does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from shared.clock import ProgramClock
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventData, topic_of
from shared.telemetry import current_trace_headers


@dataclass
class UnitOfWork:
    conn: asyncpg.Connection
    source: str
    clock: ProgramClock
    schema: str
    _outgoing: list[tuple] = field(default_factory=list)
    _after_commit: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    def emit(self, data: EventData, *, subject: str | None = None, event_id: str | None = None) -> Envelope:
        """Queue an event; it is written to the outbox when the transaction commits."""
        topic, event_type = topic_of(type(data))
        key = data.key_value()
        envelope = new_envelope(
            type=event_type, source=self.source, data=data, time=self.clock.now(), subject=subject or key, id=event_id
        )
        headers = {"content-type": "application/cloudevents+json; charset=utf-8", "ce_type": event_type,
                   **current_trace_headers()}
        self._outgoing.append((envelope.id, topic, key, envelope.to_json(), headers))
        return envelope

    def after_commit(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """Run once the transaction has committed (e.g. to update an in-memory index)."""
        self._after_commit.append(callback)

    async def claim_inbox(self, topic: str, event_id: str, event_type: str) -> bool:
        """Record a consumed event; False when it was already applied (a redelivery)."""
        inserted = await self.conn.fetchval(
            "INSERT INTO inbox (topic, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
            topic, event_id, event_type,
        )
        return inserted is not None

    async def _flush(self) -> None:
        if not self._outgoing:
            return
        if len(self._outgoing) > 20:  # COPY is several times faster for the big batches (reminders, cohorts)
            await self.conn.copy_records_to_table(
                "outbox", schema_name=self.schema, columns=["event_id", "topic", "key", "payload", "headers"],
                records=self._outgoing,
            )
        else:
            await self.conn.executemany(
                "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)",
                self._outgoing,
            )
        await self.conn.execute("SELECT pg_notify($1, '')", outbox_channel(self.schema))


def outbox_channel(schema: str) -> str:
    return f"tandem_outbox_{schema}"


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, *, source: str, clock: ProgramClock, schema: str) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn:
        uow = UnitOfWork(conn=conn, source=source, clock=clock, schema=schema)
        async with conn.transaction():
            yield uow
            await uow._flush()
    for callback in uow._after_commit:
        result = callback()
        if result is not None:
            await result
