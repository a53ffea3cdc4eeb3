"""Which kinds of message a participant may switch off, and which they may not.

A participant chooses on their preferences page (one link in every mail's footer) which kinds they
get; each mail of such a kind also carries a one-click link that stops just that kind (RFC 8058,
the mail's `List-Unsubscribe`). Messages the relationship itself needs (a proposal to answer, a
meeting booked, moved or cancelled, a feedback request, an end) cannot be switched off: the page
says so, and those mails carry no `List-Unsubscribe`.
"""

from __future__ import annotations

from .messages import actions
from .messages.structure import Text

REMINDERS, CHECKINS, NUDGES = "reminders", "checkins", "nudges"
KINDS = (REMINDERS, CHECKINS, NUDGES)

# template -> the kind of message it is, for the templates that may be switched off
KIND_OF_TEMPLATE = {
    "reminder_due": REMINDERS,
    "checkin_requested": CHECKINS,
    "checkin_reminder": CHECKINS,
    "relationship_nudge": NUDGES,
    "meetings_missed": NUDGES,
}
STOP_LABEL: dict[str, Text] = {REMINDERS: actions.STOP_REMINDERS, CHECKINS: actions.STOP_CHECKINS,
                               NUDGES: actions.STOP_NUDGES}


def kind_of(template: str) -> str | None:
    """The kind a template's messages are, or None for a message that cannot be switched off."""
    return KIND_OF_TEMPLATE.get(template)


def wanted(template: str, muted: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
    kind = kind_of(template)
    return kind is None or kind not in muted
