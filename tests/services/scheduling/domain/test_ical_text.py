"""Invites written as RFC 5545 text by hand, read back by two independent parsers (`icalendar` and
`vobject`): whatever the names, summaries and places hold, both read exactly what was written."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import vobject
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from services.scheduling.domain import Invitee, MeetingInvite, build_invite
from shared.ical import fold, param, split, text, unfold

STAMP = datetime(2026, 5, 30, 12, 0, tzinfo=UTC)
START = datetime(2026, 6, 3, 3, 15, tzinfo=UTC)

# Names as people have them: any script, commas, apostrophes, carets and quotes; no control characters.
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=120).map(str.strip) \
    .filter(bool)
free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=400)
emails = st.from_regex(r"[a-z0-9][a-z0-9.+-]{0,30}@[a-z0-9-]{1,20}\.example", fullmatch=True)

HARD_NAMES = ["Maria Fernanda Oliveira de Albuquerque Cavalcanti", "Oliveira, Maria Fernanda", "İlkay Gündoğan",
              "山田 太郎", 'Dwayne "The Rock" Johnson', "A^B;C:D\\E", "O'Brien", "‮evil"]


def _expected_text(value: str) -> str:
    """What a reader gets back: control characters other than tab and newline are dropped."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value)


def _meeting(mentor: str, mentee: str, summary: str, description: str, location: str | None,
             emails_: tuple[str, str] = ("ana@x.example", "bram@y.example")) -> MeetingInvite:
    return MeetingInvite("rel-1/1", START, START + timedelta(minutes=45), Invitee("org@tandem.example", "Tandem"),
                         (Invitee(emails_[0], mentor), Invitee(emails_[1], mentee)), summary, description, location)


def _physical_lines(invite: str) -> list[bytes]:
    assert invite.endswith("\r\n") and "\n" not in invite.replace("\r\n", "")
    return invite.encode().split(b"\r\n")[:-1]


@settings(max_examples=300, deadline=None)
@given(mentor=names, mentee=names, summary=free_text, description=free_text,
       location=st.none() | free_text.filter(bool), addresses=st.tuples(emails, emails))
@example(mentor=HARD_NAMES[0], mentee=HARD_NAMES[1], summary="Kickoff, at last; really: yes", description="a\nb",
         location="Room 4, floor 2", addresses=("a@b.example", "c@d.example"))
@example(mentor=HARD_NAMES[2], mentee=HARD_NAMES[3], summary="山田" * 60, description="İ" * 200, location=None,
         addresses=("a@b.example", "c@d.example"))
@example(mentor=HARD_NAMES[4], mentee=HARD_NAMES[5], summary=HARD_NAMES[6], description="\\n is not a newline",
         location=HARD_NAMES[7], addresses=("a@b.example", "c@d.example"))
def test_both_parsers_read_back_what_was_written(mentor, mentee, summary, description, location, addresses):
    invite = build_invite(_meeting(mentor, mentee, summary, description, location, addresses), stamp=STAMP)
    for line in _physical_lines(invite):
        assert len(line) <= 75  # octets, RFC 5545 3.1
        line.decode()  # every physical line is valid UTF-8: no sequence is split by a fold

    event = Calendar.from_ical(invite).events[0]
    assert str(event["SUMMARY"]) == _expected_text(summary.replace("\r\n", "\n"))
    assert str(event.get("DESCRIPTION", "")) == _expected_text(description)
    assert (str(event["LOCATION"]) if "LOCATION" in event else None) == \
        (_expected_text(location) if location else None)
    attendees = event["ATTENDEE"]
    # icalendar reads a backslash in a parameter value as an escape, which RFC 5545 has not there
    # (it writes `\:` itself and reads back `:`); vobject checks those names below.
    for attendee, name in zip(attendees, (mentor, mentee), strict=True):
        if "\\" not in name:
            assert str(attendee.params["CN"]) == name
    assert [str(a) for a in attendees] == [f"mailto:{e}" for e in addresses]
    assert event.start == START and event.DTSTAMP == STAMP

    second = vobject.readOne(invite).vevent
    assert second.summary.value == _expected_text(summary)
    assert (second.description.value if hasattr(second, "description") else "") == _expected_text(description)
    assert [a.value for a in second.attendee_list] == [f"mailto:{e}" for e in addresses]
    # vobject does not decode RFC 6868 carets; names without them come back whole.
    for attendee, name in zip(second.attendee_list, (mentor, mentee), strict=True):
        if "^" not in name and '"' not in name:
            assert attendee.params["CN"] == [name]
    assert second.dtstart.value == START


def test_a_long_line_folds_at_75_octets_and_unfolds_to_itself():
    line = "DESCRIPTION:" + "山田 太郎, " * 30
    folded = fold(line)
    assert folded.replace("\r\n ", "") == line + "\r\n"
    assert all(len(physical) <= 75 for physical in folded.encode().split(b"\r\n"))


@given(st.text(alphabet=st.sampled_from("ab ;:,\\\"é€😀"), max_size=400) | st.text(alphabet="abc ;:,", max_size=400))
def test_folding_is_greedy_and_never_splits_a_character(line):
    """Each physical line takes as many whole characters as fit in 75 octets (the leading space of
    a continuation counted): ASCII-only lines and the rest alike."""
    physical = fold(line).removesuffix("\r\n").split("\r\n")
    assert "".join([physical[0], *(p.removeprefix(" ") for p in physical[1:])]) == line
    pieces = [physical[0], *(p[1:] for p in physical[1:])]
    for i, piece in enumerate(pieces):
        room = 75 if i == 0 else 74
        assert len(piece.encode()) <= room
        if i + 1 < len(pieces):
            assert len((piece + pieces[i + 1][0]).encode()) > room  # the next character did not fit


def test_text_and_parameter_escaping_follow_rfc_5545_and_6868():
    assert text('a\\b;c,d\ne\r\nf') == "a\\\\b\\;c\\,d\\ne\\nf"
    assert param("Tandem") == "Tandem"
    assert param("Ana Souza") == '"Ana Souza"'
    assert param('Say "hi"^\nbye') == '"Say ^\'hi^\'^^^nbye"'
    assert param("Oliveira, Maria") == '"Oliveira, Maria"'


def test_unfold_and_split_find_the_value_after_quoted_parameters():
    folded = fold('ATTENDEE;CN="Oliveira, Maria: the mentor";ROLE=REQ-PARTICIPANT:mailto:maria@x.example')
    [line] = unfold("BEGIN:X\r\n" + folded)[1:]
    assert split(line) == ("ATTENDEE", ';CN="Oliveira, Maria: the mentor";ROLE=REQ-PARTICIPANT',
                           "mailto:maria@x.example")
