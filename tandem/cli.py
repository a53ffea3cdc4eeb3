"""`tandem`: one command for running the system locally and for the offline tools.

Each subcommand lives in its own module under `tandem.commands` and exposes `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = (
    "up",
    "demo",
    "service",
    "topics",
    "outbox",
    "dlq",
    "program",
    "webhook",
    "db",
    "secrets",
    "token",
    "match_cohort",
    "plan_meetings",
)


class CliError(Exception):
    """Bad input or a failed precondition: printed as one clear line, exit code 2."""


# Where `tandem up` runs Kafka, and where the services look without KAFKA_BOOTSTRAP_SERVERS
# (shared.settings): the README's default, so the tools find what the services find.
LOCAL_BROKER = "127.0.0.1:19092"
BROKER_HELP = f"Kafka's bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS, else {LOCAL_BROKER})"


def broker_from_environment() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_BROKER)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description="Tandem: mentoring programs at scale.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tandem.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"tandem {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run as `python -m tandem.cli`: dispatch through the imported module, so its CliError is the one caught.
    from tandem.cli import main as _main

    sys.exit(_main())
