"""`tandem token create|revoke|list`: API tokens for machines that read or act on programs through /api.

    tandem token create --program P --role program-viewer --expires 90d [--name nightly-export]
    tandem token create --role tandem-admin --expires 30d
    tandem token revoke tok_0123456789ab
    tandem token list

`create` prints the token once (only its SHA-256 is kept) and its id, for `revoke`. Tokens live in
the feedback service's schema, so the feedback service must have started once on this database
(DATABASE_URL: the database owner's URL, or the feedback role's).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
from datetime import UTC, datetime, timedelta

from tandem.cli import CliError

DURATION = re.compile(r"^(\d{1,5})([hdw])$")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_LIFETIME = timedelta(days=3 * 366)


def register(sub) -> None:
    p = sub.add_parser("token", help="API tokens for machines (per program, with a role and an expiry)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a token; it is printed once")
    create.add_argument("--program", help="the program it may read (or act on); not for tandem-admin")
    create.add_argument("--role", required=True, help="program-viewer, program-admin or tandem-admin")
    create.add_argument("--expires", required=True, help="lifetime: a number of hours, days or weeks, e.g. 90d")
    create.add_argument("--name", help="what it is for, e.g. nightly-export (shown by `tandem token list`)")
    revoke = actions.add_parser("revoke", help="revoke a token at once, by its id")
    revoke.add_argument("token_id", metavar="ID")
    listing = actions.add_parser("list", help="every token, without secrets")
    for command in (create, revoke, listing):
        command.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
        command.set_defaults(func=run)


def lifetime(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise CliError(f"--expires {text!r}: give a lifetime such as 12h, 90d or 8w")
    found = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if found > MAX_LIFETIME:
        raise CliError(f"--expires {text!r}: at most three years; make a new token when it runs out")
    return found


def run(args) -> int:
    import asyncpg

    from services.feedback.domain.access import Grants, RoleMapError

    if not args.database_url:
        raise CliError("no database: set DATABASE_URL or pass --database-url")
    if args.action == "create":
        try:
            Grants.of_role(args.role, args.program)
        except RoleMapError as exc:
            raise CliError(str(exc)) from None
        if args.name is not None and not (0 < len(args.name) <= 100 and args.name.isprintable()):
            raise CliError("--name: 1 to 100 printable characters")
        args.lifetime = lifetime(args.expires)
    try:
        return asyncio.run(asyncio.wait_for(_run(args), 30))
    except (OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach the database: {type(exc).__name__}") from None
    except asyncpg.UndefinedTableError:
        raise CliError("the feedback service has no token table in this database yet: start it once "
                       "(it creates its tables), then try again") from None
    except asyncpg.PostgresError as exc:
        raise CliError(f"the database refused: {exc.sqlstate} {type(exc).__name__}") from None


async def _run(args) -> int:
    import asyncpg

    from services.feedback.adapters.api_tokens import ApiTokens

    conn = await asyncpg.connect(args.database_url, server_settings={"search_path": "feedback"})
    try:
        tokens = ApiTokens(conn)
        if args.action == "create":
            issued = await tokens.create(role=args.role, program_id=args.program, lifetime=args.lifetime,
                                         created_by=f"cli:{getpass.getuser()}", name=args.name)
            about = issued.about
            print(f"id: {about.token_id}")
            print(f"role: {about.role} on {about.program_id or 'every program'}, expires {about.expires_at.isoformat()}")
            print(f"token: {issued.token}")
            print("Keep the token now: it is not stored and cannot be shown again.")
            return 0
        if args.action == "revoke":
            revoked = await tokens.revoke(args.token_id)
            if revoked is None:
                raise CliError(f"no token with id {args.token_id!r} (see `tandem token list`)")
            print(f"revoked {revoked.token_id} at {revoked.revoked_at.isoformat()}")
            return 0
        found = await tokens.all()
        now = datetime.now(UTC)
        for t in found:
            state = "revoked" if t.revoked_at else "expired" if t.expires_at <= now else "active"
            print(f"{t.token_id}\t{t.role}\t{t.program_id or '*'}\t{state}\texpires {t.expires_at.isoformat()}\t"
                  f"by {t.created_by}\t{t.name or '-'}")
        print(f"{len(found)} tokens")
        return 0
    finally:
        await conn.close()
