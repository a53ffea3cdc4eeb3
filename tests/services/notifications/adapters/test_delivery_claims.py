"""Claiming due deliveries in bulk on a real PostgreSQL: replicas take disjoint sets (SKIP LOCKED), an
endpoint gets no more than its room, and one with none is not even looked at. The delivery loop claims
in one statement (`claim_due`) and records outcomes with their events in one (`record_outcomes`),
outside a transaction: each is held here to what the aggregate and a transaction would leave."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.repository import MAIL_SERVER, DeliveryRepository
from services.notifications.adapters.senders import message_of
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.outgoing import Attachment
from services.notifications.entrypoints.app import MIGRATIONS
from services.notifications.service_layer.unit_of_work import one_statement_at_a_time
from shared.clock import ProgramClock
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


async def test_a_claim_in_one_statement_is_what_the_aggregate_claims_and_commits_on_its_own(pool):
    originals = {d.delivery_id: d for d in [
        *[delivery(f"m{i}", f"p{i}@example.com", channel="email", minutes_ago=10 - i) for i in range(3)],
        delivery("hook", "https://chat.example/hook"),
        delivery("later", "x@example.com", channel="email", minutes_ago=-5)]}
    await add(pool, *originals.values())
    async with pool.acquire() as conn:  # no transaction: the statement commits by itself
        claimed, more = await DeliveryRepository(conn).claim_due(NOW, 8, room={MAIL_SERVER: 2}, default_room=4)
    assert not more
    assert [(d.delivery_id, endpoint) for d, endpoint in claimed] == [("m0", MAIL_SERVER), ("m1", MAIL_SERVER),
                                                                      ("hook", "chat.example")]
    async with pool.acquire() as conn:  # another connection sees the claims: they are committed
        repo = DeliveryRepository(conn)
        for d, _ in claimed:
            reference = replace(originals[d.delivery_id])
            reference.claim(NOW)  # what the aggregate would have made of it
            assert d == reference == await repo.get(d.delivery_id)
        assert (await repo.get("m2")).status == "pending" and (await repo.get("later")).status == "pending"


async def test_two_replicas_claiming_in_one_statement_each_never_share_a_delivery(pool):
    await add(pool, *[delivery(f"d{i}", f"https://host{i % 7}.example/{i}") for i in range(60)])

    async def replica() -> list[str]:
        mine: list[str] = []
        while True:
            async with pool.acquire() as conn:
                claimed, _ = await DeliveryRepository(conn).claim_due(NOW, 5, room={}, default_room=50)
            mine += [d.delivery_id for d, _ in claimed]
            if not claimed:
                return mine
            await asyncio.sleep(0)

    one, other = await asyncio.gather(replica(), replica())
    assert sorted(one + other) == sorted(f"d{i}" for i in range(60))


async def test_outcomes_and_their_events_are_written_together_and_only_for_the_deliveries_saved(pool):
    await add(pool, *[delivery(f"d{i}", f"p{i}@example.com", channel="email") for i in range(3)])
    async with pool.acquire() as conn:
        claimed, _ = await DeliveryRepository(conn).claim_due(NOW, 8, room={}, default_room=8)
    (first, _), (second, _), (third, _) = sorted(claimed, key=lambda c: c[0].delivery_id)
    stale = replace(second)
    async with pool.acquire() as conn:  # another replica settled the second already
        second.claimed_at = NOW - timedelta(hours=1)
        second.interrupted(NOW, timedelta(minutes=2))
        assert await DeliveryRepository(conn).save_all([second]) == {"d1"}
    outcomes = [(first, first.delivered(NOW)), (stale, stale.fail("refused (550)")),
                (third, third.try_later("busy (451)", retry_at=NOW + timedelta(minutes=1), max_attempts=3))]
    async with one_statement_at_a_time(pool, source="/test", clock=ProgramClock(), schema="notifications") as uow:
        assert await uow.record_outcomes(outcomes) == {"d0", "d2"}
    async with pool.acquire() as conn:
        events = await conn.fetch("SELECT topic, key, payload FROM outbox ORDER BY id")
        states = dict(await conn.fetch("SELECT delivery_id, status FROM deliveries"))
    assert states == {"d0": "delivered", "d1": "failed", "d2": "pending"}
    (told,) = events  # the delivered one's; the stale failure was not saved, the retry tells nothing
    assert json.loads(told["payload"])["type"] == "notification.delivered"
    assert json.loads(told["payload"])["data"]["notification_id"] == "d0"


async def test_an_event_emitted_outside_a_transaction_is_refused_rather_than_lost(pool):
    await add(pool, delivery("d0", "p0@example.com", channel="email"))
    with pytest.raises(RuntimeError, match="outside a transaction"):
        async with one_statement_at_a_time(pool, source="/test", clock=ProgramClock(), schema="notifications") as uow:
            claimed, _ = await uow.deliveries.claim_due(NOW, 1, room={}, default_room=1)
            uow.emit(claimed[0][0].delivered(NOW))


async def test_a_claimed_mail_with_its_bytes_comes_back_with_them_alone_and_the_row_keeps_the_rest(pool):
    invite = Attachment("invite.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar; method=REQUEST")
    written = replace(delivery("w", "ana@example.com", channel="email"), html="<p>b</p>", attachment=invite,
                      mime=b"Date: x\r\nTo: ana@example.com\r\n\r\nbody\r\n")
    unwritten = replace(delivery("u", "bo@example.com", channel="email", minutes_ago=2), html="<p>c</p>",
                        attachment=invite)
    hook = delivery("h", "https://chat.example/hook", minutes_ago=3)
    await add(pool, written, unwritten, hook)
    async with pool.acquire() as conn:
        claimed, _ = await DeliveryRepository(conn).claim_due(NOW, 8, room={}, default_room=8)
    got = {d.delivery_id: d for d, _ in claimed}
    # Sent from its bytes: the text, HTML and attachment are not read back.
    assert message_of(got["w"]).mime == written.mime
    assert (got["w"].body, got["w"].html, got["w"].attachment) == ("", "", None)
    # Without bytes (written when sent) and a webhook: everything they are sent from.
    assert (got["u"].body, got["u"].html, got["u"].attachment, got["u"].mime) == ("b", "<p>c</p>", invite, None)
    assert (got["h"].body, got["h"].subject) == ("b", "s")
    # The row itself keeps them, for a mail whose bytes an erasure drops before it is sent again.
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT body, html, attachment FROM deliveries WHERE delivery_id = 'w'")
    assert (row["body"], row["html"], row["attachment"]["content"]) == ("b", "<p>b</p>", invite.content)
