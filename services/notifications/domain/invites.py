"""A meeting's invite as one reader gets it: the calendar file scheduling made, with the reader's own
meeting page in its `URL` and at the end of its `DESCRIPTION` (RFC 5545). Tandem does not read
replies to invitations; the page is where a person moves or cancels the meeting.

The file is edited as text, line by line (`shared.ical`): parsing and writing it again through
`icalendar` was about 80 % of this service's CPU for a scheduled meeting.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from shared import ical

from .outgoing import Attachment


def with_page_link(invite: Attachment, url: str, line: str) -> Attachment:
    """`line` is the sentence that carries the link, in the reader's language."""
    pieces = _pieces(invite.content)
    if pieces is None:
        return invite  # not ours to repair: sent as scheduling wrote it
    added = ical.text(line.strip())
    page = ical.content_line("URL", url, (("VALUE", "URI"),))
    out = [
        piece if isinstance(piece, str)
        else page + ical.content_line("DESCRIPTION", f"{piece[0]}\\n\\n{added}" if piece[0] else added)
        for piece in pieces
    ]
    return replace(invite, content="".join(out))


@functools.lru_cache(maxsize=256)
def _pieces(content: str) -> tuple[str | tuple[str], ...] | None:
    """The invite cut where each reader's page goes: folded lines as they are written again, and
    for each event, before its END, a 1-tuple of its description (escaped TEXT) to which the
    reader's sentence is added. Kept for the few invites being written at a time, as both people
    of a meeting get the same one (None: not an invite this edits)."""
    try:
        lines = ical.unfold(content)
        parts = [ical.split(each) for each in lines]
    except ValueError:
        return None
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        return None
    out: list[str | tuple[str]] = []
    description, in_event = "", False
    for each, (name, _params, value) in zip(lines, parts, strict=True):
        if name == "BEGIN" and value.upper() == "VEVENT":
            in_event, description = True, ""
        elif in_event and name == "URL":
            continue  # replaced by the reader's own page
        elif in_event and name == "DESCRIPTION":
            description = value  # still escaped TEXT: the sentence is escaped and appended as is
            continue
        elif name == "END" and value.upper() == "VEVENT":
            in_event = False
            out.append((description,))
        out.append(ical.fold(each))
    return tuple(out)
