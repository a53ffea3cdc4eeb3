"""Delivery channels: e-mail over SMTP (aiosmtplib) and chat/webhook over HTTPS (httpx).

Each send ends in one of three ways, because "sent at most once" depends on telling them apart:
it returns (delivered); `TryAgain` when we know nothing was delivered (connection refused, a 4xx answer);
`GiveUp` when it never will be (a 5xx answer), or when we cannot know whether it was (the
connection broke during the transfer), since sending again could deliver it twice.

The reasons they carry end up in the delivery log, the logs and `notification.failed`: codes and
exception types only. Never the server's own text, which may repeat the address ("550 5.1.1
<ana@example.com>: Recipient address rejected"), nor the webhook's URL or answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.policy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiosmtplib
import httpx
from standardwebhooks.webhooks import Webhook

from services.notifications.adapters.mail_format import MailWriter, dated, plain_address
from services.notifications.adapters.smtp_connections import SmtpConnections
from services.notifications.adapters.webhook_targets import (
    AllowList,
    Resolver,
    TargetRefused,
    TargetUnresolved,
    check_target,
    system_resolver,
)
from services.notifications.domain.chat import payload
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.outgoing import Attachment


class TryAgain(Exception):
    """Nothing was delivered; a later attempt may succeed."""


class GiveUp(Exception):
    """It never will be delivered, or it may have been already: do not send it again."""


@dataclass(frozen=True)
class Message:
    delivery_id: str
    address: str
    subject: str
    body: str  # plain text
    language: str  # BCP 47
    attachment: Attachment | None = None
    html: str = ""  # the same message as HTML; a mail without it has only the plain text
    unsubscribe_url: str | None = None  # the reader's notification preferences
    # The mail's bytes, written when it was planned (adapters/mail_format.py); None: built when sent.
    mime: bytes | None = None


def message_of(d: Delivery) -> Message:
    """What a delivery sends."""
    return Message(d.delivery_id, d.address, d.subject, d.body, d.language, d.attachment, html=d.html,
                   unsubscribe_url=d.unsubscribe_url, mime=d.mime)


class Sender(Protocol):
    async def send(self, message: Message) -> None:
        """Returns when delivered; raises `TryAgain` or `GiveUp` (module docstring)."""


class EmailSender:
    """Mail as a person's mail client would send it: multipart (plain text, and the same as simple
    HTML), attachments beside it (a calendar invite, a certificate), and the standard headers of an
    automatic message: `Auto-Submitted`, a `Message-ID` that is the same on every attempt, and
    one-click `List-Unsubscribe` to the reader's notification preferences (RFC 8058).

    A mail's bytes are written once, when it is planned (adapters/mail_format.py), and sent as they
    are with only their Date set. A message without them (planned before they were kept, or whose
    bytes an erasure dropped) is written when it is sent; one to an address beyond ASCII is built
    with the email package (`build`, SMTPUTF8). Either way the bytes go over a few kept connections
    (`connections`) to `sendmail`; `close` ends the connections."""

    def __init__(self, *, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 15.0,
                 connections: int = 1, messages_per_connection: int = 100, idle_seconds: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.domain = parseaddr(sender)[1].rpartition("@")[2] or "tandem.example"
        self.envelope_from = parseaddr(sender)[1]
        self.writer = MailWriter(sender)
        # The envelope's sender as it goes on the MAIL command; None when it needs aiosmtplib's parsing.
        self._plain_from = self.envelope_from.encode("ascii") if plain_address(self.envelope_from) else None
        # Kept connections, one mail at a time on each (adapters/smtp_connections.py).
        self.connections = SmtpConnections(host=host, port=port, username=username, password=password,
                                           starttls=starttls, timeout=timeout, size=connections,
                                           messages_per_connection=messages_per_connection,
                                           idle_seconds=idle_seconds)

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = " ".join(message.subject.split())  # one line: folding is the policy's job
        mail["Date"] = formatdate(usegmt=True)
        # The same on every attempt, so a mail client collapses a copy that did arrive twice.
        mail["Message-ID"] = f"<{message.delivery_id}@{self.domain}>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
        mail["X-Auto-Response-Suppress"] = "All"
        if message.unsubscribe_url:
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["X-Tandem-Delivery"] = message.delivery_id
        mail.set_content(message.body)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        if message.attachment:
            maintype, _, rest = message.attachment.mime_type.partition("/")
            subtype, *params = [p.strip() for p in rest.split(";")]
            mail.add_attachment(
                message.attachment.payload(), maintype=maintype, subtype=subtype,
                filename=message.attachment.filename,
                params=dict(p.split("=", 1) for p in params if "=" in p),
            )
        mail["Content-Language"] = message.language  # after set_content, which resets Content-* headers
        return mail

    async def send(self, message: Message) -> None:
        try:
            mail = self._mail(message)
        except (ValueError, TypeError) as exc:  # e.g. an address no header can hold; its text may quote it
            raise GiveUp(f"the message could not be built ({type(exc).__name__})") from exc
        try:
            kept = await self.connections.take()
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"the mail server refused the login ({exc.code})") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # nothing was sent yet
            raise TryAgain(f"the mail server {self.host}:{self.port} could not be reached "
                           f"({type(exc).__name__})") from exc
        sound = False
        try:
            await self._transfer(kept.smtp, mail, message.address)
            kept.sent += 1
            sound = True
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPRecipientRefused) as exc:
            sound = True  # an answer: the envelope was reset, the session goes on
            code = _refusal_code(exc)
            raise _by_code(code, f"the mail server refused the recipient ({code})") from exc
        except aiosmtplib.SMTPNotSupported as exc:  # before anything was sent
            sound = True
            raise GiveUp(f"the mail server cannot take this message ({type(exc).__name__})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            sound = True
            raise _by_code(exc.code, f"the mail server answered {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise GiveUp(f"the connection broke during the transfer ({type(exc).__name__}); "
                         "not resent, to avoid a duplicate") from exc
        except (ValueError, UnicodeError) as exc:  # an address the envelope cannot carry; its text may quote it
            sound = True
            raise GiveUp(f"the message could not be built ({type(exc).__name__})") from exc
        finally:
            self.connections.give_back(kept, sound=sound)

    def _mail(self, message: Message) -> bytes | EmailMessage:
        """The bytes written when it was planned, dated now; else written now; else (SMTPUTF8) built."""
        now = datetime.now(UTC)
        if message.mime:
            return dated(message.mime, now)
        return self.writer.write(message, date=now) or self.build(message)

    async def _transfer(self, smtp: aiosmtplib.SMTP, mail: EmailMessage | bytes, address: str) -> None:
        """One mail over a session: bytes written beforehand go as they are (7-bit, mail_format.py);
        a message built now is turned into bytes as the session can carry them (8-bit, and SMTPUTF8
        for an address beyond ASCII). Then `sendmail`."""
        utf8 = not (self.envelope_from.isascii() and address.isascii())
        if isinstance(mail, bytes):
            if self._plain_from and plain_address(address):
                await _envelope_and_data(smtp, self._plain_from, address.encode("ascii"), mail)
            else:
                await smtp.sendmail(self.envelope_from, [address], mail, mail_options=["SMTPUTF8"] if utf8 else [])
            return
        eight_bit = smtp.supports_extension("8BITMIME")
        policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
        if not eight_bit:
            policy = policy.clone(cte_type="7bit")
        options = (["SMTPUTF8"] if utf8 else []) + (["BODY=8BITMIME"] if eight_bit else [])
        await smtp.sendmail(self.envelope_from, [address], mail.as_bytes(policy=policy), mail_options=options)

    async def close(self) -> None:
        await self.connections.close()


async def _envelope_and_data(smtp: aiosmtplib.SMTP, sender: bytes, recipient: bytes, mail: bytes) -> None:
    """What `SMTP.sendmail` does for one recipient, with addresses that were checked already (plain
    ASCII dot-atoms: mail_format.plain_address) put on the command lines as they are. `sendmail`
    parses each address twice with `email.utils.parseaddr`, about a third of the CPU of a send.
    Raises what `sendmail` raises; after a refusal the envelope is reset (RSET), as it does."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()
    size = [b"SIZE=%d" % len(mail)] if smtp.supports_extension("size") else []  # CRLF already: exact
    try:
        answer = await smtp.execute_command(b"MAIL", b"FROM:<" + sender + b">", *size)
        if answer.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, sender.decode())
        answer = await smtp.execute_command(b"RCPT", b"TO:<" + recipient + b">")
        if answer.code not in (aiosmtplib.SMTPStatus.completed, aiosmtplib.SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, recipient.decode())
        await _data(smtp, mail)
    except aiosmtplib.SMTPResponseException:
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset()
        raise


