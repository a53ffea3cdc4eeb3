"""Invites that reach us after someone was forgotten.

Scheduling writes both people's names and addresses into every invite. An invite made before
scheduling heard of an erasure (matches.v1 and participants.v1 are read independently) can arrive
here after notifications itself forgot the person, when their name is no longer known to scrub. So
an invite about a pair with a forgotten person keeps only what a calendar needs to find and update
its entry (UID, SEQUENCE, times, METHOD) and the reader as attendee: no other attendee, and a
summary and description without names.
"""

from __future__ import annotations

from icalendar import Calendar

from services.notifications.domain.messages import phrases
from services.notifications.i18n.values import Phrase
from shared.people import Participant

NEUTRAL_SUMMARY = "Mentoring"


def without_the_forgotten(ics: str, reader_email: str) -> str:
    calendar = Calendar.from_ical(ics)
    for event in calendar.walk("VEVENT"):
        attendees = event.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
        kept = [a for a in attendees if str(a).lower().removeprefix("mailto:") == reader_email.lower()]
        for name in ("ATTENDEE", "DESCRIPTION", "SUMMARY", "COMMENT", "CONTACT"):
            event.pop(name, None)
        for attendee in kept:
            event.add("ATTENDEE", attendee)
        event.add("SUMMARY", NEUTRAL_SUMMARY)
    return calendar.to_ical().decode()


def name_of(person: Participant) -> str | Phrase:
    """How a message names someone: by their name, or, once they were forgotten, as "a former
    participant" in the reader's own language."""
    return Phrase(phrases.FORMER_PARTICIPANT) if person.erased else person.name
