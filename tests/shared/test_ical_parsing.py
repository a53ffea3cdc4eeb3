"""shared.ical's unfolding and splitting against their plain definitions: a regular expression for
unfolding (RFC 5545 3.1) and a character-by-character scan for the first colon outside quotes.
The fast versions must give the same lines and parts for any text, well formed or not."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.ical import split, text, unfold

_FOLD = re.compile(r"\r?\n[ \t]")


def unfold_by_definition(calendar: str) -> list[str]:
    return [line for line in _FOLD.sub("", calendar).replace("\r\n", "\n").split("\n") if line]


def split_by_definition(line: str) -> tuple[str, str, str]:
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            name, _, params = line[:i].partition(";")
            return name.upper(), (";" + params) if params else "", line[i + 1 :]
    raise ValueError("a content line without a value")


breaks_and_blanks = st.lists(
    st.sampled_from(["\r", "\n", " ", "\t", "a", ":", "\r\n", "\r\n ", "\n\t", "é"]), max_size=40
).map("".join)


@settings(max_examples=3000)
@given(breaks_and_blanks)
@example("\t\r\t\r\n\r\r\r\n \n\ta")  # a break right after a continuation that was only a blank
@example("\n\r\n  x")
@example("BEGIN:VCALENDAR\r\nSUMMARY:a long\r\n  line\r\n\tgoes on\r\nEND:VCALENDAR\r\n")
def test_unfold_gives_the_lines_the_definition_gives(calendar):
    assert unfold(calendar) == unfold_by_definition(calendar)


crlf_only = st.lists(st.sampled_from(["\r", "\r\n", " ", "\t", "a", ":", "\r\n ", "\r\n\t", "é"]), max_size=40).map(
    "".join
)


@settings(max_examples=3000)
@given(crlf_only)
@example("\r\n\r\n \tx")  # a continuation after an empty line, then a tab: the tab stays
@example("\r\r\n x\r\n")
def test_unfold_of_crlf_only_text_gives_the_lines_the_definition_gives(calendar):
    """Where every break is CRLF (as `fold` writes), the lines come from one replace: the same."""
    assert unfold(calendar) == unfold_by_definition(calendar)


def _outcome(f, line):
    try:
        return f(line)
    except ValueError as exc:
        return str(exc)


@settings(max_examples=3000)
@given(st.text(alphabet=st.sampled_from('ab;:="é,X'), max_size=40))
@example('ATTENDEE;CN="Oliveira, Maria: the mentor";ROLE=REQ-PARTICIPANT:mailto:maria@x.example')
@example('X;P="a:b"')
@example('X;P="a:b":')
@example('X;P="unclosed:value')
def test_split_finds_the_colon_the_definition_finds(line):
    assert _outcome(split, line) == _outcome(split_by_definition, line)


def test_a_line_without_a_colon_outside_quotes_has_no_value():
    for line in ("NOCOLON", 'X;P="a:b"', 'X;P="open:'):
        with pytest.raises(ValueError):
            split(line)


_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def text_by_definition(value: str) -> str:
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROLS.sub("", _NEWLINES.sub("\\\\n", value))


@settings(max_examples=2000)
@given(st.text(alphabet=st.sampled_from("a ;,\\\r\n\t\x00\x1f\x7f\x85\xa0é€"), max_size=30) | st.text(max_size=30))
def test_text_escapes_as_the_definition_does(value):
    assert text(value) == text_by_definition(value)
