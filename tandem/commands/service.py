"""`tandem service NAME`: run one service in the foreground (what each container runs)."""

from __future__ import annotations

import importlib

from tandem.local.stack import SERVICES


def register(sub) -> None:
    p = sub.add_parser("service", help="run one service in the foreground")
    p.add_argument("name", choices=SERVICES)
    p.set_defaults(func=run)


def run(args) -> int:
    importlib.import_module(f"services.{args.name}.entrypoints.app").main()
    return 0
