"""Invites that name a forgotten person are rebuilt from their calendar keys: checked on invites as
scheduling really writes them, with names that fold, hold commas, "İ" or CJK characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from services.notifications.domain.forgotten import names_any, without_the_forgotten
from services.scheduling.domain.invites import build_invite, meeting_for_pair
from services.scheduling.domain.outcomes import Slot
from shared.people import Participant
from tests.support.people import onboarded

START = datetime(2027, 3, 1, 9, tzinfo=UTC)
NAMES = ["Cavalcanti, Maria Fernanda Oliveira de Albuquerque", "İlkay Gündoğan", "山田 太郎"]


def person(pid: str, name: str, email: str) -> Participant:
    return Participant.from_profile(onboarded(pid=pid)).with_(name=name, email=email)


def invite(mentor: Participant, mentee: Participant, method: str = "REQUEST") -> str:
    meeting = meeting_for_pair("m-1", Slot(START, START + timedelta(hours=1)), mentor, mentee, occurrence=1,
                               location="Rua Augusta 1500, São Paulo, apt. 12")
    return build_invite(meeting, method=method, sequence=2, stamp=START - timedelta(days=1))


def unfolded(ics: str) -> str:
    return ics.replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";").casefold()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_an_invite_naming_a_forgotten_person_keeps_only_the_calendar_keys_and_the_reader(name, method):
    erased = person("mentor-1", name, "forgotten.person.with.a.long.address@example.com")
    reader = person("mentee-1", "Ana Souza", "ana@example.com")
    ics = invite(erased, reader, method)
    assert names_any(ics, [name]) and names_any(ics, [erased.email.upper()])
    if len(name) > 40:  # folded or escaped somewhere (the description): text replacement would leave it there
        assert ics.count(name) < unfolded(ics).count(name.casefold())

    rebuilt = without_the_forgotten(ics, "ANA@example.com")
    for part in [name, erased.email, *[p.strip(",") for p in name.split() if len(p) >= 4],
                 "Rua Augusta", "Mentoring kickoff of"]:
        assert part.casefold() not in unfolded(rebuilt), part
    assert not names_any(rebuilt, [name, erased.email])
    event = next(iter(Calendar.from_ical(rebuilt).walk("VEVENT")))
    original = next(iter(Calendar.from_ical(ics).walk("VEVENT")))
    for key in ("UID", "SEQUENCE", "STATUS", "ORGANIZER"):
        assert str(event[key]) == str(original[key])
    assert event.decoded("DTSTART") == START and event.decoded("DTEND") == START + timedelta(hours=1)
    assert str(event["ATTENDEE"]).lower() == "mailto:ana@example.com" and str(event["SUMMARY"]) == "Mentoring"
    assert f"METHOD:{method}" in rebuilt


def test_an_invite_of_other_people_does_not_name_them():
    ics = invite(person("mentor-2", "Bram de Vries", "bram@example.com"), person("mentee-1", "Ana", "ana@example.com"))
    assert not names_any(ics, NAMES + ["someone@example.com"])
