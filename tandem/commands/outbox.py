"""`tandem outbox`: the events Kafka refused for good, and the operator's two answers to them.

A refused event (too large, an invalid topic) stays in its service's outbox as `failed`, and the
later events of the same key wait behind it, so no one's events are ever reordered or lost. Once
the cause is fixed (say, the broker's `max.message.bytes` raised), `retry` puts it back in line;
`skip` gives up on it for good and lets the events behind it go.
"""

from __future__ import annotations

import asyncio
import os

from tandem.cli import CliError

SERVICES = ("matching", "scheduling", "notifications", "feedback")


def register(sub) -> None:
    p = sub.add_parser("outbox", help="list, retry or skip events Kafka refused for good")
    p.add_argument("action", choices=("list", "retry", "skip"))
    p.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="for retry and skip")
    p.add_argument("--service", choices=SERVICES, help="one service (list: all by default; retry/skip: required)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.database_url:
        raise CliError("no database: set DATABASE_URL or pass --database-url")
    if args.action != "list" and (not args.service or not args.event_ids):
        raise CliError(f"{args.action} needs --service and at least one EVENT_ID")
    try:
        return asyncio.run(_run(args))
    except OSError as exc:
        raise CliError(f"cannot reach the database: {exc}") from exc


async def _run(args) -> int:
    import asyncpg

    from shared import outbox

    for service in [args.service] if args.service else SERVICES:
        try:
            conn = await asyncpg.connect(args.database_url, server_settings={"search_path": service})
        except asyncpg.PostgresError as exc:
            raise CliError(f"cannot open the database: {exc}") from exc
        try:
            if not await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
                if args.service:
                    raise CliError(f"no outbox in schema {service}: has the service ever started on this database?")
                continue
            if args.action == "list":
                for row in await outbox.failed_events(conn):
                    print(f"{service}\t{row['event_id']}\t{row['topic']}\tkey={row['key']}\t"
                          f"attempts={row['attempts']}\t{row['created_at'].isoformat()}\t{row['last_error']}")
                continue
            act = outbox.retry_failed if args.action == "retry" else outbox.skip_failed
            done = await act(conn, args.event_ids)
            print(f"{service}: {done} of {len(args.event_ids)} events {'put back in line' if args.action == 'retry' else 'skipped'}")
            if done < len(args.event_ids):
                raise CliError("some event ids are not failed events of this service (see `tandem outbox list`)")
        finally:
            await conn.close()
    return 0
