"""What composing an event yields: messages to write for people, before they are rendered."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .certificate import Certificate


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str  # text, or base64 when `encoding` says so (a PDF)
    mime_type: str  # e.g. "text/calendar; method=REQUEST"
    encoding: str | None = None  # "base64" for binary content

    def payload(self) -> bytes:
        return base64.b64decode(self.content) if self.encoding == "base64" else self.content.encode()


@dataclass(frozen=True)
class Outgoing:
    recipient_id: str
    template: str
    # The template's parameters: plain values, or `i18n.values` the renderer writes in the reader's language.
    context: dict = field(hash=False)
    attachment: Attachment | None = None
    # Past this moment the message is useless (a reminder after the meeting began), so quiet hours
    # may not delay it beyond.
    useful_until: datetime | None = None
    # A certificate to attach, written as a PDF in the reader's language when the message is rendered.
    certificate: Certificate | None = None
