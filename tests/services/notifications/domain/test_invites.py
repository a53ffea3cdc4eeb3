"""Each reader's invite: their meeting page in URL and at the end of DESCRIPTION, the title and
description in their words when given, everything else as scheduling wrote it; read back with two
parsers (`icalendar` and `vobject`)."""

from __future__ import annotations

import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from services.notifications.domain.invites import for_reader, with_page_link
from services.notifications.domain.outgoing import Attachment
from shared import ical

PAGE = "https://tandem.example/a/eyJ0b2tlbiI6Im1lZXRpbmcifQ.signature"
SENTENCE = "Para remarcar ou cancelar, use: " + PAGE


def _invite(description: str | None, *, url: str | None = None) -> str:
    line = ical.content_line
    return "".join([
        "BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", line("PRODID", "-//Tandem//Scheduling//EN"), "METHOD:REQUEST\r\n",
        "BEGIN:VEVENT\r\n", line("UID", "9ca5915e@tandem"), "SEQUENCE:2\r\n", "DTSTART:20260603T090000Z\r\n",
        "DTEND:20260603T094500Z\r\n", line("SUMMARY", ical.text("Mentoring kickoff: Ana, Bram")),
        line("ATTENDEE", "mailto:ana@x.example", (("CN", "Oliveira, Ana Maria: mentee"),)),
        *([line("DESCRIPTION", ical.text(description))] if description is not None else []),
        *([line("URL", url, (("VALUE", "URI"),))] if url else []),
        "END:VEVENT\r\n", "END:VCALENDAR\r\n"])


def _attachment(content: str) -> Attachment:
    return Attachment(filename="invite.ics", content=content, mime_type="text/calendar; method=REQUEST")


@settings(max_examples=200, deadline=None)
@given(description=st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300),
       old_url=st.none() | st.just("https://old.example/x"))
def test_the_reader_gets_their_page_and_everything_else_stays(description, old_url):
    content = with_page_link(_attachment(_invite(description, url=old_url)), PAGE, SENTENCE).content
    assert all(len(line) <= 75 for line in content.encode().split(b"\r\n"))
    expected = f"{description}\n\n{SENTENCE}" if description else SENTENCE

    event = Calendar.from_ical(content).events[0]
    assert str(event["URL"]) == PAGE and str(event["DESCRIPTION"]) == expected
    assert str(event["SUMMARY"]) == "Mentoring kickoff: Ana, Bram" and int(event["SEQUENCE"]) == 2
    assert str(event["ATTENDEE"].params["CN"]) == "Oliveira, Ana Maria: mentee"

    second = vobject.readOne(content).vevent
    assert second.url.value == PAGE and second.description.value == expected
    assert len(second.contents["url"]) == 1 and second.uid.value == "9ca5915e@tandem"


def test_a_file_that_is_not_a_calendar_is_sent_as_it_came():
    for junk in ("", "hello", "BEGIN:VCALENDAR\r\nno colon here\r\n"):
        assert with_page_link(_attachment(junk), PAGE, SENTENCE).content == junk


@settings(max_examples=200, deadline=None)
@given(title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120).filter(str.strip),
       description=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300),
       old_url=st.none() | st.just("https://old.example/x"))
def test_the_reader_gets_the_title_and_description_in_their_words(title, description, old_url):
    original = _invite("Mentoring kickoff of Ana and Bram (English)", url=old_url)
    content = for_reader(_attachment(original), url=PAGE, line=SENTENCE, title=title,
                         description=description).content
    assert all(len(line) <= 75 for line in content.encode().split(b"\r\n"))
    expected = f"{description.strip()}\n\n{SENTENCE}" if description.strip() else SENTENCE

    event = Calendar.from_ical(content).events[0]
    assert str(event["SUMMARY"]) == title and str(event["DESCRIPTION"]) == expected and str(event["URL"]) == PAGE
    assert int(event["SEQUENCE"]) == 2 and str(event["ATTENDEE"].params["CN"]) == "Oliveira, Ana Maria: mentee"

    second = vobject.readOne(content).vevent
    assert second.summary.value == title and second.description.value == expected
    assert len(second.contents["summary"]) == 1 and len(second.contents["description"]) == 1


def test_without_a_page_of_its_own_the_invite_keeps_the_one_it_had():
    content = for_reader(_attachment(_invite("English", url="https://old.example/x")), title="Mentorbijeenkomst",
                         description="Wanneer: morgen").content
    event = Calendar.from_ical(content).events[0]
    assert (str(event["URL"]), str(event["SUMMARY"]), str(event["DESCRIPTION"])) == (
        "https://old.example/x", "Mentorbijeenkomst", "Wanneer: morgen")
    assert for_reader(_attachment("hello"), title="x").content == "hello"
