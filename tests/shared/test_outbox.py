"""The outbox relay on a real PostgreSQL and Apache Kafka, with failures injected into its sends:
a partly failed batch keeps what it published, a key's events never overtake each other, and a
record Kafka refuses for good blocks its key (visibly) until an operator retries or skips it."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest
from aiokafka.errors import KafkaTimeoutError

from shared import metrics
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from shared.db import create_pool, migrate
from shared.kafka import make_producer
from shared.outbox import OutboxRelay, failed_events, skip_failed
from shared.unit_of_work import unit_of_work
from tandem.client import Watcher

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "plumbing_migrations"


class FlakyProducer:
    """The real producer, except that chosen events fail the first time(s) they are sent, and with
    them the record batch they are sent in (a broker stores or refuses a batch whole)."""

    def __init__(self, producer, failures: dict[str, int]) -> None:
        self.producer, self.failures, self.sent = producer, failures, []

    def _fails(self, milestones: list[str]) -> asyncio.Future | None:
        self.sent.append(milestones)
        failing = [m for m in milestones if self.failures.get(m, 0) > 0]
        for milestone in failing:
            self.failures[milestone] -= 1
        if not failing:
            return None
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(KafkaTimeoutError())
        return failed

    async def send(self, topic, value, key=None, headers=None):
        failed = self._fails([json.loads(value)["data"]["milestone"]])
        return failed or await self.producer.send(topic, value=value, key=key, headers=headers)

    def create_batch(self):
        return RecordedBatch(self.producer.create_batch())

    async def partitions_for(self, topic):
        return await self.producer.partitions_for(topic)

    async def send_batch(self, batch, topic, *, partition):
        failed = self._fails(batch.milestones)
        return failed or await self.producer.send_batch(batch.batch, topic, partition=partition)


class RecordedBatch:
    """A record batch that remembers the milestones appended to it."""

    def __init__(self, batch) -> None:
        self.batch, self.milestones = batch, []

    def append(self, **record):
        appended = self.batch.append(**record)
        if appended is not None:
            self.milestones.append(json.loads(record["value"])["data"]["milestone"])
        return appended

    def close(self) -> None:
        self.batch.close()


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "plumbing")
    await migrate(pool, "plumbing", MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
async def producer(bootstrap_servers):
    producer = make_producer(bootstrap_servers, "outbox-test")
    await producer.start()
    yield producer
    await producer.stop()


async def commit(pool, *items: tuple[str, str]) -> None:
    """One transaction emitting milestone events: (relationship_id = the key, milestone = a label)."""
    async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing") as uow:
        for key, label in items:
            uow.emit(ev.MilestoneAchieved(relationship_id=key, participant_id="p", milestone=label))


def relay(pool, producer, database_url, topic_prefix, batch_size=100) -> OutboxRelay:
    return OutboxRelay(pool, producer, database_url=database_url, service="outbox-test", schema="plumbing",
                       topic_prefix=topic_prefix, batch_size=batch_size, poll_seconds=0.1)


async def published_counts(pool) -> dict[tuple[str, str], int]:
    return {(r["topic"], r["event_type"]): r["events"]
            for r in await pool.fetch("SELECT topic, event_type, events FROM outbox_published")}


def order_by_key(watcher: Watcher) -> dict[str, list[str]]:
    """Each key's milestones in the order they first reached the topic (a repeat is a duplicate)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for o in watcher.of_type("milestone.achieved"):
        if o.data["milestone"] not in seen[o.key]:
            seen[o.key].append(o.data["milestone"])
    return seen


