"""`tandem db provision`: give each service a PostgreSQL role that owns its schema and nothing else.

Run once per database by its owner (DATABASE_URL), before the services start (docker-compose runs
it as a one-shot container; `tandem up`, the demo and the tests do it themselves). A service's
password comes from `TANDEM_DB_PASSWORD_<SERVICE>` when set, else it is derived from the owner's.
"""

from __future__ import annotations

import asyncio
import os

from tandem.cli import CliError

SERVICES = ("matching", "scheduling", "notifications", "feedback")


def register(sub) -> None:
    p = sub.add_parser("db", help="database administration")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    provision = actions.add_parser("provision", help="a role per service, owning its schema only")
    provision.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    provision.set_defaults(func=run)


def run(args) -> int:
    import asyncpg

    from shared.db import provision

    if not args.database_url:
        raise CliError("no database: set DATABASE_URL (the owner's) or pass --database-url")
    passwords = {s: os.environ[f"TANDEM_DB_PASSWORD_{s.upper()}"] for s in SERVICES
                 if os.environ.get(f"TANDEM_DB_PASSWORD_{s.upper()}")}
    try:
        urls = asyncio.run(asyncio.wait_for(provision(args.database_url, SERVICES, passwords), 60))
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        raise CliError(f"could not provision the service roles: {exc}") from exc
    for service, url in urls.items():
        print(f"{service}: role {url.split('//')[1].split(':')[0]} owns schema {service}")
    return 0
