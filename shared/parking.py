"""Which records of a subscriber are not settled yet, and which keys wait behind them.

No I/O here: the consumer (shared/consumer.py, whose docstring states the delivery rules) decides
what to try and when; this ledger keeps the bookkeeping those rules rest on:
- a parked record holds its key: every later record of that key (same partition) queues behind it,
  in offset order, and is tried only once everything before it is settled (a record without a key
  has no order to keep: it queues alone);
- a partition's offset may be committed up to its lowest unsettled record, and no further than the
  records already taken from Kafka.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Partition(NamedTuple):
    topic: str  # as Kafka names it (with the deployment's prefix)
    partition: int


@dataclass(eq=False)
class Parked:
    """A record waiting for its turn or for another try."""

    where: Partition
    offset: int
    key: bytes | None
    item: Any  # what the consumer needs to try it again
    due: float = 0.0  # monotonic time of its next try, when it heads its key's queue


@dataclass
class Ledger:
    queues: dict[tuple[Partition, bytes | int], deque[Parked]] = field(default_factory=dict)
    unsettled: dict[Partition, set[int]] = field(default_factory=dict)
    taken: dict[Partition, int] = field(default_factory=dict)  # offset after the last record taken

    def holds(self, where: Partition, offset: int) -> bool:
        """True for a record already parked (Kafka handed it over again after a rewind)."""
        return offset in self.unsettled.get(where, ())

    def is_parked(self, where: Partition, key: bytes | None) -> bool:
        return key is not None and (where, key) in self.queues

    def park(self, entry: Parked) -> None:
        """Queue a record behind its key (it heads the queue when its key was not parked)."""
        self.queues.setdefault(_queue(entry), deque()).append(entry)
        self.unsettled.setdefault(entry.where, set()).add(entry.offset)

    def find(self, where: Partition, offset: int) -> Parked | None:
        for (at, _), queue in self.queues.items():
            if at == where:
                for entry in queue:
                    if entry.offset == offset:
                        return entry
        return None

    def is_head(self, entry: Parked) -> bool:
        queue = self.queues.get(_queue(entry))
        return queue is not None and bool(queue) and queue[0] is entry

    def heads(self) -> list[Parked]:
        return [queue[0] for queue in self.queues.values()]

    def next_due(self) -> float | None:
        return min((head.due for head in self.heads()), default=None)

    def due(self, now: float) -> list[Parked]:
        """The heads whose time has come, earliest first."""
        return heapq.nsmallest(
            len(self.queues), (h for h in self.heads() if h.due <= now), key=lambda h: (h.due, h.offset)
        )

    def settle(self, entry: Parked, now: float) -> Parked | None:
        """Done with a queue's head; returns the next record of its key (due at once), if any."""
        queue = self.queues.get(_queue(entry))
        if not queue or queue[0] is not entry:
            return None  # its partition was given up meanwhile (rebalance)
        queue.popleft()
        self.unsettled[entry.where].discard(entry.offset)
        if not queue:
            del self.queues[_queue(entry)]
            return None
        queue[0].due = now
        return queue[0]

    def took(self, where: Partition, last_offset: int) -> None:
        self.taken[where] = max(self.taken.get(where, 0), last_offset + 1)

    def commit_point(self, where: Partition) -> int | None:
        """The offset to commit: everything before it is settled. None when nothing was taken."""
        if where not in self.taken:
            return None
        return min(self.unsettled.get(where) or (), default=self.taken[where])

    def waiting(self, where: Partition) -> int:
        return len(self.unsettled.get(where, ()))

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Partitions taken away (rebalance): their records come again to whoever gets them."""
        gone = set(partitions)
        for key in [k for k in self.queues if k[0] in gone]:
            del self.queues[key]
        for where in gone:
            self.unsettled.pop(where, None)
            self.taken.pop(where, None)


def _queue(entry: Parked) -> tuple[Partition, bytes | int]:
    return (entry.where, entry.key if entry.key is not None else entry.offset)
