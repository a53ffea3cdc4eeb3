"""Reasons other services send as codes with parameters, turned into phrases for a reader.

A code this version does not know is not worded from the producer's English for a participant (it
is left out); for the program team the English text the event also carries is shown, so nothing
they need to act on disappears.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.notifications.i18n.values import Percent, Phrase, Span
from shared.contracts.types import Reason
from shared.people import Participant

from .forgotten import name_of
from .messages import phrases
from .messages.structure import DIRECT


def cancellation(code: Reason | None, reader: Participant, other: Participant) -> Phrase | None:
    """Why a meeting was cancelled, told to one of the pair: "you", the partner by name, or the team."""
    if code is None:
        return None
    by = code.params.get("by")
    if code.code == "cancelled_by_participant":
        key = "cancelled_by_you" if by == reader.participant_id else "cancelled_by_partner"
        return Phrase(phrases.CANCELLATION[key], {"name": name_of(other)})
    found = phrases.CANCELLATION.get(code.code)
    return None if found is None else Phrase(found, {})


def canceller_note(code: Reason | None, reader: Participant, other: Participant) -> tuple[str | None, str | None]:
    """(who wrote it, their note) when the partner cancelled with a note; the reader's own is not repeated."""
    if code is None or code.code != "cancelled_by_participant":
        return None, None
    note = code.params.get("note")
    if not isinstance(note, str) or not note.strip() or code.params.get("by") != other.participant_id:
        return None, None
    return name_of(other), note.strip()


def unmatched(code: str, params: dict[str, Any], english: str) -> Phrase | str:
    """Why a mentee was proposed to nobody, for the program team."""
    text = phrases.UNMATCHED.get(code)
    if text is None:
        return english
    values = dict(params)
    if "min_hours" in values:
        values["min_hours"] = Span(timedelta(hours=float(values["min_hours"])))
    if "meeting_minutes" in values:
        values["meeting_minutes"] = Span(timedelta(minutes=float(values["meeting_minutes"])))
    return Phrase({DIRECT: text}, values) if text.placeholders <= values.keys() else english


def unmatched_for_mentee(code: str) -> Phrase | None:
    """Why no mentor fits right now, told to the mentee: only the codes where it helps them
    (`phrases.UNMATCHED_FOR_MENTEE`); None for the others, and for a code this version does not know."""
    found = phrases.UNMATCHED_FOR_MENTEE.get(code)
    return None if found is None else Phrase(found, {})


def health(reason: Reason, english: str | None) -> Phrase | str:
    """One finding about a relationship's health, for the program team."""
    key = f"{reason.code}.{reason.params.get('by')}" if reason.code == "not_a_good_fit" else reason.code
    text = phrases.HEALTH.get(key)
    if text is None:
        return english or reason.code.replace("_", " ")
    values: dict[str, Any] = dict(reason.params)
    for share in ("progress", "term_elapsed"):  # percentages
        if isinstance(values.get(share), int | float):
            values[share] = Percent(float(values[share]) / 100)
    if not text.placeholders <= values.keys():  # an older producer left a parameter out
        return english or reason.code.replace("_", " ")
    return Phrase({DIRECT: text}, values)


def health_findings(codes: list[Reason], english: list[str]) -> list[Phrase | str]:
    if not codes:
        return list(english)
    return [health(code, english[i] if i < len(english) else None) for i, code in enumerate(codes)]
