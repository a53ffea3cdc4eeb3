"""iCalendar invites: stable UID, rising SEQUENCE, CANCEL, and a faithful round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from services.scheduling.domain import (
    Invitee,
    MeetingInvite,
    Slot,
    build_invite,
    invite_uid,
    meeting_for_pair,
    parse_invite,
)

from .oracle import profile

STAMP = datetime(2026, 5, 30, 12, 0, tzinfo=UTC)
SLOT = Slot(datetime(2026, 6, 3, 3, 15, tzinfo=UTC), datetime(2026, 6, 3, 4, 0, tzinfo=UTC))


@pytest.fixture
def meeting():
    mentor = profile("m", "Asia/Kathmandu", ("mon-fri", "09:00", "17:00"), email="ana.souza@example.com",
                     name="Ana Souza")
    mentee = profile("e", "Europe/Amsterdam", ("mon-fri", "09:00", "17:00"), email="bram@example.org",
                     name="Bram de Vries")
    return meeting_for_pair("rel-42/1", SLOT, mentor, mentee, occurrence=1, description="First meeting; agree goals.")


def test_request_has_everything_a_calendar_client_needs(meeting):
    text = build_invite(meeting, sequence=0, stamp=STAMP)
    lines = text.replace("\r\n ", "").split("\r\n")  # unfold
    assert "METHOD:REQUEST" in lines and "VERSION:2.0" in lines
    assert "DTSTART:20260603T031500Z" in lines and "DTEND:20260603T040000Z" in lines
    assert "DTSTAMP:20260530T120000Z" in lines and "SEQUENCE:0" in lines and "STATUS:CONFIRMED" in lines
    assert any(line.startswith("ORGANIZER") and line.endswith("mailto:scheduling@tandem.example") for line in lines)
    attendees = [line for line in lines if line.startswith("ATTENDEE")]
    assert len(attendees) == 2 and all("RSVP=FALSE" in line for line in attendees)
    assert attendees[0].endswith("mailto:ana.souza@example.com") and 'CN="Ana Souza"' in attendees[0]
    assert any(line.startswith("SUMMARY:Mentoring kickoff: Ana Souza & Bram de Vries") for line in lines)


def test_round_trip_gives_the_same_instants(meeting):
    parsed = parse_invite(build_invite(meeting, sequence=3, stamp=STAMP))
    assert (parsed.start, parsed.end, parsed.stamp) == (SLOT.start, SLOT.end, STAMP)
    assert parsed.method == "REQUEST" and parsed.sequence == 3 and parsed.status == "CONFIRMED"
    assert parsed.organizer == "scheduling@tandem.example"
    assert parsed.attendees == ("ana.souza@example.com", "bram@example.org")
    assert parsed.description == "First meeting; agree goals."


def test_non_utc_input_is_written_in_utc():
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    invite = MeetingInvite("x", datetime(2026, 6, 3, 9, 0, tzinfo=kathmandu), datetime(2026, 6, 3, 9, 45, tzinfo=kathmandu),
                           Invitee("o@example.com"), (Invitee("a@example.com"),), "Check-in")
    text = build_invite(invite, stamp=STAMP)
    assert "DTSTART:20260603T031500Z" in text
    assert parse_invite(text).start == datetime(2026, 6, 3, 3, 15, tzinfo=UTC)


def test_uid_is_stable_and_sequence_rises_through_changes_and_cancellation(meeting):
    moved = MeetingInvite(**{**meeting.__dict__, "start": SLOT.start + timedelta(days=1),
                             "end": SLOT.end + timedelta(days=1)})
    first = parse_invite(build_invite(meeting, sequence=0, stamp=STAMP))
    update = parse_invite(build_invite(moved, sequence=1, stamp=STAMP + timedelta(hours=1)))
    cancel = parse_invite(build_invite(moved, method="CANCEL", sequence=2, stamp=STAMP + timedelta(hours=2)))
    assert first.uid == update.uid == cancel.uid == invite_uid("rel-42/1")
    assert [first.sequence, update.sequence, cancel.sequence] == [0, 1, 2]
    assert update.start == SLOT.start + timedelta(days=1)
    assert (cancel.method, cancel.status) == ("CANCEL", "CANCELLED")
    assert cancel.attendees == first.attendees  # the cancellation reaches the same people


def test_uid_differs_per_meeting_and_is_deterministic():
    assert invite_uid("rel-42/1") == invite_uid("rel-42/1") != invite_uid("rel-42/2")
    assert invite_uid("rel-42/1").endswith("@tandem")


def test_icalendar_library_reads_it_as_one_event(meeting):
    calendar = Calendar.from_ical(build_invite(meeting, stamp=STAMP))
    assert len(calendar.events) == 1 and str(calendar["PRODID"]).startswith("-//Tandem")


@pytest.mark.parametrize("kwargs", [{"method": "PUBLISH"}, {"sequence": -1}])
def test_bad_arguments_are_refused(meeting, kwargs):
    with pytest.raises(ValueError):
        build_invite(meeting, **kwargs)


def test_naive_or_backwards_times_are_refused():
    with pytest.raises(ValueError):
        build_invite(MeetingInvite("x", datetime(2026, 6, 3, 9), datetime(2026, 6, 3, 10),
                                   Invitee("o@example.com"), (), "s"))
    with pytest.raises(ValueError):
        build_invite(MeetingInvite("x", SLOT.end, SLOT.start, Invitee("o@example.com"), (), "s"))


def test_default_description_gives_each_persons_own_clock():
    mentor = profile("m", "Asia/Kathmandu", ("mon-fri", "09:00", "17:00"), name="Ana Souza")
    mentee = profile("e", "America/St_Johns", ("mon-fri", "09:00", "17:00"), name="Bram de Vries")
    text = build_invite(meeting_for_pair("r/3", SLOT, mentor, mentee, occurrence=3), stamp=STAMP)
    description = parse_invite(text).description
    assert description.startswith("Mentoring meeting 3 of Ana Souza (mentor) and Bram de Vries (mentee).")
    # 03:15 UTC is 09:00 in Kathmandu (+5:45) and 00:45 in St John's (-2:30 in June).
    assert "Ana Souza: Wed 3 Jun 2026, 09:00-09:45 (Asia/Kathmandu)" in description
    assert "Bram de Vries: Wed 3 Jun 2026, 00:45-01:30 (America/St_Johns)" in description


def test_the_invite_says_replies_are_not_read_and_gives_the_place_and_the_programs_organizer():
    mentor = profile("m", "Europe/Amsterdam", ("mon-fri", "09:00", "17:00"), name="Ana Souza")
    mentee = profile("e", "Europe/Amsterdam", ("mon-fri", "09:00", "17:00"), name="Bram de Vries")
    details = meeting_for_pair("r/1", SLOT, mentor, mentee, occurrence=1, location="https://meet.jit.si/tandem-r1",
                               organizer=Invitee("mentoring@example.com", "Tandem"))
    parsed = parse_invite(build_invite(details, stamp=STAMP))
    assert parsed.organizer == "mentoring@example.com" and parsed.location == "https://meet.jit.si/tandem-r1"
    assert parsed.description.endswith("Replies to this invitation are not read. To move or cancel this meeting, "
                                       "use the link in the e-mail that came with it.")
    assert "Where: https://meet.jit.si/tandem-r1" in parsed.description
    assert parse_invite(build_invite(meeting_for_pair("r/1", SLOT, mentor, mentee), stamp=STAMP)).location is None
