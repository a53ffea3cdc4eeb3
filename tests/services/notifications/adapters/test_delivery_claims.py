"""Claiming due deliveries in bulk on a real PostgreSQL: replicas take disjoint sets (SKIP LOCKED), an
endpoint gets no more than its room, and one with none is not even looked at."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.repository import MAIL_SERVER, DeliveryRepository
from services.notifications.domain.delivery import Delivery
from services.notifications.entrypoints.app import MIGRATIONS
from shared.db import create_pool, migrate
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def delivery(did: str, address: str, *, channel: str = "webhook", minutes_ago: int = 1) -> Delivery:
    return Delivery(delivery_id=did, recipient_id=f"r-{did}", channel=channel, template="reminder_due",
                    language="en", cause_event_id="e1", cause_type="reminder.due", address=address, subject="s",
                    body="b", not_before=NOW - timedelta(minutes=minutes_ago))


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "notifications", size=4)
    await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    yield pool
    await pool.close()


async def add(pool, *deliveries: Delivery) -> None:
    async with pool.acquire() as conn:
        for d in deliveries:
            assert await DeliveryRepository(conn).add(d)


async def test_endpoints_are_the_mail_server_or_a_webhooks_host_and_port(pool):
    await add(pool, delivery("m", "ana@example.com", channel="email"),
              delivery("a", "https://Hooks.Slack.com/services/T0/B0/x"),
              delivery("b", "https://user:pw@chat.example:8443/hook?x=1"),
              delivery("c", "http://127.0.0.1:9001"))
    async with pool.acquire() as conn, conn.transaction():
        found, more = await DeliveryRepository(conn).lock_due(NOW, 10, room={}, default_room=4)
    assert not more  # it saw all there is
    assert {d.delivery_id: e for d, e in found} == {"m": MAIL_SERVER, "a": "hooks.slack.com",
                                                     "b": "chat.example:8443", "c": "127.0.0.1:9001"}


async def test_each_endpoint_gets_its_room_and_a_full_one_does_not_hide_the_others(pool):
    # The oldest work is all for one endpoint: more than the candidates one pass looks at.
    await add(pool, *[delivery(f"slow{i}", f"https://slow.example/{i}", minutes_ago=100 - i) for i in range(50)])
    await add(pool, delivery("fast", "https://fast.example/hook"), delivery("mail", "x@example.com", channel="email"))
    async with pool.acquire() as conn, conn.transaction():
        found, more = await DeliveryRepository(conn).lock_due(NOW, 8, room={MAIL_SERVER: 8}, default_room=2)
    # Two for its endpoint, the rest of the webhooks unseen; mail is looked for apart, never hidden.
    assert [d.delivery_id for d, _ in found] == ["slow0", "slow1", "mail"]
    assert more  # the look for webhooks was cut short: the next pass looks again at once
    async with pool.acquire() as conn, conn.transaction():
        found, more = await DeliveryRepository(conn).lock_due(NOW, 8, room={"slow.example": 0, MAIL_SERVER: 8},
                                                              default_room=2)
    assert sorted(d.delivery_id for d, _ in found) == ["fast", "mail"] and not more
    # A full mail server: only webhooks are looked at (by their own index), a mail backlog never.
    async with pool.acquire() as conn, conn.transaction():
        found, _ = await DeliveryRepository(conn).lock_due(NOW, 8, room={"slow.example": 0, MAIL_SERVER: 0},
                                                           default_room=2)
    assert [d.delivery_id for d, _ in found] == ["fast"]


async def test_a_backlog_of_mail_fills_the_mail_servers_room_and_asks_for_no_other_pass(pool):
    await add(pool, *[delivery(f"m{i:02}", f"p{i}@example.com", channel="email", minutes_ago=60 - i)
                      for i in range(40)])
    await add(pool, delivery("hook", "https://chat.example/hook"))
    async with pool.acquire() as conn, conn.transaction():
        found, more = await DeliveryRepository(conn).lock_due(NOW, 32, room={MAIL_SERVER: 8}, default_room=4)
    assert [d.delivery_id for d, _ in found] == [f"m{i:02}" for i in range(8)] + ["hook"] and not more


async def test_concurrent_claims_take_disjoint_sets_and_a_claim_is_saved_once(pool):
    await add(pool, *[delivery(f"d{i}", f"https://host{i}.example/hook") for i in range(10)])
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            taken, _ = await DeliveryRepository(first).lock_due(NOW, 6, room={}, default_room=4)
            async with second.transaction():  # another replica, while the first holds its rows
                others, _ = await DeliveryRepository(second).lock_due(NOW, 6, room={}, default_room=4)
                for d, _ in others:
                    d.claim(NOW)
                assert await DeliveryRepository(second).save_all(d for d, _ in others) == {
                    d.delivery_id for d, _ in others}
            for d, _ in taken:
                d.claim(NOW)
            saved = await DeliveryRepository(first).save_all(d for d, _ in taken)
    assert len(taken) == 6 and len(others) == 4
    assert not {d.delivery_id for d, _ in taken} & {d.delivery_id for d, _ in others}
    assert saved == {d.delivery_id for d, _ in taken}
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, attempts, version FROM deliveries")
        stale = taken[0][0]  # the same change again: the row is no longer at the version it came from
        assert await DeliveryRepository(conn).save_all([stale]) == set()
    assert {(r["status"], r["attempts"], r["version"]) for r in rows} == {("sending", 1, 1)}


async def test_two_replicas_claiming_at_once_never_share_a_delivery(pool):
    await add(pool, *[delivery(f"d{i}", f"https://host{i % 7}.example/{i}") for i in range(60)])

    async def replica() -> list[str]:
        mine = []
        while True:
            async with pool.acquire() as conn, conn.transaction():
                repo = DeliveryRepository(conn)
                due, _ = await repo.lock_due(NOW, 5, room={}, default_room=50)
                for d, _ in due:
                    d.claim(NOW)
                mine += await repo.save_all(d for d, _ in due)
            if not due:
                return mine
            await asyncio.sleep(0)

    one, other = await asyncio.gather(replica(), replica())
    assert sorted(one + other) == sorted(f"d{i}" for i in range(60))
