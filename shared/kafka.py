"""Kafka plumbing shared by services, the local stack and tests: producers, admin, topics."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from shared import retention
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


def make_producer(
    bootstrap_servers: str,
    client_id: str,
    *,
    max_request_size: int = DEAD_LETTER_MAX_BYTES,
    linger_ms: int = 5,
) -> AIOKafkaProducer:
    # acks=all with idempotence: a publish counts only once every in-sync replica has it, and a
    # retried send cannot be written twice or out of order.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        request_timeout_ms=30_000,
        max_request_size=max_request_size,  # each topic's own limit still applies at the broker
    )


async def ensure_topics(
    bootstrap_servers: str,
    names: list[str],
    *,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    timeout: float = 60.0,
) -> list[str]:
    """Create the topics that do not exist yet, with their configs (`topic_configs`: retention, size),
    and bring the configs of those that exist to the same; waits (up to `timeout` s) for the broker to
    come up. Returns the existing topics whose configs were changed."""
    deadline = asyncio.get_running_loop().time() + timeout
    changed: list[str] = []

    async def attempt() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="tandem-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                n,
                                num_partitions=partitions,
                                replication_factor=replication_factor,
                                topic_configs=topic_configs(n),
                            )
                            for n in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    pass
                await _wait_for_leaders(admin, missing, deadline)
            changed[:] = await _apply_configs(admin, [n for n in names if n in existing])
        finally:
            await admin.close()

    try:
        await call_until_available(f"topics on {bootstrap_servers}", attempt, maximum=2.0, give_up_after=timeout)
    except Exception as exc:
        raise RuntimeError(f"could not create or configure topics on {bootstrap_servers}: {exc!r}") from exc
    return changed


DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a value set on the topic itself


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, tuple[str | None, int]]]:
    """topic -> {config -> (value, source)}: what the broker applies to each topic, and where it comes from."""
    if not names:
        return {}
    found: dict[str, dict[str, tuple[str | None, int]]] = {}
    for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names]):
        for error_code, error_message, _kind, name, entries in response.resources:
            if error_code:
                raise for_code(error_code)(f"describing {name}: {error_message}")
            found[name] = {entry[0]: (entry[1], entry[3]) for entry in entries}
    return found


async def _apply_configs(admin: AIOKafkaAdminClient, names: list[str]) -> list[str]:
    """Set our configs on existing topics. AlterConfigs replaces a topic's whole set of overrides, so
    the overrides an operator set on a topic (e.g. min.insync.replicas) are sent along, unchanged."""
    wanted = {n: topic_configs(n) for n in names}
    current = await describe_topic_configs(admin, [n for n, configs in wanted.items() if configs])
    changes = []
    for name, configs in current.items():
        # Set on the topic itself, not inherited: a broker's default may change under it later.
        if all(configs.get(key) == (value, DYNAMIC_TOPIC_CONFIG) for key, value in wanted[name].items()):
            continue
        overrides = {key: value for key, (value, source) in configs.items() if source == DYNAMIC_TOPIC_CONFIG}
        if any(value is None for value in overrides.values()):  # a secret override cannot be read back
            raise RuntimeError(
                f"{name} has a sensitive topic-level config that would be lost; set "
                f"{', '.join(wanted[name])} on it with kafka-configs.sh instead"
            )
        changes.append(ConfigResource(ConfigResourceType.TOPIC, name, overrides | wanted[name]))
    if changes:
        for response in await admin.alter_configs(changes):
            for error_code, error_message, _kind, name in response.resources:
                if error_code:
                    raise for_code(error_code)(f"configuring {name}: {error_message}")
        log.info("topic configs brought up to date on %s", ", ".join(c.name for c in changes))
    return [c.name for c in changes]


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    """A new topic takes a moment to elect partition leaders; clients that come earlier only retry."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        described = await admin.describe_topics(names)
        if all(
            t.get("error_code", 0) == 0
            and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.1)


def topic_configs(name: str) -> dict[str, str]:
    """What a topic (a deployment's name: prefixed) is created and kept with: its retention and
    segment span (shared/retention.py, which the inboxes follow), and for a dead-letter topic a
    larger size limit."""
    configs: dict[str, str] = {}
    base = _known_topic(name)
    if base is not None:
        configs["retention.ms"] = str(retention.retention_ms(base))
        configs["segment.ms"] = str(retention.segment_ms())
    if name.endswith(topics.DLQ_SUFFIX):
        configs["max.message.bytes"] = str(DEAD_LETTER_MAX_BYTES)
    return configs


def _known_topic(name: str) -> str | None:
    """The catalogue's topic a prefixed name stands for (the longest one it ends with), if any."""
    known = [t for t in topics.all_with_dead_letters() if name.endswith(t)]
    return max(known, key=len) if known else None


def all_topic_names(prefix: str = "") -> list[str]:
    return [prefix + name for name in topics.all_with_dead_letters()]
