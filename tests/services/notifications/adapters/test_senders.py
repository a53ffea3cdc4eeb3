"""The senders tell delivered, try again and give up apart, with reasons that name no one.

The mail server's own text often repeats the address ("550 5.1.1 <ana@example.com>: ..."); reasons
reach the logs and `notification.failed`, so they carry codes only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller

from services.notifications.adapters.senders import (
    EmailSender,
    GiveUp,
    Message,
    TryAgain,
)
from services.notifications.domain.compose import Attachment
from tandem.local.stack import free_port
from tests.support.runtime import eventually

ADDRESS = "ana.souza@example.com"
MESSAGE = Message("d1", ADDRESS, "Hello", "Body", "en", Attachment("invite.ics", "BEGIN:VCALENDAR", "text/calendar"))


class Refusing:
    """An SMTP server that answers RCPT TO with `answer` and keeps what it accepts."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.accepted: list[bytes] = []
        self.sessions: list[tuple] = []  # the client's end of the connection each mail came over

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.answer and address.startswith("ana"):
            return self.answer.replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.content)
        self.sessions.append(session.peer)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    servers = []

    def start(answer: str | None = None, **options) -> tuple[Refusing, EmailSender]:
        handler, port = Refusing(answer), free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        servers.append(controller)
        return handler, EmailSender(host="127.0.0.1", port=port, sender="Tandem <noreply@tandem.example>", timeout=5,
                                    **options)

    yield start
    for controller in servers:
        controller.stop()


async def test_an_accepted_mail_is_delivered_with_its_invite(smtp):
    server, sender = smtp()
    await sender.send(MESSAGE)
    (mail,) = server.accepted
    assert b"X-Tandem-Delivery: d1" in mail and b"invite.ics" in mail


@pytest.mark.parametrize("answer, outcome, reason", [
    ("550 5.1.1 <{address}>: Recipient address rejected", GiveUp, "the mail server refused the recipient (550)"),
    ("450 4.2.1 <{address}>: Mailbox busy, try later", TryAgain, "the mail server refused the recipient (450)"),
])
async def test_a_refused_recipient_is_reported_by_code_only(smtp, answer, outcome, reason):
    _, sender = smtp(answer)
    with pytest.raises(outcome) as refused:
        await sender.send(MESSAGE)
    assert str(refused.value) == reason
    assert "ana" not in str(refused.value)


def to(address: str, delivery_id: str = "d") -> Message:
    return Message(delivery_id, address, "Hello", "Body", "en")


async def test_bytes_written_when_planned_go_out_as_they_are_dated_at_the_send(smtp):
    from datetime import UTC, datetime

    from services.notifications.adapters.mail_format import MailWriter

    server, sender = smtp()
    written = MailWriter("Tandem <noreply@tandem.example>").write(MESSAGE, date=datetime(2020, 1, 1, tzinfo=UTC))
    await sender.send(replace(MESSAGE, subject="not what is sent", mime=written))
    (mail,) = server.accepted
    date, rest = mail.split(b"\r\n", 1)
    assert rest == written.split(b"\r\n", 1)[1] and date.startswith(b"Date: ") and b"2020" not in date
    await sender.close()


async def test_lines_beginning_with_a_dot_arrive_as_written(smtp):
    """The stored bytes go out with only their dots stuffed (no pass over their line breaks): the
    server takes every line back as it was, a lone dot included (it would end the mail)."""
    from datetime import UTC, datetime

    from services.notifications.adapters.mail_format import MailWriter

    server, sender = smtp()
    body = ".starts with a dot\n.\n..two\nend."
    written = MailWriter("Tandem <noreply@tandem.example>").write(replace(MESSAGE, body=body),
                                                                   date=datetime(2020, 1, 1, tzinfo=UTC))
    assert b"\r\n.starts" in written  # quoted-printable leaves a leading dot as it is
    await sender.send(replace(MESSAGE, mime=written))
    raw = b"Date: x\r\nTo: ana.souza@example.com\r\n\r\nline\n.lone LF then a dot\r\n"  # not CRLF throughout
    await sender.send(replace(MESSAGE, delivery_id="d2", mime=raw))
    first, second = server.accepted
    assert first.split(b"\r\n", 1)[1] == written.split(b"\r\n", 1)[1]
    assert second.endswith(b"\r\n\r\nline\r\n.lone LF then a dot\r\n")  # made CRLF by aiosmtplib, as before
    await sender.close()


