"""The mail bytes written when a delivery is planned read back, through the email package, as the
message the email package itself builds (`EmailSender.build`): the same headers, parts, texts and
attachments, with no defects; 7-bit, with lines a server takes; and a Date set again at each send."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.adapters.mail_format import MailWriter, dated
from services.notifications.adapters.senders import EmailSender, Message
from services.notifications.domain.messages import template
from services.notifications.domain.outgoing import Attachment
from services.notifications.domain.render import render
from services.notifications.i18n.catalogues import available, bcp47, language_for
from tests.services.notifications.domain.test_certificate import CERTIFICATE
from tests.services.notifications.samples import all_samples

SENDER = "Tandem <noreply@tandem.example>"
WRITER = MailWriter(SENDER)
WHEN = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
URL = "https://tandem.example/a/WyJhbmEiLCJwYXJ0aWNpcGFudCJd.HCpzwo7X1oJfL-fsWhmgu1vMWdh-vpgu4EaSwTAhgU4"


def read(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def shape(mail: email.message.EmailMessage) -> list:
    """What a reader gets: the headers but Date, and every part's type, parameters and content."""
    # Stripped: the email package folds a subject of 70-odd characters right after "Subject:", which its
    # own parser reads back with a leading space.
    headers = sorted((k, str(v).strip()) for k, v in mail.items() if k.lower() not in ("date", "content-type"))
    parts = []
    for part in mail.walk():
        if part.is_multipart():
            parts.append(part.get_content_type())
            continue
        content = part.get_content()
        params = {k: v for k, v in part.get_params()[1:] if k != "charset"}
        parts.append((part.get_content_type(), params, part.get_filename(),
                      lines(content) if isinstance(content, str) else content))
    return [headers, parts]


def defects(mail: email.message.EmailMessage) -> list:
    return [(part.get_content_type(), d) for part in mail.walk() for d in part.defects] + \
        [(k, v.defects) for k, v in mail.items() if getattr(v, "defects", None)]


def check_wire(raw: bytes) -> None:
    assert raw.isascii()  # 7-bit: any server takes it, with or without 8BITMIME
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, no bare CR or LF
    for line in raw.split(b"\r\n"):  # RFC 5322 2.1.1: 78 where it can be folded; 998 is the limit
        assert len(line) <= 78 or (len(line) <= 998 and unbreakable(line)), line
    assert raw.startswith(b"Date: ") and b"\r\n\r\n" in raw  # the Date first: set again at each send


def unbreakable(line: bytes) -> bool:
    """A header line (or its continuation) whose value is one word: a long URL, a long file name."""
    value = line[1:] if line.startswith(b" ") else line.partition(b": ")[2]
    return b" " not in value


LANGUAGES = [bcp47(name) for name in available()]
SAMPLES = all_samples()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_every_message_in_every_language_reads_back_as_the_email_package_builds_it(locale):
    language = language_for(locale)
    for sample in SAMPLES:
        attachment = sample.outgoing.attachment
        if sample.outgoing.certificate is not None:
            attachment = sample.outgoing.certificate.pdf(language)
        mail = render(template(sample.outgoing.template), language, "indirect", sample.outgoing.context,
                      preferences_url=URL)
        message = Message(f"d-{sample.label}".replace(" ", "-")[:60], "ana.souza@example.com", mail.subject,
                          mail.text, mail.language, attachment, html=mail.html,
                          unsubscribe_url=None if sample.team else URL)
        raw = WRITER.write(message, date=WHEN)
        assert raw is not None, sample.label
        check_wire(raw)
        written = read(raw)
        assert defects(written) == [], sample.label
        built = read(EmailSender(host="x", port=1, sender=SENDER).build(message).as_bytes(policy=email.policy.SMTP))
        assert shape(written) == shape(built), sample.label
        assert written["Subject"] == mail.subject and lines(written.get_body(("plain",)).get_content()) == mail.text


@pytest.mark.parametrize("subject", [
    "ご案内：田中さんとの最初のミーティング：2027年1月13日 13:00（中央ヨーロッパ時間）について詳しくご連絡いたします",
    "Ihre Mentoring-Beziehung mit Bram de Vries-Müller ist beendet – vielen Dank für Ihre Zeit und Ihr Engagement",
    "A rather long English subject line about your next meeting with somebody whose name is also long, really",
    "Averyveryverylongwordwithoutanyspaceatallthatnoonecouldfoldanywhereatallinthislinereally and more",
    "Looks encoded but is not: =?utf-8?q?Hello?= at all",
    "İlkay Gündoğan",
])
def test_subjects_arrive_exactly_as_written(subject):
    raw = WRITER.write(Message("d-1", "ana@example.com", subject, "Body", "en"), date=WHEN)
    assert read(raw)["Subject"] == subject and defects(read(raw)) == []
    check_wire(raw)


