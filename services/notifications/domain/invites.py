"""A meeting's invite as one reader gets it: the calendar file scheduling made, in the reader's words
and with their own meeting page (RFC 5545). Scheduling knows no languages, so it writes the title
(`SUMMARY`) and `DESCRIPTION` in English for both people; each reader's copy gets them in their own
language, on their own clock, with their page in `URL` and at the end of the description. Tandem
does not read replies to invitations; the page is where a person moves or cancels the meeting.

The file is edited as text, line by line (`shared.ical`): parsing and writing it again through
`icalendar` was about 80 % of this service's CPU for a scheduled meeting.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from shared import ical

from .outgoing import Attachment


def with_page_link(invite: Attachment, url: str, line: str) -> Attachment:
    """`line` is the sentence that carries the link, in the reader's language."""
    return for_reader(invite, url=url, line=line)


def for_reader(invite: Attachment, *, url: str | None = None, line: str | None = None, title: str | None = None,
               description: str | None = None) -> Attachment:
    """The reader's copy: `title` and `description` (plain text, in their words) replace scheduling's
    SUMMARY and DESCRIPTION where given; `url`, their meeting page, replaces URL, and `line`, the
    sentence that carries it, ends the description. What a calendar goes by is left as it was."""
    pieces = _pieces(invite.content)
    if pieces is None:
        return invite  # not ours to repair: sent as scheduling wrote it
    added = ical.text(line.strip()) if line else ""
    page = ical.content_line("URL", url, (("VALUE", "URI"),)) if url else None
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif isinstance(piece, Summary):
            out.append(ical.content_line("SUMMARY", ical.text(title)) if title else piece.line)
        else:  # the end of an event: its page and its description
            described, urls = piece.description, piece.urls
            if description is not None:
                described = ical.text(description.strip())
            out.append(page or urls)
            text = "\\n\\n".join(part for part in (described, added) if part)
            if text:
                out.append(ical.content_line("DESCRIPTION", text))
    return Attachment(invite.filename, "".join(out), invite.mime_type, invite.encoding)  # (faster than `replace`)


class Summary(NamedTuple):
    line: str  # as scheduling wrote it, folded


class EventEnd(NamedTuple):
    description: str  # scheduling's, still escaped TEXT
    urls: str  # its URL lines, folded


@functools.lru_cache(maxsize=256)
def _pieces(content: str) -> tuple[str | Summary | EventEnd, ...] | None:
    """The invite cut where each reader's words go: folded lines as they are written again; each
    event's SUMMARY; and before each event's END, what the reader's page and description replace.
    Kept for the few invites being written at a time, as both people of a meeting get the same one
    (None: not an invite this edits)."""
    try:
        lines = ical.unfold(content)
        parts = [ical.split(each) for each in lines]
    except ValueError:
        return None
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        return None
    out: list[str | Summary | EventEnd] = []
    description, urls, in_event = "", "", False
    for each, (name, _params, value) in zip(lines, parts, strict=True):
        if name == "BEGIN" and value.upper() == "VEVENT":
            in_event, description, urls = True, "", ""
        elif in_event and name == "URL":
            urls += ical.fold(each)  # kept unless the reader's own page replaces it
            continue
        elif in_event and name == "DESCRIPTION":
            description = value  # still escaped TEXT: the sentence is escaped and appended as is
            continue
        elif in_event and name == "SUMMARY":
            out.append(Summary(ical.fold(each)))
            continue
        elif name == "END" and value.upper() == "VEVENT":
            in_event = False
            out.append(EventEnd(description, urls))
        out.append(ical.fold(each))
    return tuple(_runs_joined(out))


def _runs_joined(pieces: list[str | Summary | EventEnd]) -> list[str | Summary | EventEnd]:
    """Each run of lines kept as they are made one string: a reader's copy then goes through a few
    pieces, not every line."""
    out: list[str | Summary | EventEnd] = []
    run: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            run.append(piece)
            continue
        if run:
            out.append("".join(run))
            run = []
        out.append(piece)
    if run:
        out.append("".join(run))
    return out
