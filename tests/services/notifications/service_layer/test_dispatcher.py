"""The delivery loop on a fake database and fake senders: each delivery is sent at most once."""

from __future__ import annotations

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


def delivery(did: str = "d1", *, not_before: datetime = NOW, **changes) -> Delivery:
    return Delivery(delivery_id=did, recipient_id="ana", channel="email", template="reminder_due", language="en",
                    cause_event_id="e1", cause_type="reminder.due", address="ana@example.com", subject="s",
                    body="b", not_before=not_before, **changes)


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase(FixedClock(NOW))


def dispatcher(db: FakeDatabase, sender: FakeSender, settings: NotificationSettings = SETTINGS) -> Dispatcher:
    return Dispatcher(db.transaction, db.clock, settings, {"email": sender, "webhook": sender})


async def test_a_due_delivery_is_sent_once_and_announced(db):
    db.log["d1"] = delivery()
    sender = FakeSender()
    loop = dispatcher(db, sender)
    await loop.step()
    await loop.step()
    assert [m.delivery_id for m in sender.sent] == ["d1"]
    assert db.log["d1"].status == "delivered" and db.log["d1"].attempts == 1
    (delivered,) = db.published
    assert isinstance(delivered, ev.NotificationDelivered) and delivered.delivered_at == NOW


async def test_a_delivery_not_yet_due_waits_and_the_loop_knows_how_long(db):
    db.log["d1"] = delivery(not_before=NOW + timedelta(minutes=5))
    sender = FakeSender()
    outcome = await dispatcher(db, sender).step()
    assert sender.sent == [] and outcome.due_in == 300 and not outcome.more


async def test_a_full_batch_asks_for_another_pass_at_once(db):
    for i in range(SETTINGS.delivery_batch):
        db.log[f"d{i}"] = delivery(f"d{i}")
    assert (await dispatcher(db, FakeSender()).step()).more


async def test_nothing_delivered_is_tried_again_later_with_jitter_then_given_up(db):
    db.log["d1"] = delivery()
    busy = TryAgain("the mail server answered 451")
    sender = FakeSender(busy, busy, busy)
    loop = dispatcher(db, sender)
    await loop.step()
    retry = db.log["d1"]
    assert retry.status == "pending" and retry.last_error == "the mail server answered 451"
    assert NOW <= retry.not_before <= NOW + timedelta(seconds=2)  # first wait: up to 2 s, at random
    assert db.published == []
    for _ in range(2):
        db.clock.at = db.log["d1"].not_before
        await loop.step()
    assert len(sender.sent) == 3 and db.log["d1"].status == "failed"
    (failed,) = db.of_type(ev.NotificationFailed)
    assert failed.error == "gave up after 3 attempts: the mail server answered 451" and failed.attempts == 3


async def test_a_refusal_fails_it_at_once(db):
    db.log["d1"] = delivery()
    await dispatcher(db, FakeSender(GiveUp("the mail server refused the recipient (550)"))).step()
    (failed,) = db.published
    assert failed.error == "the mail server refused the recipient (550)" and db.log["d1"].status == "failed"


async def test_an_unexpected_error_while_sending_fails_it_without_its_text(db, caplog):
    db.log["d1"] = delivery()
    sender = FakeSender(ValueError("bad address ana@example.com"))
    loop = dispatcher(db, sender)
    await loop.step()
    await loop.step()
    assert len(sender.sent) == 1 and db.log["d1"].status == "failed"
    (failed,) = db.published
    assert failed.error == "unexpected ValueError while sending; not resent, to avoid sending it twice"
    assert "ana@example.com" not in caplog.text


async def test_a_send_interrupted_by_a_crash_is_reported_after_the_lease_never_resent(db):
    db.log["d1"] = delivery(status="sending", attempts=1, claimed_at=NOW - timedelta(seconds=30), version=1)
    sender = FakeSender()
    loop = dispatcher(db, sender)
    await loop.step()
    assert db.log["d1"].status == "sending" and db.published == []  # may still be being sent elsewhere
    db.clock.advance(seconds=91)
    await loop.step()
    assert sender.sent == [] and db.log["d1"].status == "failed"
    (failed,) = db.published
    assert failed.error == INTERRUPTED


async def test_of_two_replicas_racing_for_a_delivery_exactly_one_sends_it(db):
    db.log["d1"] = delivery()
    first, second = FakeSender(), FakeSender()
    async with db.transaction() as uow:
        seen_by_first = await uow.deliveries.get("d1")
        seen_by_second = await uow.deliveries.get("d1")
    await dispatcher(db, first).send(seen_by_first)
    await dispatcher(db, second).send(seen_by_second)  # loaded before the first claim: its claim loses
    assert len(first.sent) + len(second.sent) == 1
    assert len(db.published) == 1 and db.log["d1"].status == "delivered"


async def test_the_outcome_is_recorded_even_when_the_database_is_away_for_a_moment(db):
    db.log["d1"] = delivery()
    sender = FakeSender()

    class AwayAfterTheSend(FakeSender):
        async def send(self, message: Message) -> None:
            await sender.send(message)
            db.fail_next = 2  # the next two attempts to record the outcome fail

    await dispatcher(db, AwayAfterTheSend()).step()
    assert len(sender.sent) == 1 and db.log["d1"].status == "delivered"
    assert len(db.of_type(ev.NotificationDelivered)) == 1
