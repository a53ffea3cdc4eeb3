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
    # The refused message's own place, `<topic>/<partition>/<offset>` (from the dlq.original.* headers):
    # every service that reads a topic dead-letters its own copy of a message none can take.
    original: str | None = None

    @property
    def id(self) -> str:
        return f"{topics.dlq(self.topic)}/{self.partition}/{self.offset}"

    @property
    def message_id(self) -> str:
        """The message this letter is a copy of, to count each refused message once; a letter whose
        headers do not say (written by something else) stands for itself."""
        return self.original or self.id


def dead_letter_topics() -> list[str]:
    return [topics.dlq(t) for t in topics.ALL]


@dataclass(frozen=True)
class LetterHeaders:
    """What a dead letter's headers and original bytes say, read defensively (they may be anything)."""

    headers: dict[str, str]
    failed_at: datetime
    envelope: dict | None  # the original bytes, when they were a JSON object

    @classmethod
    def of(cls, record: ConsumerRecord) -> LetterHeaders:
        # Anyone may write to a dead-letter topic: a NUL (which Postgres text refuses) is replaced too.
        headers = {k: v.decode(errors="replace").replace("\x00", "\ufffd") for k, v in (record.headers or ())}
        try:
            failed_at = datetime.fromisoformat(headers["dlq.failed_at"])
        except (KeyError, ValueError):
            failed_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        try:
            envelope = json.loads(record.value) if record.value else None
        except (ValueError, RecursionError):
            envelope = None
        return cls(headers, failed_at, envelope if isinstance(envelope, dict) else None)

    def envelope_text(self, name: str) -> str | None:
        """A text field of the original envelope (`id`, `type`), if it had one."""
        value = self.envelope.get(name) if self.envelope is not None else None
        return value if isinstance(value, str) else None

    def program_id(self) -> str | None:
        """The program the original event's data names, if it names one that could be stored."""
        data = self.envelope.get("data") if self.envelope is not None else None
        value = data.get("program_id") if isinstance(data, dict) else None
        return _storable(value[:200]) if isinstance(value, str) else None

    def reason(self) -> str:
        return self.headers.get("dlq.error", "no reason recorded")

    def error_type(self) -> str:
        return self.headers.get("dlq.error.type", "unknown")

    def service(self) -> str:
        return self.headers.get("dlq.service", "unknown")

    def original(self, topic: str) -> str | None:
        """Where the refused message sits in `topic`, if the headers say so in numbers."""
        partition, offset = self.headers.get("dlq.original.partition", ""), self.headers.get("dlq.original.offset", "")
        if not (partition.isascii() and partition.isdigit() and offset.isascii() and offset.isdigit()):
            return None
        return f"{topic}/{int(partition)}/{int(offset)}"


def _storable(text: str | None) -> str | None:
    """`text` when Postgres can store it, else None. The original bytes are whatever was sent (often
    refused for a NUL or a lone surrogate): a text it cannot store names no program or type we know,
    and a handler storing it would fail on every try."""
    if not text or "\x00" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def read(record: ConsumerRecord, topic_prefix: str) -> DeadLetter:
    letter = LetterHeaders.of(record)
    event_type = _storable(letter.envelope_text("type"))
    topic = record.topic.removeprefix(topic_prefix).removesuffix(topics.DLQ_SUFFIX)
    return DeadLetter(
        topic=topic,
        partition=record.partition,
        offset=record.offset,
        reason=letter.reason()[:2000],
        error_type=letter.error_type(),
        service=letter.service(),
        failed_at=letter.failed_at,
        event_type=event_type and event_type[:200],
        program_id=letter.program_id(),
        original=letter.original(topic),
    )
