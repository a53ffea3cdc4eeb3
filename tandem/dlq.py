"""Reading and replaying dead letters (`tandem dlq list|replay`).

A dead letter is the original message, byte for byte, on `<topic>.dlq`, with headers saying why,
which service gave up and where it came from. Once the cause is fixed (the missing profile arrived,
a bug was deployed), replaying puts the original bytes back on the original topic. That is safe to
do twice: every consumer's inbox skips an event it already applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import topics
from shared.dead_letters import LetterHeaders
from shared.kafka import make_producer

REPLAYED_FROM = "tandem.replayed-from"


@dataclass(frozen=True)
class StoredLetter:
    topic: str  # the original topic, without the prefix
    dlq_partition: int
    dlq_offset: int
    reason: str
    error_type: str
    service: str
    failed_at: datetime
    original_partition: str
    original_offset: str
    event_id: str | None
    event_type: str | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> str:
        return f"{topics.dlq(self.topic)}[{self.dlq_partition}]@{self.dlq_offset}"


def _letter(record, topic: str) -> StoredLetter:
    letter = LetterHeaders.of(record)
    headers = letter.headers
    return StoredLetter(
        topic=topic, dlq_partition=record.partition, dlq_offset=record.offset,
        reason=letter.reason(), error_type=letter.error_type(), service=letter.service(), failed_at=letter.failed_at,
        original_partition=headers.get("dlq.original.partition", "?"),
        original_offset=headers.get("dlq.original.offset", "?"), event_id=letter.envelope_text("id"),
        event_type=letter.envelope_text("type"), key=record.key, value=record.value,
        headers=tuple(record.headers or ()),
    )


async def read_letters(bootstrap_servers: str, prefix: str = "", topic_names: Iterable[str] | None = None,
                       since: datetime | None = None) -> list[StoredLetter]:
    """Every dead letter of the given original topics (all by default), oldest first per partition."""
    wanted = list(topic_names or topics.ALL)
    unknown = [t for t in wanted if t not in topics.ALL]
    if unknown:
        raise ValueError(f"unknown topic {unknown[0]!r}; topics are: {', '.join(topics.ALL)}")
    # Without a group the consumer takes every partition of these topics, and commits nothing.
    consumer = AIOKafkaConsumer(*[prefix + topics.dlq(t) for t in wanted], bootstrap_servers=bootstrap_servers,
                                group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="tandem-dlq")
    letters: list[StoredLetter] = []
    try:
        await consumer.start()  # inside the try: a broker out of reach still closes the consumer
        partitions: list[TopicPartition] = []
        for _ in range(50):  # the assignment follows the first metadata answer
            partitions = sorted(consumer.assignment())
            if partitions:
                break
            await asyncio.sleep(0.1)
        if not partitions:
            return []
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    letter = _letter(record, tp.topic.removeprefix(prefix).removesuffix(topics.DLQ_SUFFIX))
                    if since is None or letter.failed_at >= since:
                        letters.append(letter)
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda letter: (letter.failed_at, letter.topic, letter.dlq_partition, letter.dlq_offset))


async def replay(bootstrap_servers: str, letters: list[StoredLetter], prefix: str = "") -> int:
    """Put each letter's original bytes back on its original topic, with its own key and headers."""
    producer: AIOKafkaProducer = make_producer(bootstrap_servers, "tandem-dlq-replay")
    await producer.start()
    try:
        for letter in letters:
            headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq.") and k != REPLAYED_FROM]
            headers.append((REPLAYED_FROM, letter.where.encode()))
            await producer.send_and_wait(prefix + letter.topic, value=letter.value, key=letter.key, headers=headers)
    finally:
        await producer.stop()
    return len(letters)
