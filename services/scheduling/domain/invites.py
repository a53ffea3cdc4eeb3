"""Calendar invites (iCalendar, RFC 5545) sent as iTIP messages (RFC 5546): written directly as
RFC 5545 text (`shared.ical`, much cheaper than building `icalendar` objects), read back with `icalendar`.

One meeting keeps one UID for its whole life; every change is a new METHOD:REQUEST with a higher
SEQUENCE, and a cancellation is METHOD:CANCEL with STATUS:CANCELLED and the same UID, so calendar
clients update or remove the event they already have instead of adding a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar

from shared import ical
from shared.people import Participant

from .ids import uuid5_text
from .outcomes import Slot

PRODID = "-//Tandem//Scheduling//EN"
# Fixed namespace: the same meeting id always gives the same UID, on every machine.
_UID_NAMESPACE = uuid.UUID("0b7f3f55-3f5e-4c55-9a53-6d1b7e3c2a10")
Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Invitee:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class MeetingInvite:
    """What an invite describes; `start`/`end` are aware datetimes (written in UTC)."""

    meeting_id: str
    start: datetime
    end: datetime
    organizer: Invitee
    attendees: tuple[Invitee, ...]
    summary: str
    description: str = ""
    location: str | None = None


TANDEM = Invitee("scheduling@tandem.example", "Tandem")
# Said in every invite's description: calendar replies go to the organizer's mailbox, which nobody
# reads; the meeting's page (linked from the mail the invite came with) moves or cancels it.
NOT_READ = ("Replies to this invitation are not read. To move or cancel this meeting, "
            "use the link in the e-mail that came with it.")


def invite_uid(meeting_id: str) -> str:
    """Stable UID for a meeting id (ids may hold characters that some clients dislike in UIDs)."""
    return f"{uuid5_text(_UID_NAMESPACE, meeting_id)}@tandem"


def meeting_for_pair(meeting_id: str, slot: Slot, mentor: Participant, mentee: Participant, *,
                     occurrence: int | None = None, organizer: Invitee = TANDEM, description: str = "",
                     location: str | None = None) -> MeetingInvite:
    """The invite for one mentoring meeting; the program sends it, both people attend.

    The organizer is the program's mailbox (`organizer_email`) rather than the mentor, so neither
    person is the other's host. Tandem does not read calendar replies: the default description says
    so, and that the link in the mail is the way to move or cancel the meeting. `location` is the
    video link or where they meet (LOCATION).
    """
    label = "kickoff" if occurrence == 1 else (f"meeting {occurrence}" if occurrence else "meeting")
    if not description:
        description = (f"Mentoring {label} of {mentor.name} (mentor) and {mentee.name} (mentee).\n"
                       f"{_local_times(slot, mentor)}\n{_local_times(slot, mentee)}\n"
                       + (f"Where: {location}\n" if location else "") + NOT_READ)
    return MeetingInvite(
        meeting_id=meeting_id, start=slot.start, end=slot.end, organizer=organizer,
        attendees=(Invitee(mentor.email, mentor.name), Invitee(mentee.email, mentee.name)),
        summary=f"Mentoring {label}: {mentor.name} & {mentee.name}",
        description=description, location=location,
    )


def _local_times(slot: Slot, person: Participant) -> str:
    """'Ana Souza: Wed 3 Jun 2026, 09:00-09:45 (Asia/Kathmandu)', so nobody has to convert."""
    return f"{person.name}: {_local_span(person.timezone, slot.start, slot.end)} ({person.timezone})"


# A wave's meetings share a few start times per zone. Keyed by zone name and the two instants (aware
# datetimes compare as instants), and each text is converted by zoneinfo, so clock changes hold.
@lru_cache(maxsize=4096)
def _local_span(timezone: str, start: datetime, end: datetime) -> str:
    zone = ZoneInfo(timezone)
    start, end = start.astimezone(zone), end.astimezone(zone)
    return f"{start:%a} {start.day} {start:%b %Y, %H:%M}-{end:%H:%M}"


@lru_cache(maxsize=4096)  # the organizer's line is the same in every invite, a person's in each of theirs
def _address(name: str, person: Invitee, params: tuple[tuple[str, str], ...] = ()) -> str:
    cn = (("CN", person.name),) if person.name else ()
    return ical.content_line(name, f"mailto:{person.email}", cn + params)


def build_invite(meeting: MeetingInvite, *, method: Method = "REQUEST", sequence: int = 0,
                 stamp: datetime | None = None) -> str:
    """The iCalendar text of a REQUEST (new or changed meeting) or CANCEL for `meeting`.

    `sequence` starts at 0 and must go up with every change, including the cancellation.
    `stamp` (DTSTAMP) is when the message is created; now by default.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"method must be REQUEST or CANCEL, got {method!r}")
    if sequence < 0:
        raise ValueError("sequence must be 0 or more")
    if meeting.start.tzinfo is None or meeting.end.tzinfo is None:
        raise ValueError("meeting start and end must be aware datetimes")
    if meeting.end <= meeting.start:
        raise ValueError("meeting must end after it starts")
    line, text = ical.content_line, ical.text
    # No reply is asked for: nobody reads them (the meeting's page moves or cancels it).
    asked = (("PARTSTAT", "NEEDS-ACTION"), ("ROLE", "REQ-PARTICIPANT"), ("RSVP", "FALSE")) \
        if method == "REQUEST" else (("ROLE", "REQ-PARTICIPANT"),)
    lines = [
        "BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", line("PRODID", PRODID), "CALSCALE:GREGORIAN\r\n",
        f"METHOD:{method}\r\n", "BEGIN:VEVENT\r\n",
        line("SUMMARY", text(meeting.summary)),
        line("DTSTART", ical.utc(meeting.start)),
        line("DTEND", ical.utc(meeting.end)),
        line("DTSTAMP", ical.utc(stamp or datetime.now(UTC))),
        line("UID", invite_uid(meeting.meeting_id)),
        f"SEQUENCE:{sequence}\r\n",
        *(_address("ATTENDEE", p, (("CUTYPE", "INDIVIDUAL"), *asked)) for p in meeting.attendees),
        *([line("DESCRIPTION", text(meeting.description))] if meeting.description else []),
        *([line("LOCATION", text(meeting.location))] if meeting.location else []),
        _address("ORGANIZER", meeting.organizer),
        f"STATUS:{'CONFIRMED' if method == 'REQUEST' else 'CANCELLED'}\r\n",
        "TRANSP:OPAQUE\r\n", "END:VEVENT\r\n", "END:VCALENDAR\r\n",
    ]
    return "".join(lines)


