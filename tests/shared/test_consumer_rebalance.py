"""Rebalances, with fakes: a batch fetched before its partition was revoked, and applied after, must
not move the committed offset past records parked and forgotten at the revoke, nor overtake them in
their key's order; records parked before a revoke are left to the partition's next owner.

The fake member plays what the consumer sees of aiokafka: an assignment (the old one is reported
while the group rejoins, as aiokafka does), a fetch position per partition (reset to the group's
committed offset on each assignment), and commits (accepted at any time: the broker takes a
commit of the current generation until the rejoin completes, and aiokafka sends a delayed one
with the generation of the moment it goes out)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord

from shared.consumer import Consumer, Limits, Runtime, _Lot, _Rebalance
from shared.contracts import events as ev
from shared.errors import NotYetKnown
from shared.parking import Partition
from tests.shared.test_parking import TOPIC, Producer, Store, Uow, record
from tests.support.fakes import claim_through_uow
from tests.support.runtime import eventually

P0 = Partition(TOPIC, 0)
TP0 = TopicPartition(TOPIC, 0)
LIMITS = Limits(backoff=0.001, backoff_max=0.005, max_deferrals=10_000)


class Group:
    """The broker's side: the partition's log and the group's committed offsets."""

    def __init__(self, log: list[ConsumerRecord]) -> None:
        self.log = log
        self.committed: dict[TopicPartition, int] = {}
        self.commits: list[int] = []  # every offset committed for P0, in order


class Member:
    """One replica's AIOKafkaConsumer, as far as the consumer uses it."""

    def __init__(self, group: Group, lot: _Lot, limits: Limits) -> None:
        self.group, self.lot = group, lot
        self.listener = _Rebalance(lot, limits)
        self.tps: frozenset[TopicPartition] = frozenset()
        self.positions: dict[TopicPartition, int] = {}
        lot.kafka = self  # type: ignore[assignment]

    def assignment(self) -> set[TopicPartition]:
        return set(self.tps)

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.tps:
            raise IllegalStateError(f"Partition {tp} is not assigned")
        return self.positions[tp]

    def getmany(self, count: int) -> list[ConsumerRecord]:
        start = self.positions[TP0]
        records = self.group.log[start : start + count]
        self.positions[TP0] = start + len(records)
        return records

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.group.committed.update(offsets)
        if TP0 in offsets:
            self.group.commits.append(offsets[TP0])

    def pause(self, *tps) -> None:
        pass

    def resume(self, *tps) -> None:
        pass

    def seek(self, tp, offset) -> None:
        raise AssertionError("nothing failed to be taken")

    async def revoked(self) -> None:
        """A rebalance begins: the listener is told; aiokafka still reports the old assignment."""
        await self.listener.on_partitions_revoked(set(self.tps))

    async def assigned(self, *tps: TopicPartition) -> None:
        """The rebalance completes: positions start again from the group's committed offsets."""
        self.tps = frozenset(tps)
        self.positions = {tp: self.group.committed.get(tp, 0) for tp in tps}
        await self.listener.on_partitions_assigned(set(tps))


async def on_feedback(data: ev.FeedbackSubmitted, uow: Uow, deps: str) -> None:
    """Counts its tries per replica (`deps` names it); waits while the data it needs is unknown."""
    tried = f"{deps}:{data.feedback_id}"
    uow.store.calls[tried] = uow.store.calls.get(tried, 0) + 1
    comment = data.comment or ""
    if comment.startswith("wait:") and comment not in uow.store.known:
        raise NotYetKnown(f"{data.feedback_id} is not known yet")
    uow.applied.append(data.feedback_id)


@dataclass
class Replica:
    """One service process: its consumer, runtime, the lot of its one subscriber, and its Kafka member."""

    consumer: Consumer
    runtime: Runtime
    lot: _Lot
    member: Member

    async def take(self, records: list[ConsumerRecord]) -> None:
        await self.consumer._take(self.runtime, self.lot, {TOPIC: records})

    async def fetch_and_take(self, count: int) -> None:
        await self.take(self.member.getmany(count))


def replica(store: Store, group: Group, name: str, limits: Limits = LIMITS) -> Replica:
    @contextlib.asynccontextmanager
    async def transaction():
        uow = Uow(store)
        yield uow
        store.applied += uow.applied
        store.inbox |= uow.inbox

    runtime = Runtime(
        name=name,
        topic_prefix="",
        producer=Producer(),
        transaction=transaction,  # type: ignore[arg-type]
        deps=name,
        claim_inbox=claim_through_uow,
        limits=limits,
    )
    lot = _Lot(name)
    member = Member(group, lot, limits)
    return Replica(Consumer("plumbing", {ev.FeedbackSubmitted: on_feedback}), runtime, lot, member)


def the_log() -> list[ConsumerRecord]:
    """a1 waits for its data; a2 is of the same key, so it must never be applied before a1."""
    return [
        record(0, "a1", "a", "wait:a1"),
        record(1, "b1", "b"),
        record(2, "c1", "c"),
        record(3, "a2", "a"),
        record(4, "b2", "b"),
        record(5, "d1", "d"),
    ]


async def settled_to_the_end(store: Store, group: Group) -> None:
    store.known.add("wait:a1")
    await eventually(lambda: _async(group.committed.get(TP0) == 6), 5, "the commit past every record")
    # Nothing skipped, nothing applied twice, and a's order kept.
    assert sorted(store.applied) == ["a1", "a2", "b1", "b2", "c1", "d1"]
    assert store.applied.index("a1") < store.applied.index("a2")


