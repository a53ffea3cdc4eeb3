"""Invites about a pair with a forgotten person, and how messages name them.

Scheduling writes both people's names and addresses into every invite, folded at 75 octets and
escaped (RFC 5545), so no text replacement can be trusted to find them. An invite about a pair with
a forgotten person is therefore rebuilt from its calendar keys: what a calendar needs to find,
update or cancel its entry (UID, SEQUENCE, times, STATUS, METHOD, the organizer) and the reader as
attendee; no other attendee, no description, place or link, and a summary without names. This
applies to an invite made before scheduling heard of the erasure that arrives afterwards
(`compose`), and to every invite stored before it (service_layer/erasure.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar, Event

from services.notifications.domain.messages import phrases
from services.notifications.i18n.values import Phrase
from shared.people import Participant

NEUTRAL_SUMMARY = "Mentoring"
PRODID = "-//Tandem//Notifications//EN"
# The properties of an event a calendar needs to keep its entry in step; nothing that describes anyone.
_CALENDAR_KEYS = ("UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "STATUS", "TRANSP",
                  "ORGANIZER")


def without_the_forgotten(ics: str, reader_email: str) -> str:
    """The invite rebuilt from its calendar keys, with the reader as its only attendee."""
    source = Calendar.from_ical(ics)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if "METHOD" in source:
        calendar["METHOD"] = source["METHOD"]
    for found in source.walk("VEVENT"):
        event = Event()
        for key in _CALENDAR_KEYS:
            if key in found:
                event[key] = found[key]
        event.add("SUMMARY", NEUTRAL_SUMMARY)
        attendees = found.get("ATTENDEE")
        for attendee in attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []:
            if str(attendee).lower().removeprefix("mailto:") == reader_email.lower():
                event.add("ATTENDEE", f"mailto:{reader_email}")
        calendar.add_component(event)
    return calendar.to_ical().decode()


def names_any(ics: str, strings: Iterable[str]) -> bool:
    """Whether the invite names any of `strings` (a name, an address), whatever the case: searched in
    its unfolded, unescaped values and parameters (a CN), as a calendar shows them."""
    wanted = [s.casefold() for s in strings if s]
    try:
        calendar = Calendar.from_ical(ics)
    except ValueError:
        return True  # cannot be read: treated as naming them (rebuilding it fails too; it is dropped)
    for component in calendar.walk():
        for name, value in component.property_items(recursive=False):
            values = value if isinstance(value, list) else [value]
            for v in values:
                shown = [str(v), *(str(p) for p in getattr(v, "params", {}).values())]
                text = " ".join(shown).casefold()
                if any(w in text for w in wanted):
                    return True
    return False


def rebuilt_if_naming(ics: str, reader_address: str, strings: Iterable[str]) -> str | None:
    """A stored invite once someone named by `strings` was forgotten: as it was when it does not
    name them, else rebuilt (`without_the_forgotten`); None when it cannot be read (it is dropped)."""
    if not names_any(ics, strings):
        return ics
    try:
        return without_the_forgotten(ics, reader_address)
    except ValueError:
        return None


def name_of(person: Participant) -> str | Phrase:
    """How a message names someone: by their name, or, once they were forgotten, as "a former
    participant" in the reader's own language."""
    return Phrase(phrases.FORMER_PARTICIPANT) if person.erased else person.name
