"""A rebalance on a real Apache Kafka and PostgreSQL: a batch fetched before the group rebalanced, and
taken after its partition came back to the same consumer, is not applied; the partition starts
again from the committed offset, so a record parked and forgotten at the revoke is neither lost nor
overtaken by the later records of its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.consumer import Limits, _Lot, _Rebalance
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.errors import NotYetKnown
from shared.service import Service
from shared.settings import ServiceSettings
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "plumbing_migrations"
LOG = [("a1", "a"), ("b1", "b"), ("c1", "c"), ("a2", "a"), ("b2", "b"), ("d1", "d")]  # a1 waits for its data


class Listener(_Rebalance):
    """The consumer's own listener, counting the assignments it has seen through."""

    def __init__(self, lot: _Lot, limits: Limits) -> None:
        super().__init__(lot, limits)
        self.assignments = 0

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await super().on_partitions_assigned(assigned)
        self.assignments += 1


def build(settings: ServiceSettings, known: set[str]) -> Service:
    async def on_feedback(data: ev.FeedbackSubmitted, uow, deps: set[str]) -> None:
        if data.feedback_id not in deps:
            raise NotYetKnown(f"{data.feedback_id} is not known yet")
        await uow.conn.execute("INSERT INTO notes (feedback_id, comment) VALUES ($1, $2)", data.feedback_id, "")

    return Service(
        name="plumbing",
        schema="plumbing",
        settings=settings,
        migrations=MIGRATIONS,
        subscriptions={ev.FeedbackSubmitted: on_feedback},
        deps=known,
    )


async def publish(bootstrap_servers: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for fid, key in LOG:
            data = ev.FeedbackSubmitted(feedback_id=fid, relationship_id=key, participant_id="p", rating=4)
            envelope = new_envelope(type="feedback.submitted", source="/t", data=data, time="2027-01-04T10:00:00Z")
            await producer.send_and_wait(topic, envelope.to_json(), key=key.encode(), partition=0)
    finally:
        await producer.stop()


async def getmany(kafka: AIOKafkaConsumer, tp: TopicPartition, count: int):
    batch = await kafka.getmany(tp, timeout_ms=10_000, max_records=count)
    return batch.get(tp, [])


async def test_a_batch_fetched_before_a_rebalance_is_not_applied_to_the_partition_given_back(
    database_url, bootstrap_servers, topic_prefix
):
    settings = settings_for(
        ServiceSettings,
        database_url=database_url,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        max_deferrals=10_000,
    )
    settings = settings.model_copy(update={"retry_backoff_max_seconds": 0.2})
    known: set[str] = {"b1", "c1", "a2", "b2", "d1"}
    service = build(settings, known)
    consumer, runtime = service.consumer, service.runtime
    topic = topic_prefix + topics.FEEDBACK_SUBMISSIONS
    tp, group = TopicPartition(topic, 0), f"{topic_prefix}rebalance"
    await publish(bootstrap_servers, topic)

    lot = _Lot(group)
    listener = Listener(lot, runtime.limits)
    kafka = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        heartbeat_interval_ms=100,
    )
    kafka.subscribe([topic], listener=listener)
    lot.kafka = kafka
    # A second member of the group, on another topic: its joining rebalances the group, and P0 comes back.
    other = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False, heartbeat_interval_ms=100
    )
    other.subscribe([topic_prefix + topics.MATCH_REQUESTS])
    await service._start_storage()
    await kafka.start()
    try:
        first = await getmany(kafka, tp, 3)
        assert [r.offset for r in first] == [0, 1, 2]
        await consumer._take(runtime, lot, {topics.FEEDBACK_SUBMISSIONS: first})  # a1 parked
        assert await kafka.committed(tp) == 0
        stale = await getmany(kafka, tp, 3)
        assert [r.offset for r in stale] == [3, 4, 5]

        await other.start()
        await eventually(
            lambda: _async(listener.assignments == 2 and tp in kafka.assignment()), 60, "the rebalance, P0 given back"
        )
        assert await kafka.position(tp) == 0  # fetched again from the committed offset
        await consumer._take(runtime, lot, {topics.FEEDBACK_SUBMISSIONS: stale})
        # Applied, it would have committed 6: a1, forgotten at the revoke, lost to the next restart.
        assert await kafka.committed(tp) == 0
        notes = await fetch(database_url, "SELECT feedback_id FROM plumbing.notes")
        assert sorted(n["feedback_id"] for n in notes) == ["b1", "c1"]

        taken = 0
        while taken < len(LOG):  # what the position brings again
            batch = await getmany(kafka, tp, len(LOG))
            await consumer._take(runtime, lot, {topics.FEEDBACK_SUBMISSIONS: batch})
            taken += len(batch)
        assert await kafka.committed(tp) == 0
        known.add("a1")
        await eventually(lambda: committed_to(kafka, tp, 6), 30, "the commit past every record")
        notes = await fetch(database_url, "SELECT feedback_id FROM plumbing.notes ORDER BY applied_at, feedback_id")
        order = [n["feedback_id"] for n in notes]
        assert sorted(order) == sorted(fid for fid, _ in LOG)  # none lost, none twice
        assert order.index("a1") < order.index("a2")  # a's order kept
    finally:
        await consumer.close()
        if lot.worker is not None:
            lot.worker.cancel()
        await other.stop()
        await kafka.stop()
        await service._stop()


async def committed_to(kafka: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    return await kafka.committed(tp) == offset


async def _async(value):
    return value