async def test_a_batch_fetched_before_a_revoke_and_taken_after_the_partition_came_back_is_dropped():
    store, group = Store(), Group(the_log())
    r1 = replica(store, group, "r1")
    await r1.member.assigned(TP0)
    await r1.fetch_and_take(3)  # a1 parked; b1 and c1 applied
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    stale = r1.member.getmany(3)  # fetched; before it is taken, the group rebalances and P0 comes back
    await r1.member.revoked()
    await r1.member.assigned(TP0)
    assert r1.member.positions[TP0] == 0  # aiokafka fetches again from the committed offset
    await r1.take(stale)
    # Applied, it would have committed 6 (a1 lost to the next restart) and a2 before a1.
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    await r1.fetch_and_take(6)  # what the position brings next
    assert max(group.commits) == 0 and "a2" not in store.applied
    await settled_to_the_end(store, group)


async def test_a_batch_taken_while_the_group_rejoins_is_not_applied_to_the_revoked_partition():
    """Between the revoke and the new assignment aiokafka still reports the old one: a batch taken
    then is not ours (its commit would be accepted: the generation has not changed yet)."""
    store, group = Store(), Group(the_log())
    r1 = replica(store, group, "r1")
    await r1.member.assigned(TP0)
    await r1.fetch_and_take(3)
    stale = r1.member.getmany(3)
    await r1.member.revoked()
    await r1.take(stale)
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    await r1.member.assigned(TP0)
    await r1.fetch_and_take(6)
    assert max(group.commits) == 0
    await settled_to_the_end(store, group)


async def test_records_parked_before_a_revoke_are_left_to_the_next_owner_and_taken_again_when_it_comes_back():
    store, group = Store(), Group(the_log())
    r1, r2 = replica(store, group, "r1"), replica(store, group, "r2")
    await r1.member.assigned(TP0)
    await r1.fetch_and_take(3)  # a1 parked on r1
    stale = r1.member.getmany(3)

    await r1.member.revoked()  # P0 goes to r2
    await r2.member.assigned(TP0)
    await r1.member.assigned()
    assert not r1.lot.ledger.queues  # r1 forgot a1: it is r2's now
    await r2.fetch_and_take(6)
    await eventually(lambda: _async(store.calls.get("r2:a1", 0) >= 3), 5, "r2 trying a1 again")
    assert store.calls["r1:a1"] == 1 and (r1.lot.worker is None or r1.lot.worker.done())
    assert set(store.applied) == {"b1", "c1", "b2", "d1"} and max(group.commits) == 0

    await r2.member.revoked()  # and back to r1, with the batch it fetched before
    await r1.member.assigned(TP0)
    await r2.member.assigned()
    assert not r2.lot.ledger.queues
    await r1.take(stale)
    await r1.fetch_and_take(6)
    assert max(group.commits) == 0 and "a2" not in store.applied
    await settled_to_the_end(store, group)


async def test_a_batch_being_applied_when_the_revoke_comes_is_finished_and_committed_before_it_is_given_up():
    """The guard that holds without anything new: the revoke waits for the batch in hand."""
    store, group = Store(), Group(the_log())
    r1 = replica(store, group, "r1")
    await r1.member.assigned(TP0)
    gate = asyncio.Event()
    transaction = r1.runtime.transaction

    @contextlib.asynccontextmanager
    async def held():
        await gate.wait()
        async with transaction() as uow:
            yield uow

    r1.runtime.transaction = held
    taking = asyncio.create_task(r1.take([r for r in r1.member.getmany(6) if r.key != b"a"]))
    await eventually(lambda: _async(r1.lot.lock.locked()), 5, "the batch being applied")
    revoking = asyncio.create_task(r1.member.revoked())
    await asyncio.sleep(0)  # the revoke is waiting for the batch, which is
    assert not revoking.done()
    gate.set()
    await revoking
    await taking
    assert store.applied == ["b1", "c1", "b2", "d1"] and group.committed[TP0] == 6


async def _async(value):
    return value


async def test_batches_settled_within_the_commit_interval_are_committed_together_a_little_later():
    """One commit per `commit_interval`: the first batch's at once, the next ones' together when the
    interval is over; a revoke commits what is settled at once."""
    store, group = Store(), Group([record(i, f"k{i}", f"k{i}") for i in range(6)])
    r1 = replica(store, group, "r1", Limits(backoff=0.001, backoff_max=0.005, commit_interval=0.2))
    await r1.member.assigned(TP0)
    await r1.fetch_and_take(1)
    assert group.commits == [1]
    await r1.fetch_and_take(1)
    await r1.fetch_and_take(1)
    assert group.commits == [1] and r1.lot.flush is not None  # settled, and waiting for the interval
    await eventually(lambda: _async(group.commits == [1, 3]), 5, "the deferred commit")
    assert r1.lot.flush is None

    await r1.fetch_and_take(2)
    assert group.commits == [1, 3]
    await r1.member.revoked()  # at once, not after the interval
    assert group.commits == [1, 3, 5] and r1.lot.flush is None


async def test_before_a_clean_stop_what_is_settled_is_committed_at_once():
    store, group = Store(), Group([record(i, f"k{i}", f"k{i}") for i in range(3)])
    r1 = replica(store, group, "r1", Limits(commit_interval=30))
    r1.consumer._lots.append(r1.lot)  # as attaching a subscriber to a broker does
    await r1.member.assigned(TP0)
    await r1.fetch_and_take(1)
    await r1.fetch_and_take(2)
    assert group.commits == [1]
    await r1.consumer.commit_settled(r1.runtime.limits)
    assert group.commits == [1, 3] and r1.lot.flush is None
    await r1.consumer.close()
