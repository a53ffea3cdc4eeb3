"""Scheduling's locks, and the one order every path takes them in: nobody is ever booked twice, and
no two transactions ever wait for each other.

Booking someone means: read their other meetings, pick a free time, write the meeting. Two paths
doing that at once for the same person (a kickoff from the match consumer, the next occurrence from
the series loop on another replica, a reschedule) would both see the time free. So before reading
anyone's busy times a path takes a transaction-level advisory lock per person of the pair; whoever
comes second waits, then reads the first one's committed meeting (READ COMMITTED: every statement
sees what was committed before it began).

The order; each path takes a subset of these, always in this order:
  1. the series row (`FOR NO KEY UPDATE`), one per event; the series loop claims it with SKIP LOCKED;
  2. the two people of that pair: advisory locks, in ascending key order;
  3. that series' meeting rows (by occurrence), then their reminder rows (the reminder loop takes
     those with SKIP LOCKED and never waits).
A transaction only ever waits for a lock that comes after every lock it holds, so waiting
transactions cannot form a cycle.

One catch: the consumer applies a batch of events in one transaction, and a second event's locks
come after the first one's in time but not in this order. So only the first event of a transaction
that locks anything may wait; later ones ask without waiting (NOWAIT, pg_try_advisory_xact_lock).
When refused, the batch fails with a passing infrastructure error, and the consumer applies it
again one event per transaction (shared/consumer.py), where waiting is safe.

A wave of kickoffs (service_layer/planning.py `plan_kickoffs`) takes every person of its pairs at
once, in the same ascending order, as its first event would (waiting only when that is the first
to lock anything). Before that it holds only the pair rows it has just inserted, which no other
transaction can see, so the order above still holds (its series rows are written after placing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import asyncpg

from shared.retry import InfrastructureUnavailable

_NOBODY = object()


class LockBusy(InfrastructureUnavailable):
    """A later event of a batch found a person locked by another transaction (module docstring)."""


def person_key(namespace: str, participant_id: str) -> int:
    """A stable 64-bit advisory lock key (the same in every process, unlike Python's hash())."""
    digest = hashlib.blake2b(f"{namespace}/{participant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Locks:
    """The locks of one transaction; `current_event` tells which consumed event is being applied."""

    def __init__(self, conn: asyncpg.Connection, namespace: str, current_event: Callable[[], object]) -> None:
        self.conn = conn
        self.namespace = namespace
        self._current_event = current_event
        self._first: object = _NOBODY

    def may_wait(self) -> bool:
        """True for the first event of this transaction that locks anything (and for loops)."""
        event = self._current_event()
        if self._first is _NOBODY:
            self._first = event
        return self._first is event

    def row_clause(self, of: str | None = None) -> str:
        """How a series or meeting row is locked (`of`: the table alias, in a join): NO KEY UPDATE,
        since keys never change, so inserts that reference the row are not held up."""
        return " FOR NO KEY UPDATE" + (f" OF {of}" if of else "") + ("" if self.may_wait() else " NOWAIT")

    async def people(self, *participant_ids: str) -> None:
        """Hold these people's calendars until the transaction ends; call before reading busy times.
        Any number of people (a pair, or every pair of a wave) in one round trip, in ascending key
        order: a function scan hands its rows over, and so takes the locks, in the array's order."""
        wait = self.may_wait()
        keys = sorted({person_key(self.namespace, pid) for pid in participant_ids})
        if not keys:
            return
        if wait:
            await self.conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k", keys)
        elif not await self.conn.fetchval(
                "SELECT bool_and(pg_try_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k", keys):
            raise LockBusy("a person of this pair is being booked by another transaction")
