"""The right to be forgotten, the part every service shares: after `participant.erased`, the
person's name and address are replaced wherever a service stored them in text (messages about
them, invites, digests, free-text answers), in every table of its schema.

The replica row itself is overwritten by `shared.replica.forget` (only pseudonymous fields stay);
outbox rows lose their content once published (`shared.outbox`); the inbox holds only ids. What
was already published on Kafka cannot be recalled: docs/privacy.md says what retention to set.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import asyncpg

from shared.people import ERASED_NAME

# Tables whose personal content is handled elsewhere (the replica, ids only, or the content is
# dropped on publish) or that hold no text about people.
_SKIP = {"participants", "inbox", "outbox", "schema_migrations"}
_TEXT_TYPES = {"text", "character varying", "jsonb", "json", "ARRAY"}


async def scrub(conn: asyncpg.Connection, strings: tuple[str, ...], replacement: str = ERASED_NAME) -> int:
    """Replace each of `strings` in every text, text[] and JSON column of this schema's tables;
    returns how many rows changed. A full scan per erasure: erasures are rare, and it must not miss."""
    wanted = variants(strings)
    if not wanted:
        return 0
    columns = await conn.fetch(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"""
    )
    by_table: dict[str, list[tuple[str, str]]] = {}
    for c in columns:
        if c["table_name"] not in _SKIP and c["data_type"] in _TEXT_TYPES:
            by_table.setdefault(c["table_name"], []).append((c["column_name"], c["data_type"]))
    patterns = [f"%{_like_escape(s)}%" for s in wanted]
    changed = 0
    for table, cols in by_table.items():
        keys = await _primary_key(conn, table)
        if not keys:
            continue
        found = " OR ".join(f"{_q(c)}::text ILIKE ANY($1::text[])" for c, _ in cols)
        rows = await conn.fetch(
            f"SELECT {', '.join(map(_q, keys + [c for c, _ in cols]))} FROM {_q(table)} WHERE {found}", patterns
        )
        for row in rows:
            updates = {c: _replace(row[c], kind, wanted, replacement) for c, kind in cols}
            updates = {c: v for c, v in updates.items() if v != row[c]}
            if not updates:
                continue
            sets = ", ".join(f"{_q(c)} = ${i + 1}" for i, c in enumerate(updates))
            where = " AND ".join(f"{_q(k)} = ${len(updates) + i + 1}" for i, k in enumerate(keys))
            await conn.execute(
                f"UPDATE {_q(table)} SET {sets} WHERE {where}", *updates.values(), *(row[k] for k in keys)
            )
            changed += 1
    return changed


def _replace(value: Any, kind: str, wanted: list[str], replacement: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        for s in wanted:
            value = _ireplace(value, s, replacement)
        return value
    if isinstance(value, list):
        return [_replace(v, kind, wanted, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, kind, wanted, replacement) for k, v in value.items()}
    if kind in ("json", "jsonb") and isinstance(value, (bytes, bytearray)):
        return _replace(json.loads(value), kind, wanted, replacement)
    return value


def _ireplace(text: str, old: str, new: str) -> str:
    """Every occurrence of `old` in `text`, whatever its case, replaced by `new`. Matched in the
    text itself (a case-insensitive pattern), not in a lower-cased copy: lower-casing can change a
    string's length ("İ" becomes "i" and a combining dot), which would shift every position after it."""
    return re.sub(re.escape(old), lambda _: new, text, flags=re.IGNORECASE)


def variants(strings: tuple[str, ...] | list[str]) -> list[str]:
    """Each string as stored text may hold it: as given, and escaped for HTML (an "O'Brien" in a
    mail's HTML part is "O&#x27;Brien"). Calendar files and attachments are not searched for:
    their owners rebuild or delete them (they fold and escape text in ways no replacement finds)."""
    found: dict[str, None] = {}
    for s in strings:
        if s:
            found.setdefault(s, None)
            found.setdefault(html.escape(s), None)
            found.setdefault(html.escape(s, quote=False), None)
    return list(found)


async def _primary_key(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT a.attname FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND i.indisprimary""",
        table,
    )
    return [r["attname"] for r in rows]


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
