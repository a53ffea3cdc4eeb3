"""An invite about a pair with a forgotten person keeps what a calendar needs, and no one's name."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress

from services.notifications.domain.forgotten import without_the_forgotten


def invite() -> str:
    calendar = Calendar()
    calendar.add("method", "CANCEL")
    event = Event()
    event.add("uid", "m-1@tandem")
    event.add("sequence", 2)
    event.add("dtstart", datetime(2027, 3, 1, 9, tzinfo=UTC))
    event.add("dtend", datetime(2027, 3, 1, 10, tzinfo=UTC))
    event.add("summary", "Mentoring kickoff: Zoë Erasmus & Ana Souza")
    event.add("description", "Mentoring kickoff of Zoë Erasmus (mentor) and Ana Souza (mentee).")
    for email, name in (("zoe@example.com", "Zoë Erasmus"), ("ana@example.com", "Ana Souza")):
        attendee = vCalAddress(f"mailto:{email}")
        attendee.params["cn"] = name
        event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    return calendar.to_ical().decode()


def test_only_the_reader_and_the_calendar_keys_are_left():
    cleaned = without_the_forgotten(invite(), "Ana@example.com")
    assert "Zoë" not in cleaned and "zoe@example.com" not in cleaned and "Erasmus" not in cleaned
    event = next(iter(Calendar.from_ical(cleaned).walk("VEVENT")))
    assert str(event["UID"]) == "m-1@tandem" and event["SEQUENCE"] == 2 and str(event["SUMMARY"]) == "Mentoring"
    assert str(event["ATTENDEE"]).lower() == "mailto:ana@example.com"
    assert "METHOD:CANCEL" in cleaned
