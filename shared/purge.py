"""Retention enforced: each service deletes, or empties, what it no longer needs to keep.

A service declares its `Rule`s (what, in which table, after how long: docs/privacy.md has the table
and the reasons) and registers `purge_loop(rules)` with its other loops. Each pass runs every rule in
small batches, one short transaction per batch:

    DELETE FROM t WHERE ctid IN (SELECT ctid FROM t WHERE <expired> LIMIT n FOR UPDATE SKIP LOCKED)

so with N replicas each takes rows the others have not locked, a row is removed once, and no
transaction holds many locks for long; a rule that empties columns works the same way with UPDATE,
its condition excluding rows already emptied. A pass goes on while a rule fills whole batches, then
sleeps `poll` seconds. Every row is counted in `tandem_purged_rows_total{service, table, action}`.

Times: a rule says whether its column is in program time (`uow.now()`, which the demo and tests
speed up) or real time (`now()` of the database, e.g. `created_at DEFAULT now()`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import retention
from shared.loops import Pass, run_loop

log = logging.getLogger(__name__)

PURGED = Counter(
    "tandem_purged_rows_total",
    "Rows deleted (action=delete) or emptied of their content (action=clear) by retention.",
    ["service", "table", "action"],
)

PROGRAM_TIME, REAL_TIME = "program", "real"


class RetentionSettings(BaseSettings):
    """How long each kind of stored data is kept, in days (`TANDEM_RETAIN_<NAME>`); docs/privacy.md
    says why each default is what it is. Each service reads the ones for its own tables."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_RETAIN_", extra="ignore", frozen=True)

    # Every service: outbox rows an operator skipped (published ones leave the outbox at once; rows an
    # older relay marked published, with their content emptied, go too).
    outbox_days: int = Field(7, ge=1)
    # notifications: a settled message's content (address, subject, body, HTML, attachment, errors)...
    delivery_content_days: int = Field(30, ge=1)
    # ...and its row, then ids, template, language and outcome only.
    delivery_days: int = Field(400, ge=1)
    # notifications: a digest item after the digest that told it; one never told (no contact) as long.
    digest_item_days: int = Field(30, ge=1)
    # notifications: which digests were sent (program, day, count).
    digest_days: int = Field(400, ge=1)
    # notifications, scheduling: where a pair meets, once the meeting is over or the pair has ended.
    place_days: int = Field(30, ge=1)
    # feedback: the dashboard's raw facts (a rolling window; the dashboard shows the last 60 days).
    analytics_days: int = Field(400, ge=1)
    # feedback: free-text comments, emptied (ratings stay).
    comment_days: int = Field(400, ge=1)
    # feedback: machines' API tokens, once expired or revoked (who made them, and their name, go with them).
    token_days: int = Field(400, ge=1)
    # scheduling: reminders once fired or dropped.
    reminder_days: int = Field(30, ge=1)
    # matching: proposals that did not become a relationship (declined, expired, withdrawn).
    proposal_days: int = Field(400, ge=1)

    # How often the purge looks (real seconds), and rows per batch (one short transaction each).
    poll_seconds: float = Field(3600.0, gt=0)
    batch: int = Field(500, ge=1, le=50_000)

    def days(self, name: str) -> timedelta:
        return timedelta(days=getattr(self, f"{name}_days"))


@dataclass(frozen=True)
class Rule:
    """Rows of `table` where `expired` holds: deleted, or (with `clear`) their columns set as `clear` says.

    `expired` is SQL over the table's columns (alias `t`), where `$1` is the cut-off: the rule's
    clock's now minus `keep`."""

    name: str  # for metrics and logs: the table, and what of it
    table: str
    expired: str
    keep: timedelta
    clock: str = PROGRAM_TIME
    clear: str | None = None  # e.g. "body = '', attachment = NULL": empty the row instead of deleting it

    def statement(self) -> str:
        chosen = f"SELECT t.ctid FROM {self.table} t WHERE {self.expired} LIMIT $2 FOR UPDATE SKIP LOCKED"
        if self.clear is None:
            return f"DELETE FROM {self.table} WHERE ctid IN ({chosen})"
        return f"UPDATE {self.table} SET {self.clear} WHERE ctid IN ({chosen})"

    @property
    def action(self) -> str:
        return "delete" if self.clear is None else "clear"


