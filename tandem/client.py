"""A small Kafka client for the outside world: what an upstream system or portal does, and what an
observer (the demo, the tests) reads. It speaks only the public contracts in `shared.contracts`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contracts.envelope import CONTENT_TYPE, Envelope, new_envelope
from shared.contracts.events import EventData, topic_of


class Publisher:
    """Publishes events the way an upstream system would: CloudEvents JSON, keyed, acks=all."""

    def __init__(self, bootstrap_servers: str, *, topic_prefix: str = "", source: str = "/upstream/portal",
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.source = source
        self.now = now
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Publisher:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                          enable_idempotence=True, linger_ms=5)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._producer is not None
        await self._producer.stop()

    async def publish(self, data: EventData, *, event_id: str | None = None, wait: bool = True) -> Envelope:
        topic, event_type = topic_of(type(data))
        envelope = new_envelope(type=event_type, source=self.source, data=data, time=self.now(),
                                subject=data.key_value(), id=event_id)
        await self.send_raw(topic, envelope.to_json(), key=data.key_value(), wait=wait)
        return envelope

    async def publish_many(self, items: Iterable[EventData]) -> list[Envelope]:
        envelopes, futures = [], []
        for data in items:
            topic, event_type = topic_of(type(data))
            envelope = new_envelope(type=event_type, source=self.source, data=data, time=self.now(),
                                    subject=data.key_value())
            envelopes.append(envelope)
            futures.append(await self._send(topic, envelope.to_json(), data.key_value()))
        await asyncio.gather(*futures)
        return envelopes

    async def send_raw(self, topic: str, value: bytes, *, key: str | None = None, wait: bool = True,
                       headers: dict[str, str] | None = None) -> asyncio.Future | None:
        """Send bytes as they are; without `wait`, the future that says whether Kafka took them."""
        future = await self._send(topic, value, key, headers)
        if wait:
            await future
            return None
        return future

    async def _send(self, topic: str, value: bytes, key: str | None, headers: dict[str, str] | None = None):
        assert self._producer is not None, "use `async with Publisher(...)`"
        return await self._producer.send(
            self.topic_prefix + topic, value=value, key=key.encode() if key else None,
            headers=[(k, v.encode()) for k, v in {"content-type": CONTENT_TYPE, **(headers or {})}.items()],
        )


@dataclass
class Observed:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    raw: bytes
    envelope: dict[str, Any] | None

    @property
    def type(self) -> str | None:
        return self.envelope.get("type") if self.envelope else None

    @property
    def data(self) -> dict[str, Any]:
        data = (self.envelope or {}).get("data", {})
        return data if isinstance(data, dict) else {}


@dataclass
class Watcher:
    """Reads topics from the beginning and keeps every message, for assertions and reports."""

    bootstrap_servers: str
    topics: list[str]
    topic_prefix: str = ""
    seen: list[Observed] = field(default_factory=list)
    on_message: Callable[[Observed], Any] | None = None
    # Messages this says no to are kept apart in `set_aside`, out of `seen`, queries and `on_message`
    # (the fuzz run keeps its junk apart from the program's own events this way).
    keep: Callable[[Observed], bool] | None = None
    set_aside: list[Observed] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __aenter__(self) -> Watcher:
        self._consumer = AIOKafkaConsumer(
            *[self.topic_prefix + t for t in self.topics], bootstrap_servers=self.bootstrap_servers,
            group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        try:
            await self._follow()
        finally:  # a waiter learns at once that nothing more will come
            async with self._changed:
                self._changed.notify_all()

    async def _follow(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            try:
                envelope = json.loads(record.value)
                if not isinstance(envelope, dict):
                    envelope = None
            except (TypeError, ValueError, RecursionError):  # whatever bytes a topic holds
                envelope = None
            observed = Observed(
                topic=record.topic.removeprefix(self.topic_prefix), partition=record.partition, offset=record.offset,
                key=record.key.decode() if record.key else None,
                headers={k: v.decode(errors="replace") for k, v in (record.headers or ())},
                raw=record.value, envelope=envelope,
            )
            if self.keep is not None and not self.keep(observed):
                self.set_aside.append(observed)
            else:
                self.seen.append(observed)
                if self.on_message is not None:
                    result = self.on_message(observed)
                    if asyncio.iscoroutine(result):
                        await result
            async with self._changed:
                self._changed.notify_all()

    async def caught_up(self) -> bool:
        """Whether every message its topics held a moment ago has been read (kept or set aside)."""
        assert self._consumer is not None
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned) if assigned else {}
        return bool(assigned) and all([await self._consumer.position(tp) >= end for tp, end in ends.items()])

    def of_type(self, event_type: str, topic: str | None = None) -> list[Observed]:
        return [o for o in self.seen if o.type == event_type and (topic is None or o.topic == topic)]

    def on_topic(self, topic: str) -> list[Observed]:
        return [o for o in self.seen if o.topic == topic]

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = defaultdict(int)
        for o in self.seen:
            result[o.type or f"<unparsed on {o.topic}>"] += 1
        return dict(result)

    async def wait_for(self, predicate: Callable[[Watcher], Any], timeout: float, what: str = "condition") -> Any:
        """Wait until predicate(self) is truthy; raises TimeoutError naming `what`."""
        async def _wait() -> Any:
            async with self._changed:
                while not (result := predicate(self)):
                    if self._task is not None and self._task.done():
                        stopped = None if self._task.cancelled() else self._task.exception()
                        raise RuntimeError(f"the watcher stopped while waiting for {what}: {stopped!r}")
                    await self._changed.wait()
                return result
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; seen: {self.counts()}") from None


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:12]
