"""Notifications as a service: real Kafka, real Postgres, real SMTP (a local mail server on disk)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.delivery import Delivery
from services.notifications.entrypoints.app import build_service
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.outbox import events_written
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday noon UTC


@pytest.fixture
def ids():
    tag = uuid.uuid4().hex[:6]
    return {"mentor": f"mentor-{tag}", "mentee": f"mentee-{tag}", "rel": f"rel-{tag}"}


@pytest.fixture
def settings(database_url, bootstrap_servers, topic_prefix, infrastructure):
    return settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=START, clock_speed=1.0,
                        smtp_port=infrastructure.smtp_port)


def mails_to(infrastructure, address: str):
    return [m for m in read_mailbox(infrastructure.mail_dir) if m["To"] == address]


async def test_introduction_in_each_persons_language_and_tone_once(settings, infrastructure, ids, bootstrap_servers, topic_prefix):
    async with build_service(settings).running(), Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), locale="nl-NL", languages=("nl", "en"),
                                    style="indirect", seniority=7, capacity=1))
        await pub.publish(onboarded(pid=ids["mentee"], locale="en-GB", tz="Asia/Kathmandu", goals=("public speaking",)))
        event = ev.MatchEstablished(relationship_id=ids["rel"], proposal_id="p", program_id="prog-1",
                                    mentee_id=ids["mentee"], mentor_id=ids["mentor"], established_at=START,
                                    goals=["public speaking"])
        envelope = await pub.publish(event)
        await pub.send_raw(topics.MATCHES, envelope.to_json(), key=ids["rel"])  # delivered twice
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2, 30, "two deliveries")
        await asyncio.sleep(1.0)
    to_mentor = mails_to(infrastructure, f"{ids['mentor']}@example.com")
    to_mentee = mails_to(infrastructure, f"{ids['mentee']}@example.com")
    assert len(to_mentor) == 1 and len(to_mentee) == 1
    assert to_mentor[0]["Subject"] == f"Een kennismaking: {ids['mentee'].replace('-', ' ').title()}"
    assert to_mentor[0]["Content-Language"] == "nl"
    text = to_mentor[0].get_body(("plain",)).get_content()
    assert "tijd in Nepal" in text and "Asia/Kathmandu" not in text  # the zone by its name, in Dutch
    assert to_mentor[0].get_body(("html",)).get_content().startswith("<!DOCTYPE html>")
    # An introduction cannot be switched off (no one-click unsubscribe); it links to the pair's agreement.
    assert to_mentor[0]["List-Unsubscribe"] is None and "/a/" in text
    assert to_mentee[0]["Subject"].startswith("Meet your mentor")
    delivered = out.of_type("notification.delivered")
    assert len(delivered) == 2 and {d.data["language"] for d in delivered} == {"nl", "en"}
    assert {d.data["cause_event_id"] for d in delivered} == {envelope.id}
    log = await fetch(settings.database_url, "SELECT status, template FROM notifications.deliveries")
    assert [(r["status"], r["template"]) for r in log] == [("delivered", "match_established")] * 2
    pairs = await fetch(settings.database_url, "SELECT mentor_id, mentee_id FROM notifications.pairs")
    assert [(r["mentor_id"], r["mentee_id"]) for r in pairs] == [(ids["mentor"], ids["mentee"])]  # the shared replica


async def test_meeting_invite_is_attached_and_quiet_hours_are_respected(settings, infrastructure, ids, bootstrap_servers, topic_prefix):
    # 12:00 UTC is 01:00 in Auckland: inside the mentee's quiet hours (21:00-07:30), so their mail waits.
    # Half an hour of the program's clock a second: the mentee's mail waits 13 s; the mentor's goes at once.
    settings = settings.model_copy(update={"clock_speed": 1800.0})
    async with build_service(settings).running(), \
            Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), seniority=7, capacity=1))
        await pub.publish(onboarded(pid=ids["mentee"], tz="Pacific/Auckland", quiet=("21:00", "07:30")))
        start = START + timedelta(days=3)
        ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
        await pub.publish(ev.MeetingScheduled(meeting_id="m-1", relationship_id=ids["rel"], program_id="prog-1",
                                              mentor_id=ids["mentor"], mentee_id=ids["mentee"], occurrence=1,
                                              start=start, end=start + timedelta(minutes=45), ics=ics))
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2, 90, "both deliveries")
    by_recipient = {d.data["recipient_id"]: datetime.fromisoformat(d.data["delivered_at"])
                    for d in out.of_type("notification.delivered")}
    quiet_end = datetime(2027, 1, 4, 18, 30, tzinfo=UTC)  # 07:30 on 5 January in Auckland (UTC+13)
    # The mentor's mail is not held for the mentee's quiet hours (how soon it goes is the machine's:
    # a busy one takes real seconds, hours on this clock).
    assert by_recipient[ids["mentor"]] < quiet_end <= by_recipient[ids["mentee"]]
    mail = mails_to(infrastructure, f"{ids['mentee']}@example.com")[0]
    attachment = next(mail.iter_attachments())
    assert attachment.get_content_type() == "text/calendar" and attachment.get_param("method") == "REQUEST"
    assert attachment.get_filename() == "invite.ics"


async def test_events_it_cannot_use_are_dead_lettered(settings, ids, bootstrap_servers, topic_prefix):
    settings = settings.model_copy(update={"max_deferrals": 3})
    dlq = topics.dlq(topics.REMINDERS)
    async with build_service(settings).running(), Watcher(bootstrap_servers, [dlq, topics.dlq(topics.PARTICIPANTS)], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(ev.ReminderDue(reminder_id="r-1", meeting_id="m", relationship_id=ids["rel"],
                                         participant_ids=["nobody-1"], meeting_start=START + timedelta(days=1),
                                         minutes_before=60))
        bad = onboarded(pid=ids["mentee"]).model_dump(mode="json") | {"timezone": "Mars/Olympus_Mons"}
        from shared.contracts.envelope import new_envelope
        envelope = new_envelope(type="participant.onboarded", source="/hris", data=ev.MatchRequested(
            mentee_id="x", program_id="y"), time=START).model_copy(update={"data": bad})
        await pub.send_raw(topics.PARTICIPANTS, envelope.to_json(), key=ids["mentee"])
        await out.wait_for(lambda w: w.on_topic(dlq) and w.on_topic(topics.dlq(topics.PARTICIPANTS)), 30, "dead letters")
    assert out.on_topic(dlq)[0].headers["dlq.error"] == "still unknown after 3 attempts: no profile yet for nobody-1"
    assert "unknown IANA time zone" in out.on_topic(topics.dlq(topics.PARTICIPANTS))[0].headers["dlq.error"]


async def test_a_delivery_interrupted_mid_send_is_reported_not_resent(settings, ids, database_url, bootstrap_servers,
                                                                     topic_prefix):
    settings = settings.model_copy(update={"sending_lease_seconds": 60.0})
    service = build_service(settings)
    async with service.running(), Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out:
        # A process claimed this delivery two minutes ago (program time) and died before recording
        # whether the mail server took it.
        stuck = Delivery(delivery_id="d-1", recipient_id=ids["mentee"], channel="email", template="reminder_due",
                         language="en", cause_event_id="e-1", cause_type="reminder.due", address="x@example.com",
                         subject="s", body="b", not_before=START - timedelta(minutes=3))
        stuck.claim(service.clock.now() - timedelta(minutes=2))
        async with service.transaction() as uow:
            await uow.deliveries.add(stuck)

        async def failed():
            rows = await fetch(database_url, "SELECT status, last_error, attempts FROM notifications.deliveries")
            return rows[0]["status"] == "failed" and rows[0]
        row = await eventually(failed, 40, "the interrupted delivery to be recorded")
        (announced,) = await out.wait_for(lambda w: w.of_type("notification.failed"), 30, "the failure announced")

        async def left_the_outbox():  # its content goes once published
            return (await fetch(database_url, "SELECT count(*) AS n FROM notifications.outbox"))[0]["n"] == 0
        await eventually(left_the_outbox, 30, "the published event to leave the outbox")
    assert "not resent" in row["last_error"] and row["attempts"] == 1
    written = await fetch(database_url, events_written("notifications"))
    assert [(r["topic"], r["event_type"], r["n"]) for r in written] == [(topics.NOTIFICATIONS, "notification.failed", 1)]
    assert announced.data["notification_id"] == "d-1" and "x@example.com" not in str(announced.data)


async def test_chat_goes_to_public_or_allowed_webhooks_only_signed_and_in_their_format(
        settings, ids, bootstrap_servers, topic_prefix):
    """The mentor's team chat takes Slack's format on an allowed local host; the mentee's webhook points
    at a cloud's metadata address: refused before any connection, and told on `notification.failed`
    without the URL."""
    from services.notifications.adapters.senders import EndpointSecrets
    from tests.support.webhooks import WebhookReceiver

    metadata = "https://169.254.169.254/latest/meta-data/iam"
    with WebhookReceiver() as hook:
        settings = settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"})
        async with build_service(settings).running(), \
                Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
                Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), seniority=7, capacity=1,
                                        channel="slack", webhook_url=hook.url))
            await pub.publish(onboarded(pid=ids["mentee"], channel="webhook", webhook_url=metadata))
            await pub.publish(ev.MatchEstablished(relationship_id=ids["rel"], proposal_id="p", program_id="prog-1",
                                                  mentee_id=ids["mentee"], mentor_id=ids["mentor"],
                                                  established_at=START, goals=["public speaking"]))
            await out.wait_for(lambda w: w.of_type("notification.delivered") and w.of_type("notification.failed"),
                               30, "one delivered, one refused")
    (delivered,) = out.of_type("notification.delivered")
    assert delivered.data["recipient_id"] == ids["mentor"] and delivered.data["channel"] == "slack"
    (got,) = hook.received
    body = got.verified_with(EndpointSecrets(settings.webhook_secret.get_secret_value()).secret_for(hook.url))
    assert body["blocks"][0]["type"] == "header" and body["text"].startswith("Meet your mentee")
    (failed,) = out.of_type("notification.failed")
    assert failed.data["recipient_id"] == ids["mentee"] and failed.data["attempts"] == 1
    assert failed.data["error"] == "the webhook address is refused: it leads to a link-local address"
    assert "169.254" not in failed.data["error"] and "meta-data" not in str(failed.data)
