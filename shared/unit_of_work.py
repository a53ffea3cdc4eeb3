"""One Postgres transaction: the state change, the events it causes (outbox) and, for a consumed
event, its inbox record all commit together, or none of them does.

Each service subclasses `UnitOfWork` and creates its repositories in `bind()`, so its handlers
"load, call, save and emit" without touching SQL: `uow.meetings.get(id)`, `uow.emit(event)`.
Handler unit tests replace the whole unit of work with a fake that keeps state in dictionaries.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

import asyncpg

from shared.clock import ProgramClock
from shared.contracts.envelope import CONTENT_TYPE, Envelope, envelope_json
from shared.contracts.events import EventData, topic_of
from shared.errors import PermanentError
from shared.telemetry import current_trace_headers

U = TypeVar("U", bound="UnitOfWork")
COPY_FROM = 20  # outbox rows from which COPY beats a multi-row INSERT (reminders, cohort rounds)
_INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, key, payload, headers)
SELECT event_id, topic, key, payload, headers
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[])
     WITH ORDINALITY AS emitted(event_id, topic, key, payload, headers, n)
ORDER BY n
"""


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event `UnitOfWork.emit` queued: its id (to record it elsewhere) and where it goes."""

    id: str
    type: str
    topic: str
    key: str


class UnitOfWork:
    # A wave's events by id -> the trace headers each came with: what is emitted while one of them is
    # the cause continues its trace (shared.waves; set by the consumer around a wave).
    traces_of_causes: Mapping[str, dict[str, str]] = MappingProxyType({})

    def __init__(self, conn: asyncpg.Connection, *, source: str, clock: ProgramClock, schema: str) -> None:
        self.conn = conn
        self.source = source
        self.clock = clock
        self.schema = schema
        # The consumed event being applied (None for loops and tools): its id seeds deterministic ids.
        self.cause: Envelope | None = None
        self._outgoing: list[tuple] = []
        self._after_commit: list[Callable[[], Awaitable[None] | None]] = []
        self._after_rollback: list[Callable[[], None]] = []
        # Wakes this process's outbox relay once the outbox rows are committed (`unit_of_work`);
        # None: no relay here, so a NOTIFY wakes another process's.
        self.wake_relay: Callable[[], None] | None = None
        self.bind(conn)

    def bind(self, conn: asyncpg.Connection) -> None:
        """Create the service's repositories on this connection (subclasses)."""

    def now(self) -> datetime:
        return self.clock.now()

    def emit(self, data: EventData, *, subject: str | None = None, event_id: str | None = None) -> Emitted:
        """Queue an event; it is written to the outbox when the transaction commits.

        `data` was validated when the handler built it: it is serialised once, straight to the
        envelope's bytes (`envelope_json`), and not validated again."""
        topic, event_type = topic_of(type(data))
        key = data.key_value()
        event_id = event_id or str(uuid.uuid4())
        payload = envelope_json(
            type=event_type, source=self.source, data=data, time=self.clock.now(), subject=subject or key, id=event_id
        )
        trace = self.traces_of_causes.get(self.cause.id) if self.traces_of_causes and self.cause else None
        headers = {"content-type": CONTENT_TYPE, "ce_type": event_type, **(trace or current_trace_headers())}
        self._outgoing.append((event_id, topic, key, payload, headers))
        return Emitted(event_id, event_type, topic, key)

    def after_commit(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """Run once the transaction has committed (e.g. wake a background loop)."""
        self._after_commit.append(callback)

    def after_rollback(self, callback: Callable[[], None]) -> None:
        """Run if the transaction is rolled back (e.g. forget a cache filled from uncommitted rows)."""
        self._after_rollback.append(callback)

    async def scrub_personal(self, strings: tuple[str, ...]) -> int:
        """Replace a forgotten person's name and address in every text this service stored."""
        from shared.erasure import scrub

        return await scrub(self.conn, strings)

    async def claim_inbox(self, topic: str, event_id: str, event_type: str, digest: bytes) -> bool:
        """Record a consumed event; False when it was already applied (a redelivery). An id seen
        before with a different type or data is not a redelivery: it is refused (PermanentError)."""
        inserted = await self.conn.fetchval(
            "INSERT INTO inbox (topic, event_id, event_type, digest) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            topic,
            event_id,
            event_type,
            digest,
        )
        if inserted is not None:
            return True
        before = await self.conn.fetchval(
            "SELECT digest FROM inbox WHERE topic = $1 AND event_id = $2", topic, event_id
        )
        if before is not None and bytes(before) != digest:
            raise PermanentError(f"event id {event_id} was used before for a different event; this one is not applied")
        return False

    async def _flush(self) -> None:
        if not self._outgoing:
            return
        if len(self._outgoing) > COPY_FROM:
            await self.conn.copy_records_to_table(
                "outbox",
                schema_name=self.schema,
                columns=["event_id", "topic", "key", "payload", "headers"],
                records=self._outgoing,
            )
        else:
            # One statement for the lot (not a row per statement, as executemany would run), in
            # emit order: the relay publishes a key's events in the order of their ids.
            await self.conn.execute(_INSERT_OUTBOX, *(list(column) for column in zip(*self._outgoing, strict=True)))
        if self.wake_relay is None:  # no relay in this process: wake one elsewhere, at commit
            await self.conn.execute("SELECT pg_notify($1, '')", outbox_channel(self.schema))

    async def _committed(self) -> None:
        if self._outgoing and self.wake_relay is not None:
            self.wake_relay()
        for callback in self._after_commit:
            result = callback()
            if result is not None:
                await result


def outbox_channel(schema: str) -> str:
    return f"tandem_outbox_{schema}"


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool,
    *,
    source: str,
    clock: ProgramClock,
    schema: str,
    cls: type[U] = UnitOfWork,  # type: ignore[assignment]
    wake_relay: Callable[[], None] | None = None,
) -> AsyncIterator[U]:
    """One transaction. `wake_relay`: this process's outbox relay, woken directly after a commit that
    wrote events (no NOTIFY round trip); without one, the commit NOTIFYs the relays listening."""
    async with pool.acquire() as conn:
        uow = cls(conn, source=source, clock=clock, schema=schema)
        uow.wake_relay = wake_relay
        try:
            async with conn.transaction():
                yield uow
                await uow._flush()
        except BaseException:
            for callback in uow._after_rollback:
                callback()
            raise
    await uow._committed()
