"""Parking, with fakes: a failing event holds only its key, keys keep their order, offsets are
committed only up to what is settled, and a dead-lettered record handed over again is not retried."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.errors import NotYetKnown
from shared.parking import Ledger, Parked, Partition
from tests.support.fakes import claim_through_uow
from tests.support.runtime import eventually

TOPIC = topics.FEEDBACK_SUBMISSIONS
P0, P1 = Partition(TOPIC, 0), Partition(TOPIC, 1)


# --- the ledger alone ----------------------------------------------------------------------------

def test_a_parked_key_holds_its_later_records_and_the_commit_point_stays_below_it():
    ledger = Ledger()
    first, behind = Parked(P0, 1, b"a", None), Parked(P0, 3, b"a", None)
    ledger.park(first)
    ledger.park(behind)
    for offset in range(5):
        ledger.took(P0, offset)
    assert ledger.is_parked(P0, b"a") and not ledger.is_parked(P0, b"b") and not ledger.is_parked(P1, b"a")
    assert ledger.heads() == [first] and ledger.commit_point(P0) == 1 and ledger.commit_point(P1) is None
    assert ledger.holds(P0, 3) and not ledger.holds(P0, 2)

    assert ledger.settle(behind, now=5.0) is None  # not its turn: nothing changes
    assert ledger.settle(first, now=5.0) is behind and behind.due == 5.0
    assert ledger.commit_point(P0) == 3
    assert ledger.settle(behind, now=6.0) is None
    assert ledger.commit_point(P0) == 5 and not ledger.is_parked(P0, b"a")


def test_due_heads_come_earliest_first_and_forgotten_partitions_leave_nothing_behind():
    ledger = Ledger()
    late, soon, other = Parked(P0, 1, b"a", None, due=9.0), Parked(P0, 2, b"b", None, due=1.0), \
        Parked(P1, 0, b"a", None, due=2.0)
    for entry in (late, soon, other):
        ledger.park(entry)
        ledger.took(entry.where, entry.offset)
    assert ledger.due(now=5.0) == [soon, other] and ledger.next_due() == 1.0
    ledger.forget([P0])
    assert ledger.heads() == [other] and ledger.commit_point(P0) is None and ledger.waiting(P0) == 0


def test_records_without_a_key_have_no_order_to_keep_and_never_wait_behind_each_other():
    ledger = Ledger()
    first, second = Parked(P0, 1, None, None), Parked(P0, 2, None, None)
    ledger.park(first)
    ledger.park(second)
    assert ledger.heads() == [first, second] and not ledger.is_parked(P0, None)
    assert ledger.settle(second, now=1.0) is None and ledger.unsettled[P0] == {1}


# --- the consumer with a fake store and a fake Kafka consumer ------------------------------------

class Store:
    """Committed state: what handlers applied, the inbox, the dead letters recorded."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.inbox: set[str] = set()
        self.dead_lettered: set[tuple] = set()
        self.known: set[str] = set()  # comments whose data has "arrived"; others wait when they say "wait:"
        self.calls: dict[str, int] = {}


class Conn:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def fetch(self, sql: str, topics_, partitions, offsets):
        assert "FROM dead_lettered" in sql
        return [{"topic": t, "partition": p, "offset": o} for t, p, o in zip(topics_, partitions, offsets)
                if (t, p, o) in self.store.dead_lettered]

    async def execute(self, sql: str, topics_, partitions, offsets):
        assert sql.startswith("INSERT INTO dead_lettered")
        self.store.dead_lettered.update(zip(topics_, partitions, offsets))


class Uow:
    def __init__(self, store: Store) -> None:
        self.store, self.conn, self.cause = store, Conn(store), None
        self.applied: list[str] = []
        self.inbox: set[str] = set()

    async def claim_inbox(self, topic, event_id, event_type, digest) -> bool:
        if event_id in self.store.inbox or event_id in self.inbox:
            return False
        self.inbox.add(event_id)
        return True


class Producer:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


class Kafka:
    """Stands in for the AIOKafkaConsumer: what was committed, paused and sought."""

    def __init__(self, partitions: Iterable[Partition]) -> None:
        self.partitions = {TopicPartition(*p) for p in partitions}
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()

    def assignment(self):
        return set(self.partitions)

    async def position(self, tp):
        # Nothing here is rebalanced: every batch handed over is the one just fetched, so the position
        # is past it (rebalances: test_consumer_rebalance.py).
        return 2**63 - 1

    async def commit(self, offsets):
        self.commits.append(dict(offsets))

    def committed_to(self, where: Partition) -> int | None:
        tp = TopicPartition(*where)
        return next((c[tp] for c in reversed(self.commits) if tp in c), None)

    def pause(self, *tps):
        self.paused.update(tps)

    def resume(self, *tps):
        self.paused.difference_update(tps)

    def seek(self, tp, offset):
        raise AssertionError("nothing failed to be taken")