async def _data(smtp: aiosmtplib.SMTP, mail: bytes) -> None:
    """`SMTP.data` for bytes whose every line break is already CRLF, as mail_format writes them.
    aiosmtplib makes line breaks CRLF and stuffs dots with two regular expressions over the whole
    mail, about a tenth of a send's CPU; such bytes need only the dots stuffed (RFC 5321 4.5.2), which
    a plain replace does. Bytes with another line break go through `SMTP.data` as before."""
    if not (mail.count(b"\r") == mail.count(b"\n") == mail.count(b"\r\n") and mail.endswith(b"\r\n")):
        await smtp.data(mail)
        return
    answer = await smtp.execute_command(b"DATA")
    if answer.code != aiosmtplib.SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    stuffed = mail.replace(b"\r\n.", b"\r\n..")
    # One mail at a time on a connection (smtp_connections.py): nothing else reads its answers.
    protocol.write((b"." + stuffed if stuffed.startswith(b".") else stuffed) + b".\r\n")
    answer = await protocol.read_response(timeout=smtp.timeout)
    if answer.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)


def _by_code(code: int, reason: str) -> Exception:
    """A 4xx answer means "not now" (nothing was delivered); anything else, "never"."""
    return TryAgain(reason) if 400 <= code < 500 else GiveUp(reason)


