"""Helpers to run services in-process against the real test infrastructure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

S = TypeVar("S")


def settings_for(cls: type[S], *, database_url: str, bootstrap_servers: str, topic_prefix: str, **overrides: Any) -> S:
    return cls(
        database_url=database_url, kafka_bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix,
        retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2, max_deferrals=overrides.pop("max_deferrals", 20),
        outbox_poll_seconds=0.2, **overrides,
    )


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def fetch(database_url: Any, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows from a query, on a URL given plainly or as a SecretStr (settings.database_url)."""
    url = database_url.get_secret_value() if hasattr(database_url, "get_secret_value") else database_url
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