class RefusingSenderThenData(Refusing):
    """Refuses the first MAIL FROM (451) and the first DATA (554); takes what follows."""

    def __init__(self) -> None:
        super().__init__(None)
        self.refused: list[str] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if "mail" not in self.refused:
            self.refused.append("mail")
            return "451 4.3.0 try later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if "data" not in self.refused:
            self.refused.append("data")
            return "554 5.6.0 message refused"
        return await super().handle_DATA(server, session, envelope)


async def test_a_refused_sender_or_message_is_told_by_code_and_the_session_goes_on():
    handler, port = RefusingSenderThenData(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = EmailSender(host="127.0.0.1", port=port, sender="Tandem <noreply@tandem.example>", timeout=5)
        with pytest.raises(TryAgain, match=r"the mail server answered 451"):
            await sender.send(to("bo@example.com", "d1"))
        with pytest.raises(GiveUp, match=r"the mail server answered 554"):
            await sender.send(to("bo@example.com", "d2"))
        await sender.send(to("bo@example.com", "d3"))
        await sender.close()
    finally:
        controller.stop()
    assert len(handler.accepted) == 1 and len(set(handler.sessions)) == 1 and sender.connections.opened == 1


async def test_an_address_beyond_ascii_is_built_and_sent_with_smtputf8():
    handler, port = Refusing(None), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        sender = EmailSender(host="127.0.0.1", port=port, sender="Tandem <noreply@tandem.example>", timeout=5)
        await sender.send(to("josé@example.com"))
        await sender.close()
    finally:
        controller.stop()
    (mail,) = handler.accepted
    assert "To: josé@example.com" in mail.decode()


async def test_mails_share_a_kept_connection_even_after_a_refusal(smtp):
    server, sender = smtp("550 5.1.1 <{address}>: Recipient address rejected", connections=2)
    await sender.send(to("bo@example.com", "d1"))
    with pytest.raises(GiveUp, match=r"refused the recipient \(550\)"):
        await sender.send(to("ana@example.com", "d2"))
    await sender.send(to("cy@example.com", "d3"))
    assert len(server.accepted) == 2 and len(set(server.sessions)) == 1 and sender.connections.opened == 1
    await sender.close()


async def test_several_mails_at_once_each_have_their_own_connection_up_to_the_limit(smtp):
    server, sender = smtp(connections=3)
    await asyncio.gather(*(sender.send(to(f"p{i}@example.com", f"d{i}")) for i in range(9)))
    assert len(server.accepted) == 9 and sender.connections.opened <= 3
    await sender.close()


async def test_a_connection_is_renewed_after_its_mails_and_after_idling(smtp):
    server, sender = smtp(messages_per_connection=2)
    for i in range(3):
        await sender.send(to(f"p{i}@example.com", f"d{i}"))
    assert sender.connections.opened == 2  # the third mail went over a fresh one
    sender.connections.clock = lambda: time.monotonic() + 60  # longer idle than a server may allow
    await sender.send(to("p3@example.com", "d3"))
    assert sender.connections.opened == 3 and len(set(server.sessions)) == 3
    await sender.close()


async def test_a_connection_the_server_closed_is_not_used_again():
    handler, port = Refusing(None), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    sender = EmailSender(host="127.0.0.1", port=port, sender="noreply@tandem.example", timeout=5)
    await sender.send(to("p1@example.com", "d1"))
    (kept,) = sender.connections._idle
    controller.stop()  # ends every session
    await eventually(lambda: _true(not kept.smtp.is_connected), 10, "the client to see the session end")
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await sender.send(to("p2@example.com", "d2"))
    finally:
        controller.stop()
    assert len(handler.accepted) == 2 and sender.connections.opened == 2


async def _true(value: bool) -> bool:
    return value


async def test_an_unreachable_mail_server_is_tried_again():
    port = free_port()
    sender = EmailSender(host="127.0.0.1", port=port, sender="noreply@tandem.example", timeout=2)
    with pytest.raises(TryAgain, match=rf"the mail server 127.0.0.1:{port} could not be reached \(\w+\)"):
        await sender.send(MESSAGE)


# --- mails a person would write, through the real local mail server --------------------------------

@pytest.fixture
def mailbox(tmp_path):
    from tandem.local.mailbox import LocalMailbox

    box = LocalMailbox(tmp_path / "mail", free_port())
    box.start()
    yield box
    box.stop()


def lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def rendered(name: str = "meeting_scheduled", locale: str = "ja-JP"):
    from services.notifications.domain.messages import template
    from services.notifications.domain.render import render
    from services.notifications.i18n.catalogues import language_for
    from tests.services.notifications.samples import participant_samples

    sample = next(s for s in participant_samples() if s.outgoing.template == name)
    return sample, render(template(name), language_for(locale), "indirect", sample.outgoing.context,
                          preferences_url="https://tandem.example/preferences/abc.def")


async def test_a_mail_is_multipart_text_and_html_with_the_invite_beside_and_the_standard_headers(mailbox):
    from tandem.local.mailbox import read_mailbox

    sample, mail = rendered()
    message = Message("d-42", ADDRESS, mail.subject, mail.text, mail.language, sample.outgoing.attachment,
                      html=mail.html, unsubscribe_url="https://tandem.example/preferences/abc.def")
    sender = EmailSender(host="127.0.0.1", port=mailbox.port, sender="Tandem <noreply@tandem.example>", timeout=5)
    await sender.send(message)
    await sender.send(message)  # a second attempt of the same delivery: the same Message-ID
    first, second = read_mailbox(mailbox.directory)
    assert first["Message-ID"] == second["Message-ID"] == "<d-42@tandem.example>"
    assert first["Subject"] == mail.subject and "\n" not in first["Subject"]  # no folding artefacts
    assert first["Auto-Submitted"] == "auto-generated" and first["Content-Language"] == "ja"
    assert first["List-Unsubscribe"] == "<https://tandem.example/preferences/abc.def>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["Date"] and first["From"] == "Tandem <noreply@tandem.example>"
    assert first.get_content_type() == "multipart/mixed"
    body, invite = first.get_payload()
    assert body.get_content_type() == "multipart/alternative"
    plain, html = body.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    # Text in MIME's canonical form: CRLF line breaks (RFC 2046 4.1.1), as a mail client reads it.
    assert lines(plain.get_content()) == mail.text and lines(html.get_content()) == mail.html
    assert (invite.get_content_type(), invite.get_param("method"), invite.get_filename()) == \
        ("text/calendar", "REQUEST", "invite.ics")
    assert invite.get_content() == sample.outgoing.attachment.content


async def test_the_html_part_is_simple_accessible_and_loads_nothing_from_elsewhere(mailbox):
    _, mail = rendered("relationship_concluded", "nl-NL")
    assert '<html lang="nl"' in mail.html and "<title>" in mail.html and 'role="article"' in mail.html
    assert "<img" not in mail.html and "src=" not in mail.html and "<link" not in mail.html
    assert "<script" not in mail.html and "url(" not in mail.html
    assert "<ul><li>" in mail.html and "<p>" in mail.html
    assert '<a href="https://tandem.example/preferences/abc.def">Kies welke berichten u ontvangt</a>' in mail.html


@pytest.mark.parametrize("subject", [
    "ご案内：田中さんとの最初のミーティング：2027年1月13日 13:00（中央ヨーロッパ時間）について詳しくご連絡いたします",
    "Ihre Mentoring-Beziehung mit Bram de Vries-Müller ist beendet – vielen Dank für Ihre Zeit und Ihr Engagement",
    "您与王小明的第一次会面：2027年1月13日星期三 13:00（中欧时间），我们期待你们的交流与成长",
    "A rather long English subject line about your next meeting with somebody whose name is also long",
])
async def test_long_subjects_in_any_script_arrive_exactly_as_written(mailbox, subject):
    from tandem.local.mailbox import read_mailbox

    sender = EmailSender(host="127.0.0.1", port=mailbox.port, sender="noreply@tandem.example", timeout=5)
    await sender.send(Message("d-1", ADDRESS, subject, "Body", "en"))
    (mail,) = read_mailbox(mailbox.directory)
    assert mail["Subject"] == subject


async def test_a_certificate_travels_as_a_pdf_attachment_with_its_localised_name(mailbox):
    import base64

    from services.notifications.i18n.catalogues import language_for
    from tandem.local.mailbox import read_mailbox
    from tests.services.notifications.domain.test_certificate import CERTIFICATE

    certificate = CERTIFICATE.pdf(language_for("zh-Hans"))
    sender = EmailSender(host="127.0.0.1", port=mailbox.port, sender="noreply@tandem.example", timeout=5)
    await sender.send(Message("d-2", ADDRESS, "结业", "正文", "zh-Hans", certificate, html="<p>正文</p>"))
    (mail,) = read_mailbox(mailbox.directory)
    (pdf,) = list(mail.iter_attachments())
    assert (pdf.get_content_type(), pdf.get_filename()) == ("application/pdf", "结业证书.pdf")
    assert pdf.get_content() == base64.b64decode(certificate.content)
