"""The delivery log's aggregate: one message for one person, and the only ways it may change.

    pending ──claim──▶ sending ──delivered──────────▶ delivered
       ▲                  ├──fail / interrupted──────▶ failed
       └────try_later─────┘   (after the last allowed attempt, try_later fails it instead)

Sent at most once:
- `claim` is saved and committed on its own, right before the send, so a crash can leave at most
  that one message undecided.
- Only `try_later` leads back to `pending`, and only for a send the sender knows delivered nothing.
  A send that may or may not have gone out is `fail`ed; a claim still `sending` after its lease (the
  process died mid-send) is `interrupted`, which fails it too: we cannot know whether the server
  took it, so it is never sent again.
- Every change bumps `version`, and the repository saves a change only if the row is still at the
  version the change was made from (one atomic conditional UPDATE). Of N replicas racing for one
  delivery exactly one claims it, and its outcome is recorded once.

Two kinds of recipient: a participant (`plan`: their language, tone, channel and quiet hours, and
a link to their notification preferences) and an ops contact of the program team (`plan_for_team`:
their language and channel, at once, in the direct tone; known by an opaque id, see
`program_team`). Only the delivery row holds an address. A message is rendered once, when it is
planned (`render`: subject, plain text and HTML), and sent exactly as planned. A mail's bytes are
written then too, by the service layer (`mime`), and dropped once the delivery is settled: they are
only there to be sent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.i18n.catalogues import language_for
from shared.contracts import events as ev
from shared.people import Participant
from shared.programs import OpsContact

from .chat import CHAT_CHANNELS, chat_channel
from . import program_team
from .messages import template
from .outgoing import Attachment, Outgoing
from . import preferences
from .invites import for_reader
from .links import LONG_LIVED, PREFERENCES, UNSUBSCRIBE, ActionLink, LinkMaker
from .quiet_hours import next_allowed
from .messages import actions as actions_text
from .messages import participants as participant_messages
from .messages.structure import DIRECT
from .render import Writer, render

NAMESPACE = uuid.UUID("0b7e3c52-57a4-4c43-8f0e-8d9a1f2e6c33")
PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
PARTICIPANT, OPS_CONTACT = "participant", "ops_contact"  # who a delivery is for
INTERRUPTED = "interrupted while sending; not resent, to avoid sending it twice"


class InvalidTransition(Exception):
    """A change the delivery's state does not allow: a bug, never an outcome to record."""