def test_texts_keep_what_plain_encodings_could_lose():
    body = ".\n.leading dot\nFrom the start\ntrailing space \ntab\t\n=?= equals\n" + "x" * 200 + "\nend"
    raw = WRITER.write(Message("d-1", "ana@example.com", "Hi", body, "en", html="<p>a=b</p>"), date=WHEN)
    check_wire(raw)
    mail = read(raw)
    assert lines(mail.get_body(("plain",)).get_content()) == body + "\n"  # ends with a line break
    assert lines(mail.get_body(("html",)).get_content()) == "<p>a=b</p>\n"


def test_a_certificate_and_a_name_beyond_ascii_travel_whole():
    pdf = CERTIFICATE.pdf(language_for("zh-Hans"))
    raw = WRITER.write(Message("d-2", "ana@example.com", "结业", "正文", "zh-Hans", pdf, html="<p>正文</p>"), date=WHEN)
    check_wire(raw)
    (attached,) = list(read(raw).iter_attachments())
    assert (attached.get_content_type(), attached.get_filename()) == ("application/pdf", "结业证书.pdf")
    assert attached.get_content() == base64.b64decode(pdf.content)
    assert lines(read(raw).get_body(("plain",)).get_content()) == "正文\n"


def test_an_invite_says_its_method_and_charset():
    ics = "BEGIN:VCALENDAR\r\nSUMMARY:Kickoff met Ana Souza – İlkay\r\nEND:VCALENDAR\r\n"
    raw = WRITER.write(Message("d-3", "ana@example.com", "Invite", "Body", "nl",
                               Attachment("invite.ics", ics, "text/calendar; method=REQUEST")), date=WHEN)
    (invite,) = list(read(raw).iter_attachments())
    assert (invite.get_content_type(), invite.get_param("method"), invite.get_content_charset()) == \
        ("text/calendar", "REQUEST", "utf-8")
    assert invite.get_content() == ics


@pytest.mark.parametrize("message", [
    Message("d-1", "josé@example.com", "Hi", "Body", "en"),  # SMTPUTF8: built at the send
    Message("d-1", '"ana souza"@example.com', "Hi", "Body", "en"),
    Message("d-1", "ana@example.com\r\nBcc: eve@example.com", "Hi", "Body", "en"),
    Message("d-1\r\nBcc: eve@example.com", "ana@example.com", "Hi", "Body", "en"),
    Message("d-1", "ana@example.com", "Hi", "Body", "en", unsubscribe_url="https://x.example/a b"),
    Message("d-1", "ana@example.com", "Hi", "Body", "en",
            Attachment("x.ics", "B", 'text/calendar; method="REQ\r\nBcc: eve@example.com"')),
])
def test_what_no_plain_header_can_hold_is_left_to_the_send(message):
    assert WRITER.write(message, date=WHEN) is None


def test_a_sender_beyond_ascii_writes_nothing_ahead():
    assert MailWriter("Tandem <noreply@tändem.example>").write(Message("d", "a@example.com", "S", "B", "en")) is None


def test_a_display_name_beyond_ascii_is_encoded_once_for_every_mail():
    raw = MailWriter("Tändem Mentoring <noreply@tandem.example>").write(Message("d", "a@example.com", "S", "B", "en"))
    assert read(raw)["From"] == "Tändem Mentoring <noreply@tandem.example>" and raw.isascii()


def test_the_date_is_set_again_at_each_send_and_nothing_else_changes():
    raw = WRITER.write(Message("d-9", "ana@example.com", "Hi", "Body", "en"), date=WHEN)
    later = dated(raw, datetime(2027, 1, 5, 8, 30, tzinfo=UTC))
    assert read(later)["Date"].datetime == datetime(2027, 1, 5, 8, 30, tzinfo=UTC)
    assert later.split(b"\r\n", 1)[1] == raw.split(b"\r\n", 1)[1]
    assert read(later)["Message-ID"] == "<d-9@tandem.example>"
    assert WRITER.write(Message("d-9", "ana@example.com", "Hi", "Body", "en"), date=WHEN) == raw  # deterministic
    with pytest.raises(ValueError):
        dated(b"From: someone\r\n\r\nBody\r\n", WHEN)


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=160)
       | st.text("aé日本語 ßœ😀=?_-:,", min_size=1, max_size=160))
@settings(max_examples=300, deadline=None)
def test_a_subject_beyond_ascii_is_encoded_as_the_email_package_encodes_it(subject):
    """The encoded words are summed as they grow (mail_format._Utf8Words) instead of being encoded
    again after each character: the header is still the email package's own, to the octet."""
    from email.header import Header

    from services.notifications.adapters.mail_format import _UTF8

    for name in ("Subject", "X-Tandem-A-Longer-Header-Name"):
        assert Header(subject, _UTF8, header_name=name).encode(linesep="\r\n") == Header(
            subject, "utf-8", header_name=name).encode(linesep="\r\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_an_attachment_is_cut_in_lines_as_base64_encodebytes_cuts_it(data):
    from services.notifications.adapters.mail_format import _b64

    assert _b64(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")