async def test_a_partly_failed_batch_keeps_what_it_published_and_no_key_is_reordered(
        pool, producer, database_url, bootstrap_servers, topic_prefix):
    keys = ["a", "b", "c", "d"]
    await commit(pool, *[(k, f"{k}{i}") for i in range(5) for k in keys])  # interleaved, as commits come
    flaky = FlakyProducer(producer, {"b1": 1, "c0": 2, "d4": 1})
    outbox = relay(pool, flaky, database_url, topic_prefix)

    labels = {r["event_id"]: r["label"] for r in await pool.fetch(
        "SELECT event_id, convert_from(payload, 'UTF8')::jsonb->'data'->>'milestone' AS label FROM outbox")}
    taken, first = await outbox.publish_batch()
    assert taken == 20
    # Each key's five events went as one record batch: a's was stored; b's, c's and d's each held an
    # event that failed, and failed whole.
    assert flaky.sent == [[f"{k}{i}" for i in range(5)] for k in keys]
    rows = await pool.fetch("SELECT event_id, state FROM outbox")
    states = {labels[r["event_id"]]: r["state"] for r in rows}
    # What went out left the outbox (its content is not kept once sent) and is counted; a failed
    # batch's events, and everything after them in their key, are still pending.
    assert states == {f"{k}{i}": "pending" for k in ("b", "c", "d") for i in range(5)}
    assert await published_counts(pool) == {(topics.FEEDBACK, "milestone.achieved"): 5}
    assert len(first.published) == 5 and len(first.retry) == 3 and not first.failed

    async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as w:
        for _ in range(5):
            await outbox.publish_batch()
        await w.wait_for(lambda w: sum(map(len, order_by_key(w).values())) >= 20, 30, "every event")
    assert order_by_key(w) == {k: [f"{k}{i}" for i in range(5)] for k in keys}
    assert len(w.of_type("milestone.achieved")) == 20  # nothing sent twice
    assert await pool.fetch("SELECT state FROM outbox") == []
    assert await published_counts(pool) == {(topics.FEEDBACK, "milestone.achieved"): 20}


async def test_a_keys_many_events_go_a_record_batch_at_a_time_in_order(
        pool, producer, database_url, bootstrap_servers, topic_prefix):
    """A program's work is keyed by program: hundreds of events of a few keys in one relay batch. They
    go a record batch of a key at a time (one round trip for many), never one round trip each."""
    labels = [f"{k}-{i:03d}-" + "x" * 90 for i in range(150) for k in ("p1", "p2")]
    await commit(pool, *[(label[:2], label) for label in labels])
    flaky = FlakyProducer(producer, {})
    outbox = relay(pool, flaky, database_url, topic_prefix, batch_size=500)
    async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as w:
        taken, result = await outbox.publish_batch()
        assert taken == 300 and len(result.published) == 300 and not result.retry
        await w.wait_for(lambda w: len(w.of_type("milestone.achieved")) >= 300, 30, "every event")
    assert order_by_key(w) == {k: [label for label in labels if label.startswith(k)] for k in ("p1", "p2")}
    assert 2 * 3 <= len(flaky.sent) <= 2 * 20  # record batches of about 16 KiB: several events each
    assert all(len({m[:2] for m in batch}) == 1 for batch in flaky.sent)  # one key's events per batch


