"""Parking on a real PostgreSQL and Apache Kafka, with the matching service: requests for mentees
nobody knows yet wait aside while the valid work goes on; each is dead-lettered once, the consumer
never leaves its group, and a redelivery neither waits on them again nor dead-letters them twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.matching.entrypoints.app import build_service
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.kafka import DEFAULT_PARTITIONS
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
DLQ = topics.dlq(topics.MATCH_REQUESTS)
GHOSTS = [f"ghost-{i:02d}" for i in range(50)]
MENTEES = [f"mentee-{i:02d}" for i in range(10)]


def settings(database_url, bootstrap_servers, topic_prefix) -> MatchingSettings:
    # About ten seconds of waiting per unknown mentee (jittered), so the valid work is done long before.
    config = settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                          topic_prefix=topic_prefix, clock_start=START, max_deferrals=30)
    return config.model_copy(update={"retry_backoff_max_seconds": 1.0})


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(DEFAULT_PARTITIONS)]  # as the services create them


async def caught_up(bootstrap_servers: str, group: str, topic: str) -> bool:
    """The group's committed offsets reach the end of every partition: everything is settled."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        committed = [await consumer.committed(tp) or 0 for tp in partitions]
        return committed == [ends[tp] for tp in partitions]
    finally:
        await consumer.stop()


async def records_on(bootstrap_servers: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def rewind(bootstrap_servers: str, group: str, topic: str) -> None:
    """Commit offset 0 for the (stopped) group: every record is handed over again."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        consumer.assign(partitions)
        await consumer.commit({tp: 0 for tp in partitions})
    finally:
        await consumer.stop()


async def test_unknown_mentees_wait_aside_and_are_dead_lettered_once_each(database_url, bootstrap_servers,
                                                                         topic_prefix, caplog):
    caplog.set_level(logging.INFO)
    config = settings(database_url, bootstrap_servers, topic_prefix)
    group, topic = f"{topic_prefix}tandem-matching-{topics.MATCH_REQUESTS}", topic_prefix + topics.MATCH_REQUESTS
    async with Watcher(bootstrap_servers, [topics.MATCHES, DLQ], topic_prefix) as w:
        async with build_service(config).running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            for i in range(5):
                await pub.publish(onboarded(pid=f"mentor-{i}", roles=("mentor",), seniority=8, capacity=3,
                                            skills=("public speaking",)))
            for m in MENTEES:
                await pub.publish(onboarded(pid=m, seniority=2, goals=("public speaking",)))

            async def profiles():
                rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.participants")
                return rows[0]["n"] == 15
            await eventually(profiles, 30, "the profiles")
            # Five unknown mentees, then a valid request, and so on: every partition gets both.
            requests = []
            for i, ghost in enumerate(GHOSTS):
                requests.append(ev.MatchRequested(mentee_id=ghost, program_id="prog-1"))
                if i % 5 == 4:
                    requests.append(ev.MatchRequested(mentee_id=MENTEES[i // 5], program_id="prog-1"))
            await pub.publish_many(requests)

            await w.wait_for(lambda w: len(w.of_type("match.proposed")) == len(MENTEES), 60, "the valid work")
            assert not w.on_topic(DLQ), "the valid work waited for the unknown mentees"
            await w.wait_for(lambda w: len(w.on_topic(DLQ)) >= len(GHOSTS), 120, "the dead letters")
            await eventually(lambda: caught_up(bootstrap_servers, group, topic), 60, "offsets committed to the end")
            joined = [r for r in caplog.records if "assigned to partitions" in r.getMessage() and topic in r.getMessage()]
            revoked = [r for r in caplog.records if "partitions revoked" in r.getMessage()]
            assert len(joined) == 1 and not revoked, "the consumer left its group"

        assert await records_on(bootstrap_servers, topic_prefix + DLQ) == len(GHOSTS)
        letters = w.on_topic(DLQ)
        assert sorted(o.data["mentee_id"] for o in letters) == GHOSTS  # each once
        assert {o.headers["dlq.error"] for o in letters} == {
            f"still unknown after 30 attempts: no profile yet for {g}" for g in GHOSTS}
        assert sorted(o.data["mentee_id"] for o in w.of_type("match.proposed")) == MENTEES

        # Everything handed over again: nothing waits, nothing is dead-lettered or proposed twice.
        await rewind(bootstrap_servers, group, topic)
        assert not await caught_up(bootstrap_servers, group, topic)
        async with build_service(config).running():
            await eventually(lambda: caught_up(bootstrap_servers, group, topic), 60, "the redelivery settled")
        rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.dead_lettered")
        assert rows[0]["n"] == len(GHOSTS)
        assert await records_on(bootstrap_servers, topic_prefix + DLQ) == len(GHOSTS)
    assert len(w.on_topic(DLQ)) == len(GHOSTS)
    assert len(w.of_type("match.proposed")) == len(MENTEES)
