"""Dead letters as a service can follow them: every `<topic>.dlq` message, read from its headers.

A service that wants to know what could not be handled (the program team's dashboard and daily
digest) subscribes with the `DeadLetters` key in its table:

    SUBSCRIPTIONS = {..., DeadLetters: on_dead_letter}

and its handler gets a `DeadLetter` per message, exactly once (the inbox keys it by its place in
the dead-letter topic). The original bytes are never parsed as an event here: they may be anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from shared.contracts import topics


class DeadLetters:
    """Subscription key: every dead-letter topic (not an event class)."""


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the topic the message was meant for, without the deployment's prefix
    partition: int  # where it sits in the dead-letter topic
    offset: int
    reason: str
    error_type: str
    service: str
    failed_at: datetime
    event_type: str | None  # when the original bytes were an envelope with a type
    program_id: str | None  # when its data named one

    @property
    def id(self) -> str:
        return f"{topics.dlq(self.topic)}/{self.partition}/{self.offset}"


def dead_letter_topics() -> list[str]:
    return [topics.dlq(t) for t in topics.ALL]


def read(record: ConsumerRecord, topic_prefix: str) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    try:
        failed_at = datetime.fromisoformat(headers["dlq.failed_at"])
    except (KeyError, ValueError):
        failed_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    event_type = program_id = None
    try:
        envelope = json.loads(record.value) if record.value else None
        if isinstance(envelope, dict):
            event_type = envelope.get("type") if isinstance(envelope.get("type"), str) else None
            data = envelope.get("data")
            if isinstance(data, dict) and isinstance(data.get("program_id"), str):
                program_id = data["program_id"][:200]
    except (ValueError, RecursionError):
        pass
    return DeadLetter(
        topic=record.topic.removeprefix(topic_prefix).removesuffix(topics.DLQ_SUFFIX),
        partition=record.partition, offset=record.offset,
        reason=headers.get("dlq.error", "no reason recorded")[:2000],
        error_type=headers.get("dlq.error.type", "unknown"), service=headers.get("dlq.service", "unknown"),
        failed_at=failed_at, event_type=(event_type or None) and event_type[:200], program_id=program_id,
    )
