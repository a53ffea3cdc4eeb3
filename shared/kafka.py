"""Kafka plumbing shared by services, the local stack and tests: producers, admin, topics."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts import topics
from shared.retry import call_until_available

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
# A dead letter is the original message plus headers saying why: its topic takes more than the
# broker's 1 MB default, so a message that was just accepted always fits into its dead-letter topic.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024


# What the brokers take on an ordinary topic (Kafka's default `max.message.bytes`). The outbox relay
# refuses larger records itself, before they reach a broker: a record the broker refuses would
# leave the idempotent producer's sequence numbers out of step for the rest of that partition.
TOPIC_MAX_BYTES = 1024 * 1024


def make_producer(bootstrap_servers: str, client_id: str, *, max_request_size: int = DEAD_LETTER_MAX_BYTES) -> AIOKafkaProducer:
    # acks=all with idempotence: a publish counts only once every in-sync replica has it, and a
    # retried send cannot be written twice or out of order.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=30_000,
        max_request_size=max_request_size,  # each topic's own limit still applies at the broker
    )


async def ensure_topics(bootstrap_servers: str, names: list[str], *, partitions: int = DEFAULT_PARTITIONS,
                        replication_factor: int = 1, timeout: float = 60.0) -> None:
    """Create the topics that do not exist yet; waits (up to `timeout` s) for the broker to come up."""
    deadline = asyncio.get_running_loop().time() + timeout

    async def attempt() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="tandem-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                try:
                    await admin.create_topics([
                        NewTopic(n, num_partitions=partitions, replication_factor=replication_factor,
                                 topic_configs=_configs(n))
                        for n in missing])
                except TopicAlreadyExistsError:
                    pass
                await _wait_for_leaders(admin, missing, deadline)
        finally:
            await admin.close()

    try:
        await call_until_available(f"topics on {bootstrap_servers}", attempt, maximum=2.0, give_up_after=timeout)
    except Exception as exc:
        raise RuntimeError(f"could not create topics on {bootstrap_servers}: {exc!r}") from exc


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    """A new topic takes a moment to elect partition leaders; clients that come earlier only retry."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        described = await admin.describe_topics(names)
        if all(t.get("error_code", 0) == 0 and t.get("partitions")
               and all(p.get("leader", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.1)


def _configs(name: str) -> dict[str, str]:
    return {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)} if name.endswith(topics.DLQ_SUFFIX) else {}


def all_topic_names(prefix: str = "") -> list[str]:
    return [prefix + name for name in topics.all_with_dead_letters()]
