"""The delivery loop on a fake database and fake senders: each delivery is sent at most once, and a
slow endpoint holds back only its own messages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.senders import GiveUp, Message, TryAgain
from services.notifications.domain.delivery import INTERRUPTED, Delivery
from services.notifications.service_layer.loops import Dispatcher
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from tests.services.notifications.fakes import FakeDatabase
from tests.support.fakes import FixedClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
SETTINGS = NotificationSettings(delivery_max_attempts=3, delivery_retry_seconds=2.0, delivery_retry_max_seconds=60.0,
                                delivery_batch=10, sending_lease_seconds=120.0)


class FakeSender:
    """Answers each send with the next of `answers` (None: delivered) and remembers what it sent."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer


def delivery(did: str = "d1", *, not_before: datetime = NOW, channel: str = "email",
             address: str = "ana@example.com", **changes) -> Delivery:
    return Delivery(delivery_id=did, recipient_id="ana", channel=channel, template="reminder_due", language="en",
                    cause_event_id="e1", cause_type="reminder.due", address=address, subject="s",
                    body="b", not_before=not_before, **changes)


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase(FixedClock(NOW))


def dispatcher(db: FakeDatabase, sender: FakeSender, settings: NotificationSettings = SETTINGS) -> Dispatcher:
    return Dispatcher(db.transaction, db.clock, settings, {"email": sender, "webhook": sender})


async def run(loop: Dispatcher):
    """One pass, and the sends it started, to their recorded end."""
    outcome = await loop.step()
    await loop.idle()
    return outcome


async def test_a_due_delivery_is_sent_once_and_announced(db):
    db.log["d1"] = delivery()
    sender = FakeSender()
    loop = dispatcher(db, sender)
    await run(loop)
    await run(loop)
    assert [m.delivery_id for m in sender.sent] == ["d1"]
    assert db.log["d1"].status == "delivered" and db.log["d1"].attempts == 1
    (delivered,) = db.published
    assert isinstance(delivered, ev.NotificationDelivered) and delivered.delivered_at == NOW


async def test_a_delivery_not_yet_due_waits_and_the_loop_knows_how_long(db):
    db.log["d1"] = delivery(not_before=NOW + timedelta(minutes=5))
    sender = FakeSender()
    outcome = await run(dispatcher(db, sender))
    assert sender.sent == [] and outcome.due_in == 300 and not outcome.more


async def test_a_pass_cut_short_asks_for_another_at_once_and_one_that_took_all_it_saw_does_not(db):
    settings = SETTINGS.model_copy(update={"delivery_concurrency": 4, "webhook_per_endpoint": 1})
    for i in range(3):
        db.log[f"d{i}"] = delivery(f"d{i}")
    loop = Dispatcher(db.transaction, db.clock, settings, {"email": FakeSender(), "webhook": FakeSender()})
    assert not (await run(loop)).more and {d.status for d in db.log.values()} == {"delivered"}
    # Four webhooks to one endpoint (room for one) fill the look: the rest may be for others.
    for i in range(4):
        db.log[f"w{i}"] = webhook(f"w{i}", "https://one.example/hook", not_before=NOW - timedelta(minutes=1))
    db.log["other"] = webhook("other", "https://other.example/hook")
    assert (await run(loop)).more
    await run(loop)
    assert db.log["other"].status == "delivered"  # found by the pass that followed at once


async def test_nothing_delivered_is_tried_again_later_with_jitter_then_given_up(db):
    db.log["d1"] = delivery()
    busy = TryAgain("the mail server answered 451")
    sender = FakeSender(busy, busy, busy)
    loop = dispatcher(db, sender)
    await run(loop)
    retry = db.log["d1"]
    assert retry.status == "pending" and retry.last_error == "the mail server answered 451"
    assert NOW <= retry.not_before <= NOW + timedelta(seconds=2)  # first wait: up to 2 s, at random
    assert db.published == []
    for _ in range(2):
        db.clock.at = db.log["d1"].not_before
        await run(loop)
    assert len(sender.sent) == 3 and db.log["d1"].status == "failed"
    (failed,) = db.of_type(ev.NotificationFailed)
    assert failed.error == "gave up after 3 attempts: the mail server answered 451" and failed.attempts == 3