def delivery_id(cause_event_id: str, recipient_id: str, template: str) -> str:
    """Derived from what causes it, so a redelivered event finds its delivery already in the log:
    `str(uuid.uuid5(NAMESPACE, ...))`, written from the SHA-1 directly (RFC 4122 4.3) rather than
    through two UUID objects, which took most of its time."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + f"{cause_event_id}/{recipient_id}/{template}".encode(),
                                    usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE = NAMESPACE.bytes


def route(person: Participant) -> tuple[str, str]:
    """(channel, address): a chat channel needs a URL (its wire format: domain/chat.py); e-mail is the
    fallback."""
    comm = person.communication
    if comm.channel in CHAT_CHANNELS and comm.webhook_url:
        return chat_channel(comm.channel, comm.webhook_url), comm.webhook_url
    return "email", person.email


@dataclass
class Delivery:
    delivery_id: str
    recipient_id: str
    channel: str  # email | webhook | slack | teams
    template: str
    language: str  # BCP 47 tag of the text's language (pt-BR, zh-Hans; en when the reader's has no catalogue)
    cause_event_id: str
    cause_type: str
    address: str
    subject: str
    body: str  # plain text
    not_before: datetime
    attachment: Attachment | None = None
    html: str = ""  # the same message as HTML (the mail's alternative part)
    unsubscribe_url: str | None = None  # the reader's notification preferences (List-Unsubscribe)
    status: str = PENDING
    attempts: int = 0  # sends tried, counted at the claim
    last_error: str | None = None
    claimed_at: datetime | None = None
    delivered_at: datetime | None = None
    version: int = 0
    recipient_kind: str = PARTICIPANT
    # A mail's bytes as they will go out, written when it is planned (adapters/mail_format.py) and
    # dropped once it is settled; None for a webhook, or when they are written at the send.
    mime: bytes | None = None

    def is_due(self, now: datetime) -> bool:
        return self.status == PENDING and self.not_before <= now

    def claim(self, now: datetime) -> None:
        """Taken for one send; saved before the send (module docstring)."""
        self._expect(PENDING, "claim")
        if self.not_before > now:
            raise InvalidTransition(f"delivery {self.delivery_id} is not due before {self.not_before.isoformat()}")
        self.attempts += 1
        self.claimed_at = now
        self._move(SENDING)

    def delivered(self, at: datetime) -> ev.NotificationDelivered:
        self._expect(SENDING, "record as delivered")
        self.delivered_at, self.last_error, self.mime = at, None, None
        self._move(DELIVERED)
        return ev.NotificationDelivered(
            notification_id=self.delivery_id, recipient_id=self.recipient_id, channel=self.channel,
            template=self.template, language=self.language, cause_event_id=self.cause_event_id, delivered_at=at,
        )

    def try_later(self, reason: str, *, retry_at: datetime, max_attempts: int) -> ev.NotificationFailed | None:
        """Nothing was delivered (the sender knows): pending again from `retry_at`, or failed once
        `max_attempts` sends have been tried."""
        self._expect(SENDING, "retry")
        if self.attempts >= max_attempts:
            return self.fail(f"gave up after {self.attempts} attempts: {reason}")
        self.not_before, self.last_error = retry_at, reason
        self._move(PENDING)
        return None

    def fail(self, reason: str) -> ev.NotificationFailed:
        """Refused for good, or unknown whether it went out: either way it is never sent again.

        `reason` goes into the log and the event: ids and codes only, never an address or a name."""
        self._expect(SENDING, "record as failed")
        self.last_error, self.mime = reason, None
        self._move(FAILED)
        return ev.NotificationFailed(
            notification_id=self.delivery_id, recipient_id=self.recipient_id, channel=self.channel,
            template=self.template, cause_event_id=self.cause_event_id, error=reason, attempts=self.attempts,
        )

    def interrupted(self, now: datetime, lease: timedelta) -> ev.NotificationFailed:
        """Still `sending` after its lease: whoever sent it died mid-send."""
        self._expect(SENDING, "record as interrupted")
        if self.claimed_at is not None and self.claimed_at + lease > now:
            raise InvalidTransition(f"delivery {self.delivery_id} may still be being sent (claimed at "
                                    f"{self.claimed_at.isoformat()})")
        return self.fail(INTERRUPTED)

    def _expect(self, status: str, doing: str) -> None:
        if self.status != status:
            raise InvalidTransition(f"cannot {doing} delivery {self.delivery_id}: it is {self.status}")

    def _move(self, status: str) -> None:
        self.status = status
        self.version += 1


def plan(outgoing: Iterable[Outgoing], people: Mapping[str, Participant], *, cause_event_id: str,
         cause_type: str, now: datetime, links: LinkMaker | None = None) -> list[Delivery]:
    """The deliveries an event causes: each message in its reader's language and tone, with its action
    links signed for its reader, routed to their channel, and held until their quiet hours end.
    People who have left the program get nothing more, and nobody gets a kind of message they
    switched off (`preferences`)."""
    return [_plan_one(item, people[item.recipient_id], cause_event_id, cause_type, now, links)
            for item in outgoing if people[item.recipient_id].active
            and preferences.wanted(item.template, getattr(people[item.recipient_id], "muted", frozenset()))]


def _plan_one(item: Outgoing, person: Participant, cause_event_id: str, cause_type: str, now: datetime,
              links: LinkMaker | None) -> Delivery:
    comm = person.communication
    language = language_for(person.locale)
    pid = person.participant_id
    preferences_url = unsubscribe = None
    buttons: list[tuple] = []
    attachment = item.attachment
    page: tuple[str, str] | None = None  # the invite's meeting page, and the sentence that carries it
    if links is not None:
        preferences_url = links.url(ActionLink(pid, PREFERENCES[0], pid, PREFERENCES[1], now + LONG_LIVED))
        kind = preferences.kind_of(item.template)
        if kind is not None:
            unsubscribe = (preferences.STOP_LABEL[kind],
                           links.url(ActionLink(pid, UNSUBSCRIBE[0], pid, UNSUBSCRIBE[1], now + LONG_LIVED, kind)))
        for action in item.actions:
            url = links.url(ActionLink(pid, action.subject_kind, action.subject_id, action.action,
                                       action.expires_at or now + LONG_LIVED, action.variant), action.choice)
            buttons.append((action.label, url))
            if action.in_invite:
                page = (url, Writer(language, comm.style).fill(actions_text.INVITE_LINK, {"url": url}).text)
    if attachment is not None and attachment.mime_type.startswith("text/calendar") and (page or item.invite_title):
        attachment = _invite_for(attachment, item, Writer(language, comm.style), page)
    rendered = render(template(item.template), language, comm.style, item.context, preferences_url=preferences_url,
                      links=buttons, unsubscribe=unsubscribe)
    if item.certificate is not None:
        attachment = item.certificate.pdf(language)
    channel, address = route(person)
    not_before = next_allowed(now, person.timezone, comm.quiet_start, comm.quiet_end)
    if item.useful_until is not None and not_before > item.useful_until:
        not_before = now  # waiting for the quiet hours to end would make it useless
    return Delivery(
        delivery_id=delivery_id(cause_event_id, person.participant_id, item.template),
        recipient_id=person.participant_id, channel=channel, template=item.template, language=rendered.language,
        cause_event_id=cause_event_id, cause_type=cause_type, address=address, subject=rendered.subject,
        body=rendered.text, html=rendered.html, not_before=not_before, attachment=attachment,
        unsubscribe_url=unsubscribe[1] if unsubscribe else None,
    )


def _invite_for(invite: Attachment, item: Outgoing, writer: Writer, page: tuple[str, str] | None) -> Attachment:
    """The reader's copy of a meeting's invite: its title and description in their words and on their
    clock (when the message gives its title), and their meeting page (when it has one)."""
    url, line = page or (None, None)
    if item.invite_title is None:
        return for_reader(invite, url=url, line=line)
    described = participant_messages.INVITE_DESCRIPTION
    lines = [writer.fill(text, item.context).text for text in described.get(writer.tone, described[DIRECT])
             if writer.has_values(text, item.context)]
    return for_reader(invite, url=url, line=line, title=writer.fill(item.invite_title, item.context).text,
                      description="\n".join(lines))


def plan_for_team(outgoing: Iterable[Outgoing], contacts: Iterable[OpsContact], *, program_id: str,
                  cause_event_id: str, cause_type: str, now: datetime) -> list[Delivery]:
    """The deliveries of messages to a program's ops contacts: each in the contact's language, through
    their channel, at once (the settings give them no quiet hours)."""
    by_id = {program_team.contact_id(program_id, c): c for c in contacts}
    planned = []
    for item in outgoing:
        contact = by_id[item.recipient_id]
        rendered = render(template(item.template), language_for(program_team.contact_language(contact)),
                          program_team.TONE, item.context)
        channel, address = program_team.contact_route(contact)
        planned.append(Delivery(
            delivery_id=delivery_id(cause_event_id, item.recipient_id, item.template), recipient_id=item.recipient_id,
            channel=channel, template=item.template, language=rendered.language, cause_event_id=cause_event_id,
            cause_type=cause_type, address=address, subject=rendered.subject, body=rendered.text,
            html=rendered.html, not_before=now, attachment=item.attachment, recipient_kind=OPS_CONTACT,
        ))
    return planned