@dataclass(frozen=True)
class ParsedInvite:
    method: str
    uid: str
    sequence: int
    status: str
    start: datetime
    end: datetime
    stamp: datetime
    organizer: str
    attendees: tuple[str, ...]
    summary: str
    description: str
    location: str | None = None


def _email(address: object) -> str:
    text = str(address)
    return text[7:] if text.lower().startswith("mailto:") else text


def parse_invite(text: str) -> ParsedInvite:
    """Reads back an invite with exactly one event; instants come back as aware UTC datetimes."""
    calendar = Calendar.from_ical(text)
    events = calendar.events
    if len(events) != 1:
        raise ValueError(f"expected one VEVENT, found {len(events)}")
    event = events[0]
    return ParsedInvite(
        method=str(calendar.get("METHOD", "")),
        uid=str(event.uid),
        sequence=int(event.sequence),
        status=str(event.get("STATUS", "")),
        start=event.start.astimezone(UTC),
        end=event.end.astimezone(UTC),
        stamp=event.DTSTAMP.astimezone(UTC),
        organizer=_email(event.organizer),
        attendees=tuple(_email(a) for a in event.attendees),
        summary=str(event.get("SUMMARY", "")),
        description=str(event.get("DESCRIPTION", "")),
        location=str(event["LOCATION"]) if "LOCATION" in event else None,
    )
