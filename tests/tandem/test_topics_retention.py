"""`tandem topics` on a real Kafka: every topic gets its retention, on creation and when it exists
already without one, keeping the other overrides an operator set; the inboxes remember an event id
for longer than its topic keeps the event."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared import retention
from shared.contracts import topics
from shared.kafka import DEAD_LETTER_MAX_BYTES, DYNAMIC_TOPIC_CONFIG, all_topic_names, describe_topic_configs
from shared.purge import plumbing_rules
from tests.support.runtime import eventually


def test_every_inbox_outlives_its_topic():
    for name in topics.all_with_dead_letters():
        # A record lives at most its retention plus one segment's span (Kafka deletes whole segments).
        assert retention.inbox_keep(name) > retention.topic_retention(name) + retention.SEGMENT, name
        assert retention.inbox_keep(name) <= retention.longest_inbox_keep()
    assert retention.topic_retention(topics.PRIVACY) >= timedelta(days=365)  # the audit trail
    assert retention.topic_retention(topics.PARTICIPANTS) <= timedelta(days=7)  # profiles: forgotten soon


def test_the_inbox_purge_keeps_each_topic_for_its_inbox_time():
    """The purge's inbox rules come from the same table: each topic under exactly its inbox_keep."""
    keeps = {}
    for rule in plumbing_rules(timedelta(days=7)):
        if rule.table != "inbox" or "NOT IN" in rule.expired:
            continue
        for name in topics.all_with_dead_letters():
            if f"'{name}'" in rule.expired:
                keeps[name] = rule.keep
    assert keeps == {name: retention.inbox_keep(name) for name in topics.all_with_dead_letters()}


def tandem_topics(bootstrap_servers: str, prefix: str) -> str:
    result = subprocess.run([sys.executable, "-m", "tandem", "topics", "--bootstrap-servers", bootstrap_servers,
                             "--prefix", prefix], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.integration
async def test_tandem_topics_sets_each_retention_on_new_and_existing_topics(bootstrap_servers):
    prefix = f"r{uuid.uuid4().hex[:8]}."
    names = all_topic_names(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        # Topics as an earlier `tandem topics` made them: half of them exist with the broker's default
        # retention, one with an operator's own override.
        earlier = names[::2]
        await admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in earlier])
        tuned = prefix + topics.MEETINGS
        assert tuned in earlier
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, tuned, {"min.insync.replicas": "1",
                                                                                      "delete.retention.ms": "3600000"})])

        out = tandem_topics(bootstrap_servers, prefix)
        assert prefix + topics.PRIVACY in earlier and f"{prefix}{topics.PRIVACY}: retention set to 400 days" in out
        assert out.count("retention set") == len(earlier)  # the new ones were created with theirs
        assert f"{len(names)} topics ready" in out

        async def applied():  # the controller has them at once; the broker a moment later (KRaft)
            found = await describe_topic_configs(admin, names)
            return found if all(found[n]["retention.ms"][1] == DYNAMIC_TOPIC_CONFIG for n in names) else None
        configs = await eventually(applied, 30, "the configs on the broker")
        for name in names:
            base = name.removeprefix(prefix)
            assert configs[name]["retention.ms"] == (str(retention.retention_ms(base)), DYNAMIC_TOPIC_CONFIG), name
            assert configs[name]["segment.ms"] == (str(24 * 3600 * 1000), DYNAMIC_TOPIC_CONFIG), name
            if base.endswith(topics.DLQ_SUFFIX):
                assert configs[name]["max.message.bytes"][0] == str(DEAD_LETTER_MAX_BYTES)
        assert configs[prefix + topics.PRIVACY]["retention.ms"][0] == str(400 * 24 * 3600 * 1000)
        assert configs[tuned]["delete.retention.ms"][0] == "3600000"  # the operator's overrides stay
        assert configs[tuned]["min.insync.replicas"][0] == "1"

        again = tandem_topics(bootstrap_servers, prefix)
        assert "retention set" not in again  # nothing left to change
    finally:
        await admin.delete_topics(names)
        await admin.close()
