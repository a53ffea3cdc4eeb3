"""What composing an event yields: messages to write for people, before they are rendered."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .certificate import Certificate
    from .messages.structure import Text


@dataclass(frozen=True)
class Action:
    """A link the message offers its reader (`links.ActionLink` once signed for them): a label, the
    subject and action it is bound to, and the choice its page shows already made."""

    label: Text
    subject_kind: str
    subject_id: str
    action: str
    choice: str | None = None
    expires_at: datetime | None = None  # None: long-lived (links.LONG_LIVED)
    # Also written into the calendar invite (URL and DESCRIPTION): the meeting's page.
    in_invite: bool = False
    # Narrows the binding, so a new version of the subject gets a new link (a moved meeting's sequence).
    variant: str = ""


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
    # What the message asks the reader to do, as links to small pages (domain/links.py).
    actions: tuple[Action, ...] = ()
    # The title of the calendar invite attached, in the reader's words; with it, the invite's title and
    # description are written for the reader (domain/invites.py) from the message's parameters.
    invite_title: Text | None = None
