"""The generic text scrub of an erasure (shared/erasure.py): every case of a name is replaced,
also where lower-casing changes a string's length ("İ"), and names escaped for HTML."""

from __future__ import annotations

import pytest

from shared.db import create_pool
from shared.erasure import _ireplace, scrub, variants
from shared.people import ERASED_NAME


@pytest.mark.parametrize(("text", "old", "expected"), [
    ("Dear İlkay Gündoğan, welcome", "İlkay Gündoğan", "Dear X, welcome"),
    # "İ" lower-cases to two characters: an earlier one must not shift where the name is found.
    ("İİİ İstanbul: Ana Souza and ANA SOUZA", "ana souza", "İİİ İstanbul: X and X"),
    ("İlkay and ilkay and ILKAY", "İlkay", "X and X and X"),
    ("山田 太郎さん、こんにちは", "山田 太郎", "Xさん、こんにちは"),
    ("Cavalcanti, Maria (mentor)", "Cavalcanti, Maria", "X (mentor)"),
    ("no one here", "Ana", "no one here"),
    (r"a.b*c \1", r"a.b*c \1", "X"),  # the name is text, not a pattern; the replacement is taken as is
])
def test_ireplace(text, old, expected):
    assert _ireplace(text, old, "X") == expected


def test_variants_add_the_html_escaped_forms():
    assert variants(("Seán O'Brien & Co", "", "ana@example.com")) == [
        "Seán O'Brien & Co", "Seán O&#x27;Brien &amp; Co", "Seán O'Brien &amp; Co", "ana@example.com"]


@pytest.mark.integration
async def test_scrub_replaces_in_text_json_and_arrays_and_html(database_url):
    pool = await create_pool(database_url, "scrubbed")
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS scrubbed")
            await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text, html text, data jsonb, tags text[])")
            await conn.execute(
                "INSERT INTO notes VALUES (1, $1, $2, $3, $4), (2, 'untouched', '', '{}', '{}')",
                "İİ from İlkay O'Brien-Gündoğan", "<p>İlkay O&#x27;Brien-Gündoğan</p>",
                {"to": "ILKAY O'BRIEN-GÜNDOĞAN <ilkay@example.com>"}, ["İlkay O'Brien-Gündoğan"])
            changed = await scrub(conn, ("İlkay O'Brien-Gündoğan", "ilkay@example.com"))
            row = await conn.fetchrow("SELECT body, html, data, tags FROM notes WHERE id = 1")
        assert changed == 1
        assert row["body"] == f"İİ from {ERASED_NAME}"
        assert row["html"] == f"<p>{ERASED_NAME}</p>"
        assert row["tags"] == [ERASED_NAME]
        assert "ilkay" not in str(row["data"]).lower() and "gündoğan" not in str(row["data"]).lower()
    finally:
        await pool.close()