async def test_a_record_kafka_refuses_blocks_its_key_until_an_operator_skips_it(
        pool, producer, database_url, bootstrap_servers, topic_prefix):
    await commit(pool, ("a", "a0"), ("b", "b0"))
    # An event too large for its topic (1 MB at the broker): the contracts would refuse it, so it is
    # written as a buggy service would, straight into the outbox.
    huge = json.dumps({"type": "milestone.achieved", "data": {"milestone": "x" * 2_000_000}}).encode()
    await pool.execute("INSERT INTO outbox (event_id, topic, key, payload) VALUES ('too-big', $1, 'a', $2)",
                       topics.FEEDBACK, huge)
    await commit(pool, ("a", "a2"), ("b", "b1"))
    outbox = relay(pool, producer, database_url, topic_prefix)

    async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as w:
        await outbox.publish_batch()
        await outbox.publish_batch()  # the blocked event stays behind however often the relay runs
        await w.wait_for(lambda w: len(w.of_type("milestone.achieved")) >= 3, 30, "the unblocked events")
        assert sorted(o.data["milestone"] for o in w.of_type("milestone.achieved")) == ["a0", "b0", "b1"]
        assert metrics.OUTBOX_FAILED_NOW.labels("outbox-test")._value.get() == 1
        assert metrics.OUTBOX_BLOCKED.labels("outbox-test")._value.get() == 1

        async with pool.acquire() as conn:
            (refused,) = await failed_events(conn)
            assert "MessageSizeTooLarge" in refused["last_error"] and refused["key"] == "a"
            assert await skip_failed(conn, [refused["event_id"]]) == 1
        outbox._next_measure = 0
        await outbox.publish_batch()
        await w.wait_for(lambda w: len(w.of_type("milestone.achieved")) >= 4, 30, "the event behind it")
    assert [o.data["milestone"] for o in w.of_type("milestone.achieved") if o.key == "a"] == ["a0", "a2"]
    assert metrics.OUTBOX_BLOCKED.labels("outbox-test")._value.get() == 0


async def test_the_wake_up_listener_comes_back_after_its_connection_is_cut(database_url):
    """What a Postgres restart does to LISTEN: the server drops the connection. The relay must hear again."""
    from shared.loops import Wakeup, listen

    wake = Wakeup()
    task = asyncio.create_task(listen(database_url, "tandem_test_channel", wake, keepalive=0.2))
    admin = await create_pool(database_url, "public")
    try:
        async def listening() -> list:
            return await admin.fetch("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%tandem_test_channel%'")

        for _ in range(100):
            if await listening():
                break
            await asyncio.sleep(0.05)
        (first,) = await listening()
        await admin.execute("SELECT pg_terminate_backend($1)", first["pid"])
        for _ in range(200):
            found = await listening()
            if found and found[0]["pid"] != first["pid"]:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the listener did not reconnect")
        wake.clear()
        await admin.execute("NOTIFY tandem_test_channel")
        await asyncio.wait_for(wake.wait(5), 6)
        assert wake._event.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await admin.close()


async def test_a_record_the_broker_refuses_does_not_jam_the_partition_for_the_rest(
        pool, database_url, bootstrap_servers):
    """A refusal by the broker leaves the idempotent producer's sequence out of step; the relay
    starts a new producer, and the events behind it on that partition still go out."""
    import uuid

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    prefix = f"small{uuid.uuid4().hex[:6]}."
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(prefix + topics.FEEDBACK, num_partitions=1, replication_factor=1,
                                            topic_configs={"max.message.bytes": "20000"})])
    finally:
        await admin.close()

    started = []

    async def new_producer():
        producer = make_producer(bootstrap_servers, "outbox-test-relay")
        await producer.start()
        started.append(producer)
        return producer

    outbox = OutboxRelay(pool, await new_producer(), database_url=database_url, service="outbox-test",
                         schema="plumbing", topic_prefix=prefix, batch_size=100, new_producer=new_producer)
    await commit(pool, ("a", "a0"))
    await outbox.step()  # the broker now knows this producer's sequence on the partition
    big = json.dumps({"type": "milestone.achieved", "data": {"milestone": "x" * 60_000}}).encode()
    await pool.execute("INSERT INTO outbox (event_id, topic, key, payload) VALUES ('over-topic-limit', $1, 'a', $2)",
                       topics.FEEDBACK, big)
    await outbox.step()  # the broker refuses it: failed, and the producer's sequence is now out of step
    await commit(pool, ("b", "b0"), ("c", "c0"))  # other keys, the same (only) partition
    async with Watcher(bootstrap_servers, [topics.FEEDBACK], prefix) as w:
        for _ in range(6):
            try:
                await outbox.step()
            except Exception:
                await asyncio.sleep(0.2)
        await w.wait_for(lambda w: {"a0", "b0", "c0"} <= {o.data.get("milestone") for o in w.seen}, 30,
                         "the events behind the refused one")
    await outbox.producer.stop()
    states = {r["event_id"]: r["state"] for r in await pool.fetch("SELECT event_id, state FROM outbox")}
    assert states == {"over-topic-limit": "failed"}  # the rest went out, and left
    assert await published_counts(pool) == {(topics.FEEDBACK, "milestone.achieved"): 3}
    assert len(started) == 2  # the jammed producer was replaced once


