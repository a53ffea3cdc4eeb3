"""A meeting's invite as one reader gets it: the calendar file scheduling made, with the reader's own
meeting page in its `URL` and at the end of its `DESCRIPTION` (RFC 5545). Tandem does not read
replies to invitations; the page is where a person moves or cancels the meeting.

The file is edited as text, line by line (`shared.ical`): parsing and writing it again through
`icalendar` was about 80 % of this service's CPU for a scheduled meeting.
"""

from __future__ import annotations

from dataclasses import replace

from shared import ical

from .outgoing import Attachment


def with_page_link(invite: Attachment, url: str, line: str) -> Attachment:
    """`line` is the sentence that carries the link, in the reader's language."""
    try:
        lines = ical.unfold(invite.content)
        parts = [ical.split(each) for each in lines]
    except ValueError:
        return invite  # not ours to repair: sent as scheduling wrote it
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        return invite
    out, description, in_event = [], "", False
    for each, (name, _params, value) in zip(lines, parts, strict=True):
        if name == "BEGIN" and value.upper() == "VEVENT":
            in_event, description = True, ""
        elif in_event and name == "URL":
            continue  # replaced by the reader's own page below
        elif in_event and name == "DESCRIPTION":
            description = value  # still escaped TEXT: the sentence is escaped and appended as is
            continue
        elif name == "END" and value.upper() == "VEVENT":
            in_event = False
            added = ical.text(line.strip())
            out.append(ical.content_line("URL", url, (("VALUE", "URI"),)))
            out.append(ical.content_line("DESCRIPTION", f"{description}\\n\\n{added}" if description else added))
        out.append(ical.fold(each))
    return replace(invite, content="".join(out))
