"""The inbox: which consumed events have had their effect, claimed for a whole batch in one statement.

An event's id is claimed in the transaction that applies it; a redelivery finds it claimed and is
skipped. An id claimed before for a *different* event (another type or other data) is not a
redelivery: it is refused (`PermanentError`), because some sender reused an id.

"Different" is decided by a digest of the event's type and data. Its encoding is versioned: a digest
of today's encoding starts with its version byte (33 bytes); one of 32 bytes was written by the first
encoding (`json.dumps`, sorted keys). A redelivered event compares with a stored digest in the
stored digest's encoding, so changing the encoding never makes an old event look like a reused id.
(Data orjson cannot write, such as integers past 64 bits, is digested the first way still.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from shared.errors import PermanentError

DIGEST_VERSION = b"\x02"


@dataclass(frozen=True)
class Claim:
    """What the inbox is asked to claim for one event."""

    event_id: str
    event_type: str
    data: Mapping[str, Any] | None  # None: the digest is of the raw bytes (a dead letter)
    raw: bytes = b""

    def digest(self) -> bytes:
        if self.data is None:
            return hashlib.sha256(self.raw).digest()
        return self._versioned() or _first_encoding(self.event_type, self.data)

    def same_as(self, stored: bytes) -> bool:
        """Is `stored` (a digest in either encoding) this event's digest?"""
        if self.data is None:
            return stored == self.digest()
        if len(stored) == len(DIGEST_VERSION) + 32:
            return stored == self._versioned()
        return stored == _first_encoding(self.event_type, self.data)

    def _versioned(self) -> bytes | None:
        try:
            encoded = orjson.dumps([self.event_type, self.data], option=orjson.OPT_SORT_KEYS)
        except TypeError:  # what orjson does not write (integers past 64 bits): digested the first way
            return None
        return DIGEST_VERSION + hashlib.sha256(encoded).digest()


def _first_encoding(event_type: str, data: Mapping[str, Any]) -> bytes:
    canonical = json.dumps([event_type, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()


class ReusedId(PermanentError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event id {event_id} was used before for a different event; this one is not applied")


_CLAIM = """
INSERT INTO inbox (topic, event_id, event_type, digest)
SELECT $1, e, t, d FROM unnest($2::text[], $3::text[], $4::bytea[]) AS u(e, t, d)
ON CONFLICT DO NOTHING RETURNING event_id"""


async def claim(conn: asyncpg.Connection, topic: str, claims: Sequence[Claim]) -> list[bool | ReusedId]:
    """Claim the events of a batch, in order, in one statement (two when some were claimed before).

    For each: True to apply it, False for a redelivery (or a repeat within the batch), or a
    `ReusedId` to raise when its turn comes (the events before it are applied as usual)."""
    digests = [c.digest() for c in claims]
    fresh = {
        r[0]
        for r in await conn.fetch(_CLAIM, topic, [c.event_id for c in claims], [c.event_type for c in claims], digests)
    }
    seen: dict[str, bytes] = {}  # id -> digest of its first claim in this batch
    old_ids = [c.event_id for c in claims if c.event_id not in fresh]
    stored: dict[str, bytes] = {}
    if old_ids:
        stored = {
            r["event_id"]: bytes(r["digest"])
            for r in await conn.fetch(
                "SELECT event_id, digest FROM inbox WHERE topic = $1 AND event_id = ANY($2::text[])", topic, old_ids
            )
        }
    verdicts: list[bool | ReusedId] = []
    for c, digest in zip(claims, digests, strict=True):
        if c.event_id in seen:  # a repeat within the batch
            verdicts.append(False if seen[c.event_id] == digest else ReusedId(c.event_id))
        elif c.event_id in fresh:
            seen[c.event_id] = digest
            verdicts.append(True)
        else:
            before = stored.get(c.event_id)
            verdicts.append(False if before is None or c.same_as(before) else ReusedId(c.event_id))
    return verdicts
