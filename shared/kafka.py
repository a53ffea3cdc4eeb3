"""Kafka plumbing shared by services, the local stack and tests: producers, admin, topics."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts import topics

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all with idempotence: a publish counts only once every in-sync replica has it, and a
    # retried send cannot be written twice or out of order.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=30_000,
    )


async def ensure_topics(bootstrap_servers: str, names: list[str], *, partitions: int = DEFAULT_PARTITIONS,
                        replication_factor: int = 1, timeout: float = 60.0) -> None:
    """Create the topics that do not exist yet; waits for the broker to come up."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="tandem-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in missing]
                    )
                except TopicAlreadyExistsError:
                    pass
                await _wait_for_leaders(admin, missing, deadline)
            return
        except Exception as exc:  # broker not up yet
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"could not create topics on {bootstrap_servers}: {exc}") from exc
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    """A new topic takes a moment to elect partition leaders; clients that come earlier only retry."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        described = await admin.describe_topics(names)
        if all(t.get("error_code", 0) == 0 and t.get("partitions")
               and all(p.get("leader", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.1)


def all_topic_names(prefix: str = "") -> list[str]:
    return [prefix + name for name in topics.all_with_dead_letters()]
