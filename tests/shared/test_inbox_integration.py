"""The inbox on a real PostgreSQL: a batch claimed in one statement, repeats, reused ids, and digests
written by the first encoding still recognised."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.db import create_pool, migrate
from shared.inbox import Claim, ReusedId, claim
from tests.shared.test_plumbing_integration import MIGRATIONS

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "plumbing", size=2)
    await migrate(pool, "plumbing", MIGRATIONS)
    yield pool
    await pool.close()


def first_encoding(event_type: str, data: dict) -> bytes:
    """The digest as the inbox wrote it before its encoding was versioned."""
    canonical = json.dumps([event_type, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()


async def test_a_batch_is_claimed_once_with_repeats_and_reused_ids_told_apart(pool):
    batch = [Claim("e-1", "feedback.submitted", {"rating": 4}), Claim("e-2", "feedback.submitted", {"rating": 5}),
             Claim("e-1", "feedback.submitted", {"rating": 4}),  # a repeat in the same batch
             Claim("e-1", "feedback.submitted", {"rating": 1})]  # the same id for another event
    async with pool.acquire() as conn, conn.transaction():
        first = await claim(conn, "t", batch)
    assert first[:3] == [True, True, False] and isinstance(first[3], ReusedId)
    async with pool.acquire() as conn, conn.transaction():
        again = await claim(conn, "t", batch + [Claim("e-3", "feedback.submitted", {"rating": 3})])
    assert again[:3] == [False, False, False] and isinstance(again[3], ReusedId) and again[4] is True
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 3


async def test_a_rolled_back_claim_leaves_nothing(pool):
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            assert await claim(conn, "t", [Claim("e-1", "x.y", {"n": 1})]) == [True]
            raise RuntimeError("the handler failed")
    async with pool.acquire() as conn:
        assert await claim(conn, "t", [Claim("e-1", "x.y", {"n": 1})]) == [True]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.text(min_size=1, max_size=8),
                            st.one_of(st.text(max_size=20), st.integers(-2**70, 2**70), st.booleans(), st.none(),
                                      st.lists(st.integers(0, 9), max_size=3)), max_size=5))
async def test_a_redelivery_of_an_event_claimed_under_the_first_encoding_is_a_duplicate(pool, data):
    """Events claimed before the digest was versioned come again (a rewind, a restart): still duplicates,
    and another event under their id is still refused."""
    event_id = f"old-{hashlib.sha1(repr(sorted(data.items())).encode()).hexdigest()}"
    await pool.execute("INSERT INTO inbox (topic, event_id, event_type, digest) VALUES ('t', $1, 'x.y', $2) "
                       "ON CONFLICT DO NOTHING", event_id, first_encoding("x.y", data))
    async with pool.acquire() as conn:
        (verdict,) = await claim(conn, "t", [Claim(event_id, "x.y", data)])
        (other,) = await claim(conn, "t", [Claim(event_id, "x.y", {**data, "extra": "different"})])
    assert verdict is False
    assert isinstance(other, ReusedId)


def test_the_digest_carries_its_version_and_a_dead_letter_is_fingerprinted_by_its_bytes():
    event = Claim("e-1", "x.y", {"b": 1, "a": "İlkay"})
    assert len(event.digest()) == 33 and event.digest()[:1] == b"\x02"
    assert event.digest() == Claim("e-1", "x.y", {"a": "İlkay", "b": 1}).digest()  # key order does not matter
    assert Claim("d-1", "dead.letter", None, b"\xff junk").digest() == hashlib.sha256(b"\xff junk").digest()