async def on_feedback(data: ev.FeedbackSubmitted, uow: Uow, deps) -> None:
    uow.store.calls[data.feedback_id] = uow.store.calls.get(data.feedback_id, 0) + 1
    comment = data.comment or ""
    if comment.startswith("wait:") and comment not in uow.store.known:
        raise NotYetKnown(f"{data.feedback_id} is not known yet")
    uow.applied.append(data.feedback_id)


def make(store: Store, **limits) -> tuple[Consumer, Runtime, Producer]:
    producer = Producer()

    @contextlib.asynccontextmanager
    async def transaction():
        uow = Uow(store)
        yield uow
        store.applied += uow.applied  # committed only when the handler did not raise
        store.inbox |= uow.inbox

    runtime = Runtime(name="plumbing", topic_prefix="", producer=producer, transaction=transaction,  # type: ignore[arg-type]
                      claim_inbox=claim_through_uow,
                      limits=Limits(**{"backoff": 0.001, "backoff_max": 0.005, "max_deferrals": 10_000, **limits}))
    return Consumer("plumbing", {ev.FeedbackSubmitted: on_feedback}), runtime, producer


def record(offset: int, fid: str, key: str, comment: str = "fine", partition: int = 0) -> ConsumerRecord:
    data = ev.FeedbackSubmitted(feedback_id=fid, relationship_id=key, participant_id="p", rating=4, comment=comment)
    value = new_envelope(type="feedback.submitted", source="/t", data=data, time="2027-01-04T10:00:00Z",
                         id=f"id-{fid}").to_json()
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, key.encode(), value, None, 0, len(value), ())


async def test_a_waiting_event_holds_only_its_key_and_its_key_keeps_its_order():
    store = Store()
    consumer, runtime, _ = make(store)
    records = [record(0, "a1", "a", "wait:a1"), record(1, "b1", "b"), record(2, "a2", "a"), record(3, "b2", "b"),
               record(4, "a3", "a")]
    lot = _lot(consumer)
    outcomes = await consumer._take(runtime, lot, {TOPIC: records})
    # The batch went on without a1: b's events applied, a's later events wait behind a1.
    assert store.applied == ["b1", "b2"] and store.calls["a1"] == 1 and "a2" not in store.calls
    assert lot.ledger.commit_point(P0) == 0
    store.known.add("wait:a1")
    assert [await o for o in outcomes] == ["handled"] * 5
    assert store.applied == ["b1", "b2", "a1", "a2", "a3"]
    assert lot.ledger.commit_point(P0) == 5


async def test_a_failure_is_retried_alone_and_its_neighbours_are_not_applied_again():
    store = Store()
    consumer, runtime, _ = make(store)
    records = [record(0, "b1", "b"), record(1, "a1", "a", "wait:a1"), record(2, "c1", "c")]
    outcomes = await consumer._take(runtime, _lot(consumer), {TOPIC: records})
    assert store.applied == ["b1", "c1"]
    calls_before = dict(store.calls)
    store.known.add("wait:a1")
    assert [await o for o in outcomes] == ["handled"] * 3
    # b1 ran twice (its batch transaction was rolled back with a1's failure), then never again.
    assert store.calls["b1"] == calls_before["b1"] == 2 and store.calls["c1"] == 1
    assert store.applied == ["b1", "c1", "a1"]


async def test_given_up_after_its_deferrals_it_is_dead_lettered_once_and_its_key_goes_on():
    store = Store()
    consumer, runtime, producer = make(store, max_deferrals=3)
    outcomes = await consumer.dispatch_batch(runtime, TOPIC, [record(0, "a1", "a", "wait:never"),
                                                              record(1, "a2", "a")])
    assert outcomes == ["dead_lettered", "handled"]
    assert producer.letters == [(0, "still unknown after 3 attempts: a1 is not known yet")]
    assert store.calls["a1"] == 3 and store.applied == ["a2"]
    assert store.dead_lettered == {(TOPIC, 0, 0)}

    # Handed over again (a redelivery): tried once in its batch, then found among the dead letters.
    again = await consumer.dispatch_batch(runtime, TOPIC, [record(0, "a1", "a", "wait:never"), record(1, "a2", "a")])
    assert again == ["duplicate", "duplicate"]
    assert store.calls["a1"] == 4 and len(producer.letters) == 1


async def test_offsets_are_committed_up_to_the_lowest_unsettled_record_of_each_partition():
    store = Store()
    consumer, runtime, _ = make(store)
    lot = _lot(consumer)
    lot.kafka = kafka = Kafka([P0, P1])  # type: ignore[assignment]
    first = await consumer._take(runtime, lot, {TOPIC: [record(0, "a1", "a", "wait:a1"), record(1, "b1", "b"),
                                                        record(0, "c1", "c", partition=1)]})
    assert kafka.committed_to(P0) == 0 and kafka.committed_to(P1) == 1
    # Later batches go on; the partition's commit point stays at the parked record.
    second = await consumer._take(runtime, lot, {TOPIC: [record(2, "b2", "b"), record(3, "a2", "a"),
                                                         record(1, "c2", "c", partition=1)]})
    assert store.applied == ["b1", "c1", "b2", "c2"]
    assert kafka.committed_to(P0) == 0 and kafka.committed_to(P1) == 2
    store.known.add("wait:a1")
    assert [await o for o in first + second] == ["handled"] * 6
    await eventually(lambda: _async(kafka.committed_to(P0) == 4), 5, "the commit past the parked records")
    assert store.applied[-2:] == ["a1", "a2"]


