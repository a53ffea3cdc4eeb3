"""The delivery state machine: pending -> sending -> delivered | failed | pending again (retry).

Sent at most once rests on these rules: only a pending, due delivery can be claimed; only a claimed
one can end; only "nothing was delivered" leads back to pending; an interrupted send is failed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from services.notifications.domain import compose
from services.notifications.domain.compose import Outgoing
from services.notifications.domain.delivery import (
    INTERRUPTED,
    NAMESPACE,
    Delivery,
    InvalidTransition,
    delivery_id,
    plan,
)
from services.notifications.domain.links import LinkMaker, LinkSigner
from shared import ical
from shared.contracts import events as ev
from shared.contracts.examples import EXAMPLES
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


def _scheduling_invite(method: str = "REQUEST") -> str:
    """An invite as scheduling writes it: its title and description in English, for both readers."""
    line = ical.content_line
    return "".join([
        "BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", line("PRODID", "-//Tandem//Scheduling//EN"), f"METHOD:{method}\r\n",
        "BEGIN:VEVENT\r\n", line("SUMMARY", ical.text("Mentoring kickoff: Bram de Vries & Ana Souza")),
        "DTSTART:20270113T120000Z\r\n", "DTEND:20270113T124500Z\r\n", line("UID", "0f6d@tandem"), "SEQUENCE:0\r\n",
        line("ATTENDEE", "mailto:bram@example.com", (("CN", "Bram de Vries"),)),
        line("ATTENDEE", "mailto:ana@example.com", (("CN", "Ana Souza"),)),
        line("DESCRIPTION", ical.text("Mentoring kickoff of Bram de Vries (mentor) and Ana Souza (mentee).\n"
                                      "Replies to this invitation are not read.")),
        line("LOCATION", ical.text("https://meet.jit.si/tandem-5f0c2f43")),
        "END:VEVENT\r\n", "END:VCALENDAR\r\n"])


@pytest.mark.parametrize("occurrence, bram_title, ana_title", [
    (1, "Eerste mentorbijeenkomst met Ana Souza", "Primeiro encontro de mentoria com Bram de Vries"),
    (3, "Mentorbijeenkomst met Ana Souza", "Encontro de mentoria com Bram de Vries"),
])
def test_each_reader_gets_the_invite_in_their_own_language_and_on_their_own_clock(occurrence, bram_title,
                                                                                    ana_title):
    bram = participant("bram", name="Bram de Vries", roles=("mentor",), locale="nl-NL")
    ana = participant("ana", name="Ana Souza", locale="pt-BR", tz="America/Sao_Paulo", style="indirect")
    data = ev.MeetingScheduled.model_validate({
        **EXAMPLES[("meetings.v1", "meeting.scheduled")], "occurrence": occurrence,
        "kind": "kickoff" if occurrence == 1 else "recurring", "ics": _scheduling_invite()})
    links = LinkMaker(LinkSigner(["k1"]), "https://mentoring.example/")
    to_bram, to_ana = plan(compose.meeting_scheduled(data, bram, ana), {"bram": bram, "ana": ana},
                           cause_event_id="e1", cause_type="meeting.scheduled", now=NOW, links=links)

    bram_event = Calendar.from_ical(to_bram.attachment.content).events[0]
    assert str(bram_event["SUMMARY"]) == bram_title
    bram_says = str(bram_event["DESCRIPTION"])
    assert "woensdag 13 januari 2027, 13:00 (Midden-Europese tijd)" in bram_says and "45 minuten" in bram_says
    assert "Voor Ana Souza is dat woensdag 13 januari 2027, 09:00 (Braziliaanse tijd)." in bram_says
    assert "Waar: https://meet.jit.si/tandem-5f0c2f43" in bram_says
    assert bram_says.endswith(str(bram_event["URL"])) and "Gebruik deze link" in bram_says

    ana_event = Calendar.from_ical(to_ana.attachment.content).events[0]
    assert str(ana_event["SUMMARY"]) == ana_title
    ana_says = str(ana_event["DESCRIPTION"])
    assert "quarta-feira, 13 de janeiro de 2027 09:00 (Horário de Brasília)" in ana_says
    assert "Para Bram de Vries, isso corresponde a" in ana_says and "Para remarcar ou cancelar" in ana_says
    assert str(ana_event["URL"]) != str(bram_event["URL"])  # each reader's own page

    for event in (bram_event, ana_event):  # scheduling's English is gone; what calendars go by is kept
        assert "Mentoring" not in str(event["SUMMARY"]) + str(event["DESCRIPTION"])
        assert (str(event["UID"]), int(event["SEQUENCE"]), event.start) == (
            "0f6d@tandem", 0, datetime(2027, 1, 13, 12, 0, tzinfo=UTC))
        assert [str(a) for a in event["ATTENDEE"]] == ["mailto:bram@example.com", "mailto:ana@example.com"]
        assert str(event["LOCATION"]) == "https://meet.jit.si/tandem-5f0c2f43"


def test_a_cancelled_meetings_invite_is_in_the_readers_language_too():
    bram = participant("bram", name="Bram de Vries", roles=("mentor",), locale="nl-NL")
    ana = participant("ana", name="Ana Souza", locale="ja", tz="Asia/Tokyo")
    data = ev.MeetingCancelled.model_validate({
        **EXAMPLES[("meetings.v1", "meeting.cancelled")], "ics": _scheduling_invite("CANCEL")})
    to_bram, to_ana = plan(compose.meeting_cancelled(data, bram, ana), {"bram": bram, "ana": ana},
                           cause_event_id="e1", cause_type="meeting.cancelled", now=NOW)
    bram_event = Calendar.from_ical(to_bram.attachment.content).events[0]
    assert str(bram_event["SUMMARY"]) == "Eerste mentorbijeenkomst met Ana Souza"
    assert "URL" not in bram_event  # a cancelled meeting has no page to move it
    ana_event = Calendar.from_ical(to_ana.attachment.content).events[0]
    assert str(ana_event["SUMMARY"]) == "Bram de Vriesさんとの最初のメンタリング・ミーティング"
    assert "2027年1月13日水曜日 21:00（日本時間）" in str(ana_event["DESCRIPTION"])


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.text())
def test_a_delivery_id_is_the_uuid5_of_its_cause_recipient_and_template(cause, recipient, template):
    assert delivery_id(cause, recipient, template) == str(uuid.uuid5(NAMESPACE, f"{cause}/{recipient}/{template}"))