def _refusal_code(exc: aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused) -> int:
    refusals = exc.recipients if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) else [exc]
    return refusals[0].code if refusals else 550


class WebhookSender:
    """POSTs one chat message in its endpoint's format (domain/chat.py), signed per the Standard
    Webhooks specification: `webhook-id` (the delivery id, the same on every attempt, so a receiver
    drops a repeat; `Idempotency-Key` says the same for those that look for it), `webhook-timestamp`
    (real Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`
    with the endpoint's own secret, `webhook_secrets.endpoint_secret`).

    Only checked targets are reached (adapters/webhook_targets.py); redirects are not followed, since
    a redirect could lead where the check would have refused. An attempt has one deadline for all of
    it (`deadline_exceeded`: tried again) and reads at most `max_answer_bytes` of the answer
    (`answer_too_large`: given up); neither reason quotes the answer."""

    def __init__(self, channel: str, *, secrets: EndpointSecrets, allow: AllowList, client: httpx.AsyncClient,
                 resolve: Resolver = system_resolver, wall_clock: Callable[[], float] = time.time,
                 deadline: float = 10.0, max_answer_bytes: int = 64 * 1024) -> None:
        self.channel, self.secrets, self.allow, self.client = channel, secrets, allow, client
        self.resolve, self.wall_clock = resolve, wall_clock
        # A whole attempt (resolving, connecting, sending, the answer to its last byte) ends within
        # `deadline` seconds, and at most `max_answer_bytes` of the answer are read: an endpoint that
        # trickles or never stops talking costs one attempt's time and a few KiB, nothing more.
        self.deadline, self.max_answer_bytes = deadline, max_answer_bytes

    async def send(self, message: Message) -> None:
        try:
            async with asyncio.timeout(self.deadline):
                status = await self._post(message)
        except TimeoutError as exc:
            # Perhaps after the body went out: sending again is safe, the receiver drops a repeat by
            # its webhook-id.
            raise TryAgain(f"the webhook did not answer in full within {self.deadline:g} s "
                           "(deadline_exceeded)") from exc
        if status >= 500 or status in (408, 429):
            raise TryAgain(f"the webhook answered {status}")
        if 300 <= status < 400:
            raise GiveUp(f"the webhook answered with a redirect ({status}), which is not followed")
        if status >= 400:
            raise GiveUp(f"the webhook refused the message ({status})")

    async def _post(self, message: Message) -> int:
        """The answer's status, once the answer has been read (at most `max_answer_bytes` of it)."""
        try:
            target = await check_target(message.address, self.allow, self.resolve)
        except TargetRefused as exc:
            raise GiveUp(str(exc)) from exc
        except TargetUnresolved as exc:
            raise TryAgain(str(exc)) from exc
        sent_at = datetime.fromtimestamp(int(self.wall_clock()), UTC)
        body = json.dumps(payload(self.channel, message_id=message.delivery_id, subject=message.subject,
                                  text=message.body, language=message.language, at=sent_at),
                          ensure_ascii=False, separators=(",", ":"))
        signature = Webhook(self.secrets.secret_for(message.address)).sign(message.delivery_id, sent_at, body)
        headers = {"Host": target.host_header, "Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Tandem-Webhooks/1", "webhook-id": message.delivery_id,
                   "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": signature,
                   "Idempotency-Key": message.delivery_id}
        extensions = {"sni_hostname": target.server_name} if target.url.scheme == "https" else {}
        try:
            async with self.client.stream("POST", target.request_url(), content=body.encode(), headers=headers,
                                          extensions=extensions) as response:
                # Raw bytes, as they come over the wire: a compressed answer is never inflated.
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > self.max_answer_bytes:
                        # Leaving the block closes the connection: the rest is never read. The answer
                        # came, so the message may have arrived; it is not sent again.
                        raise GiveUp(f"the webhook answered {response.status_code} with more than "
                                     f"{self.max_answer_bytes} bytes (answer_too_large); not resent")
                return response.status_code
        except httpx.HTTPError as exc:
            # Also a timeout after the body went out: sending again is safe, the receiver drops a
            # repeat by its webhook-id.
            raise TryAgain(f"the webhook could not be reached ({type(exc).__name__})") from exc


class EndpointSecrets:
    """Each endpoint's signing secret, derived from the deployment's one (`TANDEM_WEBHOOK_SECRET`):
    HMAC-SHA256(secret, "tandem-webhook:" + URL), as `whsec_` + base64. A receiver learns only its
    own; `tandem webhook secret URL` prints it for the one who sets the receiver up."""

    PREFIX = "whsec_"

    def __init__(self, deployment_secret: str) -> None:
        if not deployment_secret:
            raise ValueError("the webhook signing secret is empty")
        self._key = deployment_secret.encode()

    def secret_for(self, url: str) -> str:
        digest = hmac.new(self._key, f"tandem-webhook:{url}".encode(), hashlib.sha256).digest()
        return self.PREFIX + base64.b64encode(digest).decode("ascii")
