"""`tandem dlq list [--topic T] [--since ISO]` and `tandem dlq replay --topic T [--id EVENT_ID ...]`.

`list` shows each dead letter with its reason, the service that gave up, and the original topic,
partition and offset. `replay` puts the original messages back on their topic once the cause is
fixed; replaying twice is harmless, since consumers skip events they already applied.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

from tandem.cli import BROKER_HELP, CliError, broker_from_environment


def register(sub) -> None:
    p = sub.add_parser("dlq", help="list or replay dead letters")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every dead letter, with its reason and origin")
    listing.add_argument("--topic", help="only the dead letters of this original topic, e.g. participants.v1")
    listing.add_argument("--since", help="only those that failed at or after this ISO time, e.g. 2027-01-04T08:00Z")
    replaying = actions.add_parser("replay", help="publish dead letters again on their original topic")
    replaying.add_argument("--topic", required=True, help="the original topic, e.g. match-requests.v1")
    replaying.add_argument("--id", dest="ids", nargs="+", metavar="EVENT_ID", help="only these events (default: all)")
    replaying.add_argument("--since", help="only those that failed at or after this ISO time")
    for command in (listing, replaying):
        command.add_argument("--bootstrap-servers", default=broker_from_environment(), help=BROKER_HELP)
        command.add_argument("--prefix", default=os.environ.get("TANDEM_TOPIC_PREFIX", ""))
        command.set_defaults(func=run)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r} is not an ISO time such as 2027-01-04T08:00:00+00:00") from None
    if moment.tzinfo is None:
        raise CliError(f"--since {text!r} has no time zone; add Z or an offset such as +01:00")
    return moment


def run(args) -> int:
    from aiokafka.errors import KafkaError

    from shared.contracts import topics
    from tandem import dlq

    since = _since(args.since)
    if not args.bootstrap_servers:
        raise CliError("no broker: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers")
    if args.topic is not None and args.topic not in topics.ALL:
        raise CliError(f"unknown topic {args.topic!r}; topics are: {', '.join(topics.ALL)}")
    try:
        letters = asyncio.run(asyncio.wait_for(dlq.read_letters(
            args.bootstrap_servers, args.prefix, [args.topic] if args.topic else None, since), 60))
    except (TimeoutError, OSError, KafkaError) as exc:
        raise CliError(f"cannot read the dead letters from {args.bootstrap_servers}: {exc!r}") from exc
    if args.action == "list":
        for letter in letters:
            print(f"{letter.failed_at.isoformat()}\t{letter.service}\t{letter.topic}[{letter.original_partition}]"
                  f"@{letter.original_offset}\t{letter.event_type or '-'}\t{letter.event_id or '-'}\t"
                  f"{letter.error_type}\t{letter.reason}")
        print(f"{len(letters)} dead letters", flush=True)
        return 0
    if args.ids:
        chosen = [letter for letter in letters if letter.event_id in set(args.ids)]
        missing = set(args.ids) - {letter.event_id for letter in chosen}
        if missing:
            raise CliError(f"no dead letter of {args.topic} with id {sorted(missing)[0]!r} (see `tandem dlq list`)")
    else:
        chosen = letters
    try:
        replayed = asyncio.run(dlq.replay(args.bootstrap_servers, chosen, args.prefix))
    except (OSError, KafkaError) as exc:
        raise CliError(f"cannot replay onto {args.bootstrap_servers}: {exc!r}") from exc
    print(f"replayed {replayed} dead letters onto {args.topic}")
    return 0
