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

    def __init__(self, group: Group, lot: _Lot) -> None:
        self.group, self.lot = group, lot
        self.listener = _Rebalance(lot, LIMITS)
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


def replica(store: Store, name: str) -> tuple[Consumer, Runtime]:
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
        limits=LIMITS,
    )
    return Consumer("plumbing", {ev.FeedbackSubmitted: on_feedback}), runtime


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


async def take(consumer: Consumer, runtime: Runtime, lot: _Lot, records: list[ConsumerRecord]) -> None:
    await consumer._take(runtime, lot, {TOPIC: records})


async def settled_to_the_end(store: Store, group: Group) -> None:
    store.known.add("wait:a1")
    await eventually(lambda: _async(group.committed.get(TP0) == 6), 5, "the commit past every record")
    # Nothing skipped, nothing applied twice, and a's order kept.
    assert sorted(store.applied) == ["a1", "a2", "b1", "b2", "c1", "d1"]
    assert store.applied.index("a1") < store.applied.index("a2")


async def test_a_batch_fetched_before_a_revoke_and_taken_after_the_partition_came_back_is_dropped():
    store, group = Store(), Group(the_log())
    consumer, runtime = replica(store, "r1")
    lot = _Lot("r1")
    member = Member(group, lot)
    await member.assigned(TP0)
    await take(consumer, runtime, lot, member.getmany(3))  # a1 parked; b1 and c1 applied
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    stale = member.getmany(3)  # fetched; before it is taken, the group rebalances and P0 comes back
    await member.revoked()
    await member.assigned(TP0)
    assert member.positions[TP0] == 0  # aiokafka fetches again from the committed offset
    await take(consumer, runtime, lot, stale)
    # Applied, it would have committed 6 (a1 lost to the next restart) and a2 before a1.
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    await take(consumer, runtime, lot, member.getmany(6))  # what the position brings next
    assert max(group.commits) == 0 and "a2" not in store.applied
    await settled_to_the_end(store, group)


async def test_a_batch_taken_while_the_group_rejoins_is_not_applied_to_the_revoked_partition():
    """Between the revoke and the new assignment aiokafka still reports the old one: a batch taken
    then is not ours (its commit would be accepted: the generation has not changed yet)."""
    store, group = Store(), Group(the_log())
    consumer, runtime = replica(store, "r1")
    lot = _Lot("r1")
    member = Member(group, lot)
    await member.assigned(TP0)
    await take(consumer, runtime, lot, member.getmany(3))
    stale = member.getmany(3)
    await member.revoked()
    await take(consumer, runtime, lot, stale)
    assert group.commits == [0] and store.applied == ["b1", "c1"]

    await member.assigned(TP0)
    await take(consumer, runtime, lot, member.getmany(6))
    assert max(group.commits) == 0
    await settled_to_the_end(store, group)


async def test_records_parked_before_a_revoke_are_left_to_the_next_owner_and_taken_again_when_it_comes_back():
    store, group = Store(), Group(the_log())
    (one, run_one), (two, run_two) = replica(store, "r1"), replica(store, "r2")
    lot_one, lot_two = _Lot("r1"), _Lot("r2")
    first, second = Member(group, lot_one), Member(group, lot_two)
    await first.assigned(TP0)
    await take(one, run_one, lot_one, first.getmany(3))  # a1 parked on r1
    stale = first.getmany(3)

    await first.revoked()  # P0 goes to r2
    await second.assigned(TP0)
    await first.assigned()
    assert not lot_one.ledger.queues  # r1 forgot a1: it is r2's now
    await take(two, run_two, lot_two, second.getmany(6))
    await eventually(lambda: _async(store.calls.get("r2:a1", 0) >= 3), 5, "r2 trying a1 again")
    assert store.calls["r1:a1"] == 1 and (lot_one.worker is None or lot_one.worker.done())
    assert set(store.applied) == {"b1", "c1", "b2", "d1"} and max(group.commits) == 0

    await second.revoked()  # and back to r1, with the batch it fetched before
    await first.assigned(TP0)
    await second.assigned()
    assert not lot_two.ledger.queues
    await take(one, run_one, lot_one, stale)
    await take(one, run_one, lot_one, first.getmany(6))
    assert max(group.commits) == 0 and "a2" not in store.applied
    await settled_to_the_end(store, group)


async def test_a_batch_being_applied_when_the_revoke_comes_is_finished_and_committed_before_it_is_given_up():
    """The guard that holds without anything new: the revoke waits for the batch in hand."""
    store, group = Store(), Group(the_log())
    consumer, runtime = replica(store, "r1")
    lot = _Lot("r1")
    member = Member(group, lot)
    await member.assigned(TP0)
    gate = asyncio.Event()
    transaction = runtime.transaction

    @contextlib.asynccontextmanager
    async def held():
        await gate.wait()
        async with transaction() as uow:
            yield uow

    runtime.transaction = held
    taking = asyncio.create_task(take(consumer, runtime, lot, [r for r in member.getmany(6) if r.key != b"a"]))
    await eventually(lambda: _async(lot.lock.locked()), 5, "the batch being applied")
    revoking = asyncio.create_task(member.revoked())
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
    consumer, runtime = replica(store, "r1")
    runtime.limits = Limits(backoff=0.001, backoff_max=0.005, commit_interval=0.2)
    lot = _Lot("r1")
    member = Member(group, lot)
    member.listener = _Rebalance(lot, runtime.limits)
    await member.assigned(TP0)
    await take(consumer, runtime, lot, member.getmany(1))
    assert group.commits == [1]
    await take(consumer, runtime, lot, member.getmany(1))
    await take(consumer, runtime, lot, member.getmany(1))
    assert group.commits == [1] and lot.flush is not None  # settled, and waiting for the interval
    await eventually(lambda: _async(group.commits == [1, 3]), 5, "the deferred commit")
    assert lot.flush is None

    await take(consumer, runtime, lot, member.getmany(2))
    assert group.commits == [1, 3]
    await member.revoked()  # at once, not after the interval
    assert group.commits == [1, 3, 5] and lot.flush is None


async def test_before_a_clean_stop_what_is_settled_is_committed_at_once():
    store, group = Store(), Group([record(i, f"k{i}", f"k{i}") for i in range(3)])
    consumer, runtime = replica(store, "r1")
    runtime.limits = Limits(commit_interval=30)
    lot = _Lot("r1")
    consumer._lots.append(lot)  # as attaching a subscriber to a broker does
    member = Member(group, lot)
    await member.assigned(TP0)
    await take(consumer, runtime, lot, member.getmany(1))
    await take(consumer, runtime, lot, member.getmany(2))
    assert group.commits == [1]
    await consumer.commit_settled(runtime.limits)
    assert group.commits == [1, 3] and lot.flush is None
    await consumer.close()