async def test_a_refusal_fails_it_at_once(db):
    db.log["d1"] = delivery()
    await run(dispatcher(db, FakeSender(GiveUp("the mail server refused the recipient (550)"))))
    (failed,) = db.published
    assert failed.error == "the mail server refused the recipient (550)" and db.log["d1"].status == "failed"


async def test_an_unexpected_error_while_sending_fails_it_without_its_text(db, caplog):
    db.log["d1"] = delivery()
    sender = FakeSender(ValueError("bad address ana@example.com"))
    loop = dispatcher(db, sender)
    await run(loop)
    await run(loop)
    assert len(sender.sent) == 1 and db.log["d1"].status == "failed"
    (failed,) = db.published
    assert failed.error == "unexpected ValueError while sending; not resent, to avoid sending it twice"
    assert "ana@example.com" not in caplog.text


async def test_a_send_interrupted_by_a_crash_is_reported_after_the_lease_never_resent(db):
    db.log["d1"] = delivery(status="sending", attempts=1, claimed_at=NOW - timedelta(seconds=30), version=1)
    sender = FakeSender()
    loop = dispatcher(db, sender)
    await run(loop)
    assert db.log["d1"].status == "sending" and db.published == []  # may still be being sent elsewhere
    db.clock.advance(seconds=91)
    await run(loop)
    assert sender.sent == [] and db.log["d1"].status == "failed"
    (failed,) = db.published
    assert failed.error == INTERRUPTED


async def test_of_two_replicas_racing_for_the_same_deliveries_each_is_sent_once(db):
    for i in range(6):
        db.log[f"d{i}"] = delivery(f"d{i}")
    first, second = FakeSender(), FakeSender()
    one, other = dispatcher(db, first), dispatcher(db, second)
    await asyncio.gather(one.step(), other.step(), one.step(), other.step())
    await asyncio.gather(one.idle(), other.idle())
    sent = [m.delivery_id for m in first.sent + second.sent]
    assert sorted(sent) == [f"d{i}" for i in range(6)]
    assert len(db.published) == 6 and {d.status for d in db.log.values()} == {"delivered"}


async def test_the_outcome_is_recorded_even_when_the_database_is_away_for_a_moment(db):
    db.log["d1"] = delivery()
    sender = FakeSender()

    class AwayAfterTheSend(FakeSender):
        async def send(self, message: Message) -> None:
            await sender.send(message)
            db.fail_next = 2  # the next two attempts to record the outcome fail

    await run(dispatcher(db, AwayAfterTheSend()))
    assert len(sender.sent) == 1 and db.log["d1"].status == "delivered"
    assert len(db.of_type(ev.NotificationDelivered)) == 1


