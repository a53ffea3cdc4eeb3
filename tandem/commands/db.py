"""`tandem db provision`: give each service a PostgreSQL role that owns its schema and nothing else.

Run once per database by its owner (DATABASE_URL), before the services start (docker-compose runs
it as a one-shot container; `tandem up`, the demo and the tests do it themselves). A service's
password is `TANDEM_DB_PASSWORD_<SERVICE>`, a random secret of the deployment's own. In production
(TANDEM_ENV=production, the image's default) each must be given and strong; in development a missing
one is made at random once and kept for the server (tandem/local/passwords.py).
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
    passwords = role_passwords(args.database_url)
    try:
        urls = asyncio.run(asyncio.wait_for(provision(args.database_url, SERVICES, passwords), 60))
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        raise CliError(f"could not provision the service roles: {exc}") from exc
    for service, url in urls.items():
        print(f"{service}: role {url.split('//')[1].split(':')[0]} owns schema {service}")
    return 0


def role_passwords(owner_url: str) -> dict[str, str]:
    from shared.settings import Secret, database_password, production, secret_problems
    from tandem.local.passwords import given_role_passwords, password_variable
    from tandem.local.passwords import role_passwords as kept_role_passwords
    from tandem.local.passwords import server_store

    try:
        in_production = production()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not in_production:
        return kept_role_passwords(SERVICES, server_store(owner_url))
    given = given_role_passwords(SERVICES)
    missing = [password_variable(s) for s in SERVICES if s not in given]
    if missing:
        raise CliError(f"{', '.join(missing)} not set: in production every service role's password is given, "
                       "a random one each (docs/security.md)")
    problems = secret_problems([Secret(password_variable(s), given[s]) for s in SERVICES]
                               + [p for p in [database_password("DATABASE_URL", owner_url)] if p])
    if problems:
        raise CliError("refusing weak secrets with TANDEM_ENV=production:\n  " + "\n  ".join(problems))
    return given
