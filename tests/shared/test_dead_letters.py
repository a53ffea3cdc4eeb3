"""Dead letters as services read them: whatever the original bytes and headers held, every text of a
`DeadLetter` is one PostgreSQL can store, so a service keeping it (feedback's analytics, notifications'
digests) does not fail on it try after try and drop it in the end."""

from __future__ import annotations

import json

import asyncpg
import pytest

from shared.contracts import topics
from shared.dead_letters import DeadLetter, read

DLQ = topics.dlq(topics.PROGRAMS)
POISONS = ["\x00", "\ud800", "a\x00b", "\udfff\ud800"]  # NULs and lone surrogates, as the fuzz run sends them


def letter_of(original: dict | None, *, offset: int = 0, reason: bytes = b"invalid program.configured data") -> DeadLetter:
    from aiokafka import ConsumerRecord

    value = b"\xff not even UTF-8" if original is None else json.dumps(original).encode()
    headers = [("dlq.error", reason), ("dlq.error.type", b"InvalidMessage"), ("dlq.service", b"matching"),
               ("dlq.failed_at", b"2027-01-04T08:00:00+00:00")]
    return read(ConsumerRecord(DLQ, 0, offset, 0, 0, b"k", value, None, 0, len(value), headers), "")


def envelope(program_id: object, event_type: object = "program.configured") -> dict:
    return {"specversion": "1.0", "id": "x", "source": "/fuzz", "type": event_type, "time": "2027-01-04T08:00:00Z",
            "data": {"program_id": program_id, "name": "P"}}


def texts(letter: DeadLetter) -> list[str | None]:
    return [letter.topic, letter.reason, letter.error_type, letter.service, letter.event_type, letter.program_id]


def poisoned_letters() -> list[DeadLetter]:
    return ([letter_of(envelope(f"prog-1{p}"), offset=i) for i, p in enumerate(POISONS)]
            + [letter_of(envelope("prog-1", f"program.configured{p}"), offset=10 + i) for i, p in enumerate(POISONS)]
            + [letter_of(envelope("prog-1"), offset=20, reason=b"a reason with a \x00 in it")])


@pytest.mark.parametrize("poison", POISONS)
def test_a_program_id_postgres_cannot_store_names_no_program(poison):
    assert letter_of(envelope(f"prog-1{poison}")).program_id is None
    assert letter_of(envelope("prog-1", f"program.configured{poison}")).event_type is None


def test_what_can_be_stored_is_read_as_it_was():
    letter = letter_of(envelope("prog-1"))
    assert (letter.program_id, letter.event_type, letter.service) == ("prog-1", "program.configured", "matching")
    assert letter.id == f"{DLQ}/0/0"
    assert (letter_of(None).program_id, letter_of(None).event_type) == (None, None)
    assert letter_of(envelope("prog-1"), reason=b"a \x00 b").reason == "a \ufffd b"


@pytest.mark.integration
async def test_every_text_of_a_poisoned_letter_is_stored_by_postgres(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE letters (topic text, reason text, error_type text, service text, "
                           "event_type text, program_id text)")
        for letter in poisoned_letters():
            await conn.execute("INSERT INTO letters VALUES ($1, $2, $3, $4, $5, $6)", *texts(letter))
        assert await conn.fetchval("SELECT count(*) FROM letters WHERE program_id = 'prog-1'") == 5
    finally:
        await conn.close()


def test_each_letter_knows_the_message_it_is_a_copy_of():
    """Every service that refuses a message dead-letters its own copy: the copies name one message."""
    from aiokafka import ConsumerRecord

    def copy(offset: int, service: bytes, headers: list[tuple[str, bytes]]) -> DeadLetter:
        value = json.dumps(envelope("prog-1")).encode()
        return read(ConsumerRecord(f"t1.{DLQ}", 1, offset, 0, 0, b"k", value, None, 0, len(value),
                                   [("dlq.service", service), *headers]), "t1.")

    where = [("dlq.original.topic", b"t1.programs.v1"), ("dlq.original.partition", b"2"),
             ("dlq.original.offset", b"17")]
    by_matching, by_feedback = copy(0, b"matching", where), copy(1, b"feedback", where)
    assert by_matching.id != by_feedback.id
    assert by_matching.original == by_feedback.original == "programs.v1/2/17"
    assert by_matching.message_id == by_feedback.message_id == "programs.v1/2/17"
    for unknown in ([], [("dlq.original.partition", b"two"), ("dlq.original.offset", b"17")]):
        letter = copy(5, b"matching", unknown)  # written by something else: it stands for itself
        assert letter.original is None and letter.message_id == letter.id
