"""`tandem topics`: create every topic and its dead-letter twin on the configured broker, each with
its retention (shared/retention.py), and bring the retention of topics that already exist to the
same (idempotent)."""

from __future__ import annotations

import asyncio
import os

from tandem.cli import BROKER_HELP, CliError, broker_from_environment


def register(sub) -> None:
    p = sub.add_parser("topics", help="create all topics and dead-letter topics on KAFKA_BOOTSTRAP_SERVERS, "
                                        "and set every topic's retention")
    p.add_argument("--bootstrap-servers", default=broker_from_environment(), help=BROKER_HELP)
    p.add_argument("--prefix", default=os.environ.get("TANDEM_TOPIC_PREFIX", ""))
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication-factor", type=int, default=1)
    p.set_defaults(func=run)


def run(args) -> int:
    from shared.kafka import all_topic_names, ensure_topics
    from shared.retention import topic_retention

    if not args.bootstrap_servers:
        raise CliError("no broker: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers")
    if args.partitions < 1 or args.replication_factor < 1:
        raise CliError("--partitions and --replication-factor must be at least 1")
    names = all_topic_names(args.prefix)
    try:
        changed = asyncio.run(ensure_topics(args.bootstrap_servers, names, partitions=args.partitions,
                                            replication_factor=args.replication_factor))
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    for name in changed:
        print(f"{name}: retention set to {topic_retention(name.removeprefix(args.prefix)).days} days")
    print(f"{len(names)} topics ready on {args.bootstrap_servers}")
    return 0