async def test_a_commit_wakes_the_relay_in_its_own_process_and_notifies_only_without_one(pool, database_url):
    """With a relay in the process the commit wakes it directly (no NOTIFY round trip); a process
    without one (a tool, `tandem outbox`) still wakes the relays elsewhere by NOTIFY."""
    from shared.loops import Wakeup
    from shared.unit_of_work import outbox_channel

    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(outbox_channel("plumbing"), lambda *_: heard.put_nowait("notify"))
    try:
        wake = Wakeup()
        async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing",
                                wake_relay=wake.set) as uow:
            uow.emit(ev.MilestoneAchieved(relationship_id="a", participant_id="p", milestone="in-process"))
            assert not wake._event.is_set()  # not before the commit
        assert wake._event.is_set()
        wake.clear()
        async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing",
                                wake_relay=wake.set):
            pass  # nothing emitted: nothing to wake
        assert not wake._event.is_set()
        await commit(pool, ("a", "elsewhere"))  # no relay given: NOTIFY
        # Notifications arrive in commit order: had the first commit notified, it would come first.
        await asyncio.wait_for(heard.get(), 10)
        await listener.fetchval("SELECT 1")  # a round trip: anything else sent has arrived by now
        assert heard.empty()
    finally:
        await listener.close()


async def test_a_relay_that_finds_another_replica_publishing_looks_again_shortly(
        pool, producer, database_url, bootstrap_servers, topic_prefix):
    """The other replica's relay may have read its batch before this process's commit, and nothing
    wakes it for that commit: the relay that lost the lock race tries again within a moment."""
    from shared.outbox import BUSY_RETRY_SECONDS

    outbox = relay(pool, producer, database_url, topic_prefix)
    await commit(pool, ("a", "a0"))
    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():  # another replica's relay, in the middle of its batch
            await other.execute("SELECT pg_advisory_xact_lock(hashtext('tandem.outbox.plumbing'))")
            assert (await outbox.step()).due_in == BUSY_RETRY_SECONDS
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'") == 1
    finally:
        await other.close()
    async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as w:
        assert (await outbox.step()).due_in is None  # the lock is free: published, then the usual poll
        await w.wait_for(lambda w: w.of_type("milestone.achieved"), 30, "the event")
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


@pytest.mark.parametrize("emitted", [2, 7, 45])  # a multi-row INSERT below COPY_FROM, and COPY above it
async def test_a_transactions_events_reach_the_outbox_whole_and_in_the_order_emitted(pool, emitted):
    """However many a transaction emits, each row holds its event as emitted (id, topic, key,
    payload, headers), and their ids follow the emit order, which the relay publishes a key in."""
    async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing") as uow:
        sent = [uow.emit(ev.MilestoneAchieved(relationship_id=f"k{i % 3}", participant_id="p", milestone=f"m{i}"))
                for i in range(emitted)]
    rows = await pool.fetch("SELECT event_id, topic, key, payload, headers FROM outbox ORDER BY id")
    assert [r["event_id"] for r in rows] == [s.id for s in sent]
    assert [r["key"] for r in rows] == [s.key for s in sent]
    assert [r["topic"] for r in rows] == [s.topic for s in sent]
    assert [json.loads(r["payload"])["data"]["milestone"] for r in rows] == [f"m{i}" for i in range(emitted)]
    assert all(r["headers"]["ce_type"] == "milestone.achieved" for r in rows)