def plumbing_rules(outbox_keep: timedelta) -> list[Rule]:
    """What every service's outbox and inbox keep: skipped events a week (published ones are deleted
    as they go out; rows marked published by an older relay go after a week too),
    and an inbox row as long as its topic keeps the event plus a margin (shared/retention.py)."""
    rules = [
        Rule(
            "outbox",
            "outbox",
            "t.state IN ('published', 'skipped') AND coalesce(t.published_at, t.created_at) < $1",
            outbox_keep,
            clock=REAL_TIME,
        )
    ]
    keeps: dict[timedelta, list[str]] = {}
    for name in retention.all_topics():
        keeps.setdefault(retention.inbox_keep(name), []).append(name)
    known = [name for names in keeps.values() for name in names]
    for keep, names in sorted(keeps.items()):
        rules.append(
            Rule("inbox", "inbox", f"t.topic IN ({_literals(names)}) AND t.received_at < $1", keep, clock=REAL_TIME)
        )
    rules.append(
        Rule(
            "inbox",
            "inbox",
            f"t.topic NOT IN ({_literals(known)}) AND t.received_at < $1",
            retention.longest_inbox_keep(),
            clock=REAL_TIME,
        )
    )
    # A record handed over again is no older than its topic's retention: so long is its dead letter remembered.
    rules.append(
        Rule(
            "dead_lettered", "dead_lettered", "t.dead_lettered_at < $1", retention.longest_inbox_keep(), clock=REAL_TIME
        )
    )
    return rules


def _literals(names: Sequence[str]) -> str:
    assert all("'" not in n for n in names)
    return ", ".join(f"'{n}'" for n in names)


class Purge:
    """One pass over the rules (`step`); see the module docstring."""

    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        rules: Sequence[Rule],
        program_now: Callable[[], datetime],
        *,
        batch: int = 500,
    ) -> None:
        self.service = service
        self.pool = pool
        self.rules = list(rules)
        self.program_now = program_now
        self.batch = batch

    async def run_rule(self, rule: Rule) -> int:
        """One batch of one rule; returns the rows it purged."""
        async with self.pool.acquire() as conn:
            if rule.clock == PROGRAM_TIME:
                cutoff = self.program_now() - rule.keep
            else:
                cutoff = await conn.fetchval("SELECT now()") - rule.keep
            done = await conn.execute(rule.statement(), cutoff, self.batch)
        count = int(done.split()[-1])
        if count:
            PURGED.labels(self.service, rule.table, rule.action).inc(count)
        return count

    async def step(self) -> Pass:
        more = False
        for rule in self.rules:
            count = await self.run_rule(rule)
            if count:
                log.info("%s retention: %s %d rows of %s (%s)", self.service, rule.action, count, rule.table, rule.name)
            more |= count >= self.batch
        return Pass(more=more)

    async def until_done(self) -> int:
        """Every rule until nothing is left (tests, benchmarks); returns the rows purged."""
        total = 0
        for rule in self.rules:
            while (count := await self.run_rule(rule)) > 0:
                total += count
        return total


def purge_loop(rules: Callable[[RetentionSettings], Sequence[Rule]]):
    """A service loop (`Service(loops=...)`) running the service's `rules` and its outbox's and inbox's."""

    async def retention_purge(service) -> None:
        keep = RetentionSettings()
        purge = Purge(
            service.name,
            service.pool,
            plumbing_rules(keep.days("outbox")) + list(rules(keep)),
            service.clock.now,
            batch=keep.batch,
        )
        await run_loop(f"{service.name} retention", purge.step, poll=keep.poll_seconds)

    return retention_purge
