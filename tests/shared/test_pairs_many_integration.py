"""The pairs replica's set-wise reads and writes give what the one-pair calls give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import replica
from shared.people import Pair
from tests.shared.test_waves_integration import replica_database

pytestmark = pytest.mark.integration
AT = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)


def pair(n: int, **changes) -> Pair:
    fields = dict(relationship_id=f"rel-{n}", program_id="prog-1", mentor_id=f"m-{n % 2}", mentee_id=f"e-{n}",
                  established_at=AT, goals=("negotiation", "İlkay's \"goal\"") if n % 2 else ())
    return Pair(**{**fields, **changes})


async def test_add_many_stores_what_add_stores_and_tells_which_were_new(database_url):
    async with replica_database(database_url) as one, replica_database(database_url) as many:
        async with one.acquire() as conn:
            directory = replica.PairDirectory(conn)
            assert [await directory.add(pair(n)) for n in (1, 2, 1, 3)] == [True, True, False, True]
        async with many.acquire() as conn:
            directory = replica.PairDirectory(conn)
            assert await directory.add_many([pair(1), pair(2)]) == {"rel-1", "rel-2"}
            assert await directory.add_many([pair(1, mentor_id="other"), pair(3)]) == {"rel-3"}
            found = await directory.many(["rel-1", "rel-3", "rel-9"], lock=True)
        assert set(found) == {"rel-1", "rel-3"} and found["rel-1"] == pair(1)
        rows = "SELECT * FROM pairs ORDER BY relationship_id"
        assert [dict(r) for r in await many.fetch(rows)] == [dict(r) for r in await one.fetch(rows)]
