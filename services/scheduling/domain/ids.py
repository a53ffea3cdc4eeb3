"""Name-based (version 5) UUIDs as text: exactly `str(uuid.uuid5(namespace, name))`, without building
a `UUID` object on the way (four are made for every meeting planned: meeting, invite, 2 reminders)."""

from __future__ import annotations

import hashlib
import uuid


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """RFC 4122 4.3: SHA-1 of the namespace's bytes and the name's UTF-8, cut to 16 bytes, with the
    version (5) and variant bits set."""
    raw = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"
