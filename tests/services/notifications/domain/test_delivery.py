"""The delivery state machine: pending -> sending -> delivered | failed | pending again (retry).

Sent at most once rests on these rules: only a pending, due delivery can be claimed; only a claimed
one can end; only "nothing was delivered" leads back to pending; an interrupted send is failed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.compose import Outgoing
from services.notifications.domain.delivery import (
    INTERRUPTED,
    Delivery,
    InvalidTransition,
    delivery_id,
    plan,
)
from shared.contracts import events as ev
from tests.services.notifications.fakes import participant

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def pending(**changes) -> Delivery:
    return Delivery(**{"delivery_id": "d1", "recipient_id": "ana", "channel": "email", "template": "reminder_due",
                       "language": "en", "cause_event_id": "e1", "cause_type": "reminder.due",
                       "address": "ana@example.com", "subject": "s", "body": "b", "not_before": NOW, **changes})


def claimed(**changes) -> Delivery:
    delivery = pending(**changes)
    delivery.claim(NOW)
    return delivery


def test_a_due_delivery_is_claimed_for_one_attempt():
    delivery = pending()
    delivery.claim(NOW)
    assert (delivery.status, delivery.attempts, delivery.claimed_at, delivery.version) == ("sending", 1, NOW, 1)


def test_only_a_pending_delivery_whose_time_has_come_can_be_claimed():
    with pytest.raises(InvalidTransition, match="not due before"):
        pending(not_before=NOW + timedelta(seconds=1)).claim(NOW)
    delivery = claimed()
    with pytest.raises(InvalidTransition, match="cannot claim delivery d1: it is sending"):
        delivery.claim(NOW)  # a claimed delivery is never claimed (sent) again


def test_a_delivered_message_is_announced_and_settled():
    delivery = claimed(last_error="the mail server answered 451")
    event = delivery.delivered(NOW)
    assert event == ev.NotificationDelivered(notification_id="d1", recipient_id="ana", channel="email",
                                             template="reminder_due", language="en", cause_event_id="e1",
                                             delivered_at=NOW)
    assert (delivery.status, delivery.delivered_at, delivery.last_error, delivery.version) == ("delivered", NOW,
                                                                                              None, 2)
    for settle in (lambda: delivery.fail("x"), lambda: delivery.claim(NOW), lambda: delivery.delivered(NOW)):
        with pytest.raises(InvalidTransition):
            settle()


def test_nothing_delivered_means_pending_again_until_the_attempts_run_out():
    delivery = claimed()
    retry_at = NOW + timedelta(seconds=3)
    assert delivery.try_later("the mail server answered 451", retry_at=retry_at, max_attempts=2) is None
    assert (delivery.status, delivery.not_before, delivery.last_error) == ("pending", retry_at,
                                                                           "the mail server answered 451")
    delivery.claim(retry_at)
    failed = delivery.try_later("the mail server answered 451", retry_at=retry_at, max_attempts=2)
    assert failed.error == "gave up after 2 attempts: the mail server answered 451" and failed.attempts == 2
    assert delivery.status == "failed" and delivery.version == 4


def test_a_refusal_or_an_unknown_outcome_fails_it_for_good():
    delivery = claimed()
    failed = delivery.fail("the mail server refused the recipient (550)")
    assert failed == ev.NotificationFailed(notification_id="d1", recipient_id="ana", channel="email",
                                           template="reminder_due", cause_event_id="e1",
                                           error="the mail server refused the recipient (550)", attempts=1)
    with pytest.raises(InvalidTransition, match="it is failed"):
        delivery.try_later("x", retry_at=NOW, max_attempts=5)


def test_a_settled_mail_drops_its_bytes_and_one_to_try_again_keeps_them():
    # The bytes were only kept to be sent; they name people (docs/privacy.md).
    for settle in (lambda d: d.delivered(NOW), lambda d: d.fail("x"), lambda d: d.interrupted(NOW + LEASE, LEASE),
                   lambda d: d.try_later("x", retry_at=NOW, max_attempts=1)):
        delivery = claimed(mime=b"Date: x\r\n\r\nHello Ana\r\n")
        settle(delivery)
        assert delivery.mime is None
    again = claimed(mime=b"Date: x\r\n\r\nHello Ana\r\n")
    again.try_later("x", retry_at=NOW, max_attempts=5)
    assert again.status == "pending" and again.mime == b"Date: x\r\n\r\nHello Ana\r\n"


def test_a_pending_delivery_has_no_outcome_to_record():
    for record in (lambda d: d.delivered(NOW), lambda d: d.fail("x"), lambda d: d.interrupted(NOW, LEASE),
                   lambda d: d.try_later("x", retry_at=NOW, max_attempts=5)):
        with pytest.raises(InvalidTransition, match="it is pending"):
            record(pending())


def test_a_send_interrupted_past_its_lease_is_failed_never_resent():
    delivery = claimed()
    with pytest.raises(InvalidTransition, match="may still be being sent"):
        delivery.interrupted(NOW + LEASE - timedelta(seconds=1), LEASE)
    failed = delivery.interrupted(NOW + LEASE, LEASE)
    assert failed.error == INTERRUPTED and delivery.status == "failed"
    assert "interrupted while sending" in INTERRUPTED and "not resent" in INTERRUPTED


def test_planning_renders_routes_and_times_each_message():
    ana = participant("ana", locale="nl-BE", style="indirect", tz="America/Sao_Paulo", quiet=("21:00", "07:30"))
    bram = participant("bram", channel="webhook", webhook_url="https://chat.example/b")
    gone = participant("carl", active=False)
    night = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)  # 22:00 in Sao Paulo
    outgoing = [Outgoing(p, "milestone_achieved", {"recipient_name": p, "achiever_name": "Ana", "milestone": "x",
                                                   "reader": "partner"}) for p in ("ana", "bram", "carl")]
    to_ana, to_bram = plan(outgoing, {"ana": ana, "bram": bram, "carl": gone}, cause_event_id="e1",
                           cause_type="milestone.achieved", now=night)
    assert to_ana.delivery_id == delivery_id("e1", "ana", "milestone_achieved") != to_bram.delivery_id
    assert (to_ana.language, to_ana.subject) == ("nl", "Iets om te vieren: x")  # Dutch, indirect
    assert to_ana.not_before == datetime(2027, 1, 5, 10, 30, tzinfo=UTC)  # after her quiet hours
    assert (to_bram.channel, to_bram.address, to_bram.not_before) == ("webhook", "https://chat.example/b", night)
    assert all(d.status == "pending" and d.version == 0 for d in (to_ana, to_bram))
