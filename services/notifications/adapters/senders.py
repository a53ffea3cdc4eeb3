"""Delivery channels: e-mail over SMTP (aiosmtplib) and chat/webhook over HTTPS (httpx).

Each send ends in one of three ways, because "sent at most once" depends on telling them apart:
`Delivered`; `TryAgain` when we know nothing was delivered (connection refused, a 4xx answer);
`GiveUp` when it never will be (a 5xx answer), or when we cannot know whether it was (the
connection broke during the transfer), since sending again could deliver it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx


class TryAgain(Exception):
    pass


class GiveUp(Exception):
    pass


@dataclass(frozen=True)
class Message:
    delivery_id: str
    address: str
    subject: str
    body: str
    language: str
    attachment: dict | None = None  # {"filename", "content", "mime_type"}


class EmailSender:
    def __init__(self, *, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 15.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        # Stable per delivery: mail clients collapse copies with the same Message-ID.
        mail["Message-ID"] = make_msgid(idstring=message.delivery_id, domain="tandem.example")
        mail["X-Tandem-Delivery"] = message.delivery_id
        mail.set_content(message.body)
        mail["Content-Language"] = message.language  # after set_content, which resets Content-* headers
        if message.attachment:
            maintype, _, rest = message.attachment["mime_type"].partition("/")
            subtype, *params = [p.strip() for p in rest.split(";")]
            mail.add_attachment(
                message.attachment["content"].encode(), maintype=maintype, subtype=subtype,
                filename=message.attachment["filename"],
                params=dict(p.split("=", 1) for p in params if "=" in p),
            )
        return mail

    async def send(self, message: Message) -> None:
        mail = self.build(message)
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout, start_tls=self.starttls)
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self.password or "")
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as exc:
            raise TryAgain(f"mail server unreachable: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise (TryAgain if 400 <= exc.code < 500 else GiveUp)(f"mail server refused login: {exc}") from exc
        try:
            await smtp.send_message(mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise GiveUp(f"recipient refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise (TryAgain if 400 <= exc.code < 500 else GiveUp)(f"mail server answered {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise GiveUp(f"connection lost during the transfer; not resent to avoid a duplicate: {exc}") from exc
        finally:
            try:
                await smtp.quit()
            except Exception:
                smtp.close()


class WebhookSender:
    """POSTs a JSON message; the Idempotency-Key lets the receiver drop a repeat, so retrying is safe."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.client = httpx.AsyncClient(timeout=timeout)

    async def send(self, message: Message) -> None:
        try:
            response = await self.client.post(
                message.address,
                json={"id": message.delivery_id, "subject": message.subject, "text": message.body,
                      "language": message.language},
                headers={"Idempotency-Key": message.delivery_id},
            )
        except httpx.HTTPError as exc:
            raise TryAgain(f"webhook unreachable: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TryAgain(f"webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise GiveUp(f"webhook refused the message: {response.status_code} {response.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()
