"""A meeting's invite as one reader gets it: the calendar file scheduling made, with the reader's own
meeting page in its `URL` and at the end of its `DESCRIPTION` (RFC 5545). Tandem does not read
replies to invitations; the page is where a person moves or cancels the meeting."""

from __future__ import annotations

from dataclasses import replace

from icalendar import Calendar

from .outgoing import Attachment


def with_page_link(invite: Attachment, url: str, line: str) -> Attachment:
    """`line` is the sentence that carries the link, in the reader's language."""
    try:
        calendar = Calendar.from_ical(invite.content)
    except ValueError:
        return invite  # not ours to repair: sent as scheduling wrote it
    for event in calendar.walk("VEVENT"):
        event.pop("URL", None)
        event.add("URL", url, parameters={"VALUE": "URI"})
        description = str(event.pop("DESCRIPTION", "") or "")
        event.add("DESCRIPTION", f"{description}\n\n{line}".strip())
    return replace(invite, content=calendar.to_ical().decode())
