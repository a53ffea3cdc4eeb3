"""`tandem program configure --file program.json`: publish a program's settings on programs.v1.

The file is one JSON object in the `program.configured` contract (docs/events.md); it is checked
first, and a bad file stops with the field at fault and exit code 2, before anything is published.
The new settings replace the program's previous ones whole and apply to work not yet done.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tandem.cli import BROKER_HELP, CliError, broker_from_environment


def register(sub) -> None:
    p = sub.add_parser("program", help="configure a program (programs.v1)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    configure = actions.add_parser("configure", help="publish a program's settings from a JSON file")
    configure.add_argument("--file", required=True, type=Path, help="one JSON object: the program.configured fields")
    configure.add_argument("--bootstrap-servers", default=broker_from_environment(), help=BROKER_HELP)
    configure.add_argument("--prefix", default=os.environ.get("TANDEM_TOPIC_PREFIX", ""))
    configure.set_defaults(func=run_configure)


def read_program(path: Path):
    from shared.contracts import events as ev
    from tandem.jsonl import json_object, validated

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    return validated(ev.ProgramConfigured, json_object(text, str(path)), str(path))


def run_configure(args) -> int:
    program = read_program(args.file)
    if not args.bootstrap_servers:
        raise CliError("no broker: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers")
    try:
        envelope = asyncio.run(_publish(args.bootstrap_servers, args.prefix, program))
    except Exception as exc:  # the broker refused or is away: say so, no traceback
        raise CliError(f"could not publish to {args.bootstrap_servers}: {exc!r}") from exc
    print(f"program {program.program_id} configured ({program.name}); event {envelope.id} on programs.v1")
    return 0


async def _publish(bootstrap_servers: str, prefix: str, program):
    from tandem.client import Publisher

    async with asyncio.timeout(30):
        async with Publisher(bootstrap_servers, topic_prefix=prefix, source="/tandem/cli") as publisher:
            return await publisher.publish(program)