async def test_a_partition_holding_too_many_parked_records_is_paused_until_they_settle():
    store = Store()
    consumer, runtime, _ = make(store, max_parked=2)
    lot = _lot(consumer)
    lot.kafka = kafka = Kafka([P0])  # type: ignore[assignment]
    outcomes = await consumer._take(runtime, lot, {TOPIC: [record(0, "a1", "a", "wait:x"), record(1, "a2", "a")]})
    assert kafka.paused == {TopicPartition(TOPIC, 0)}
    store.known.add("wait:x")
    assert [await o for o in outcomes] == ["handled", "handled"]
    await eventually(lambda: _async(not kafka.paused), 5, "the partition resumed")


def _lot(consumer: Consumer):
    from shared.consumer import _Lot

    return _Lot("test")


async def _async(value):
    return value


@pytest.fixture(autouse=True)
async def _no_parking_task_left_behind():
    yield
    import asyncio

    left = [t for t in asyncio.all_tasks() if t.get_name().endswith(" parked") and not t.done()]
    for task in left:
        task.cancel()
    assert not left, "a parking task outlived its records"


async def test_a_batch_whose_commit_failed_once_is_applied_again_whole_and_nothing_is_parked():
    """The commit itself failed (a connection lost, a serialization failure): every event ran, none
    failed. The batch is applied again, and with nothing left to park the consumer goes on."""
    store = Store()
    consumer, runtime, _ = make(store)
    commits = {"failed": 0}

    @contextlib.asynccontextmanager
    async def transaction():
        uow = Uow(store)
        yield uow
        if not commits["failed"]:
            commits["failed"] += 1
            raise ConnectionResetError("the connection was lost while committing")
        store.applied += uow.applied
        store.inbox |= uow.inbox

    runtime.transaction = transaction
    lot = _lot(consumer)
    outcomes = await consumer._take(runtime, lot, {TOPIC: [record(0, "a1", "a"), record(1, "b1", "b")]})
    assert [await o for o in outcomes] == ["handled", "handled"]
    assert store.applied == ["a1", "b1"] and not lot.ledger.queues


# --- data on its way: an early try when the service applies other events -----------------------

def _parked_head(lot) -> Parked:
    (head,) = lot.ledger.heads()
    return head


async def test_a_record_waiting_for_data_is_tried_again_as_soon_as_its_service_applies_other_events():
    """A match request ahead of its mentee's profile: the profile is applied by another subscriber of
    the same service, and the request goes at once instead of after its backoff."""
    from shared.consumer import _Lot

    store = Store()
    consumer, runtime, _ = make(store, max_deferrals=3)
    requests, profiles = _Lot("requests"), _Lot("profiles")
    consumer._lots += [requests, profiles]  # as attaching the subscribers to a broker does
    (outcome,) = await consumer._take(runtime, requests, {TOPIC: [record(0, "a1", "a", "wait:a1")]})
    head = _parked_head(requests)
    head.due = time.monotonic() + 3600  # a long backoff: only an early try settles it within this test

    store.known.add("wait:a1")  # what the next batch brings
    await consumer._take(runtime, profiles, {TOPIC: [record(1, "b1", "b")]})
    assert await asyncio.wait_for(outcome, 5) == "handled"
    assert store.applied == ["b1", "a1"] and store.calls["a1"] == 2
    await consumer.close()


async def test_early_tries_that_still_find_nothing_are_not_counted_and_are_few_between_counted_tries():
    from shared.consumer import EARLY_TRIES, _Lot

    store = Store()
    consumer, runtime, producer = make(store, max_deferrals=2)
    requests, profiles = _Lot("requests"), _Lot("profiles")
    consumer._lots += [requests, profiles]
    (outcome,) = await consumer._take(runtime, requests, {TOPIC: [record(0, "a1", "a", "wait:a1")]})
    head = _parked_head(requests)
    later = head.due = time.monotonic() + 3600

    for k in range(EARLY_TRIES):  # batches without the data: each brings an early try, further apart
        await consumer._take(runtime, profiles, {TOPIC: [record(1 + k, f"b{k}", "b")]})
        await eventually(lambda k=k: _async(store.calls["a1"] == 2 + k), 5, f"early try {k + 1}")
        assert head.due == later and head.item.counts["not_yet_known"] == 1  # not counted; the counted try stays due
    await consumer._take(runtime, profiles, {TOPIC: [record(9, "b9", "b")]})
    assert head.due == later  # no more early tries before the counted one (the wake-up is immediate)

    head.due = time.monotonic()  # its counted try comes: the second of max_deferrals, so it is given up
    requests.wake.set()
    assert await asyncio.wait_for(outcome, 5) == "dead_lettered"
    assert store.calls["a1"] == 2 + EARLY_TRIES
    assert producer.letters == [(0, "still unknown after 2 attempts: a1 is not known yet")]
    await consumer.close()