class Gate(FakeSender):
    """Holds every send until `open` is set, as a slow endpoint does."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.waiting: list[str] = []

    async def send(self, message: Message) -> None:
        self.waiting.append(message.delivery_id)
        await self.open.wait()
        await super().send(message)


def webhook(did: str, url: str, **changes) -> Delivery:
    return delivery(did, channel="webhook", address=url, **changes)


async def until(check) -> None:
    while not check():
        await asyncio.sleep(0)


async def test_a_slow_endpoint_holds_back_only_its_own_messages(db):
    settings = SETTINGS.model_copy(update={"webhook_per_endpoint": 2, "delivery_concurrency": 8})
    for i in range(5):
        db.log[f"slow{i}"] = webhook(f"slow{i}", f"https://slow.example:8443/hook/{i}")
    db.log["fast"] = webhook("fast", "https://fast.example/hook")
    db.log["mail"] = delivery("mail")
    slow, fast = Gate(), FakeSender()

    class ByHost(FakeSender):
        async def send(self, message: Message) -> None:
            await (slow if "slow.example" in message.address else fast).send(message)

    loop = Dispatcher(db.transaction, db.clock, settings, {"email": fast, "webhook": ByHost()})
    while (await loop.step()).more:
        pass
    await until(lambda: db.log["fast"].status == db.log["mail"].status == "delivered")
    # The mail and the other endpoint's message went out while two slow sends hang (its limit).
    assert sorted(m.delivery_id for m in fast.sent) == ["fast", "mail"]
    assert sorted(slow.waiting) == ["slow0", "slow1"]
    assert [db.log[f"slow{i}"].status for i in range(5)] == ["sending"] * 2 + ["pending"] * 3
    slow.open.set()
    while any(d.status != "delivered" for d in db.log.values()):  # each end of a send wakes the loop
        await run(loop)
    assert {db.log[f"slow{i}"].status for i in range(5)} == {"delivered"} and len(slow.sent) == 5


async def test_no_more_sends_are_claimed_than_the_overall_limit(db):
    settings = SETTINGS.model_copy(update={"delivery_concurrency": 3, "webhook_per_endpoint": 10})
    for i in range(5):
        db.log[f"d{i}"] = webhook(f"d{i}", f"https://host{i}.example/hook")
    gate = Gate()
    loop = Dispatcher(db.transaction, db.clock, settings, {"webhook": gate})
    assert not (await loop.step()).more  # full: the end of a send wakes the loop
    await until(lambda: len(gate.waiting) == 3)
    assert sum(d.status == "sending" for d in db.log.values()) == 3
    woken = asyncio.create_task(loop.wake.wait(5))
    gate.open.set()
    await woken
    while any(d.status != "delivered" for d in db.log.values()):
        await run(loop)
    assert len(gate.sent) == 5


async def test_sends_still_in_flight_at_shutdown_are_left_to_the_lease(db):
    db.log["d1"] = delivery()
    gate = Gate()
    loop = dispatcher(db, gate)
    await loop.step()
    await until(lambda: gate.waiting)
    await loop.close(grace=0.01)  # never opened: cancelled
    assert db.log["d1"].status == "sending" and db.published == []
    db.clock.advance(seconds=121)
    await run(loop)
    assert gate.sent == [] and db.log["d1"].status == "failed" and db.published[0].error == INTERRUPTED


async def test_outcomes_that_come_in_together_are_recorded_together(db):
    for i in range(20):
        db.log[f"d{i}"] = delivery(f"d{i}")
    settings = SETTINGS.model_copy(update={"smtp_concurrency": 20, "delivery_batch": 50})
    gate = Gate()
    loop = Dispatcher(counting(db), db.clock, settings, {"email": gate})
    await loop.step()
    await until(lambda: len(gate.waiting) == 20)
    before = db.transactions
    gate.open.set()
    await loop.idle()
    assert {d.status for d in db.log.values()} == {"delivered"} and len(db.published) == 20
    assert db.transactions - before <= 2  # not one per delivery


async def test_a_crash_leaves_at_most_the_claims_in_flight_and_they_are_reported_never_resent(db):
    for i in range(30):
        db.log[f"d{i:02}"] = delivery(f"d{i:02}")
    settings = SETTINGS.model_copy(update={"smtp_concurrency": 4})
    hung = Gate()
    crashed = Dispatcher(db.transaction, db.clock, settings, {"email": hung})
    await crashed.step()
    await until(lambda: len(hung.waiting) == 4)
    assert sum(d.status == "sending" for d in db.log.values()) == 4  # claimed: the most a crash can leave
    await crashed.close(grace=0)  # the process dies mid-send
    db.clock.advance(seconds=121)
    after = FakeSender()
    loop = Dispatcher(db.transaction, db.clock, settings, {"email": after})
    while any(d.status in ("pending", "sending") for d in db.log.values()):
        await run(loop)
    failed = db.of_type(ev.NotificationFailed)
    assert sorted(f.notification_id for f in failed) == sorted(hung.waiting)
    assert {f.error for f in failed} == {INTERRUPTED} and hung.sent == []
    assert sorted(m.delivery_id for m in after.sent) == sorted(set(db.log) - set(hung.waiting))


def counting(db: FakeDatabase):
    """db.transaction, counting the transactions in `db.transactions`."""
    db.transactions = 0

    def transaction():
        db.transactions += 1
        return db.transaction()
    return transaction
