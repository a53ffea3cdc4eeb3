"""The answers a participant posts from a link's page, read and checked before anything is published.

Pure: form fields in (strings, as a browser sends them), typed answers out, or `FieldError` naming
the field that needs another value (the page says which, in the reader's language).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.profile import parse_clock

DECLINE_REASONS = ("no_time", "outside_expertise", "conflict_of_interest", "other")
END_REASONS = ("goals_reached", "not_a_good_fit", "no_time", "circumstances_changed", "other")
CANCEL_REASONS = ("conflict", "unwell", "not_needed", "other")
PLACES = ("video", "phone", "in_person")
FITS = ("good", "unsure", "not_good")
PROGRESS_STEPS = (0, 25, 50, 75, 100)
MAX_GOALS = 10


class FieldError(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


Form = Mapping[str, str]


def _text(form: Form, name: str, *, limit: int, required: bool = False) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > limit or (required and not value) or "\x00" in value:
        raise FieldError(name)
    return value or None


def _choice(form: Form, name: str, allowed: tuple[str, ...], *, required: bool = True) -> str | None:
    value = (form.get(name) or "").strip()
    if not value and not required:
        return None
    if value not in allowed:
        raise FieldError(name)
    return value


def _number(form: Form, name: str, low: int, high: int) -> int:
    try:
        value = int((form.get(name) or "").strip())
    except ValueError:
        raise FieldError(name) from None
    if not low <= value <= high:
        raise FieldError(name)
    return value


def ticked(form: Form, name: str) -> bool:
    """Whether a checkbox was ticked (a browser leaves an unticked one out)."""
    return (form.get(name) or "") in ("on", "true", "1", "yes")


@dataclass(frozen=True)
class ProposalAnswer:
    accept: bool
    reason_code: str | None = None
    note: str | None = None


def proposal_answer(form: Form) -> ProposalAnswer:
    answer = _choice(form, "answer", ("accept", "decline"))
    if answer == "accept":
        return ProposalAnswer(True)
    return ProposalAnswer(False, _choice(form, "reason_code", DECLINE_REASONS, required=False),
                          _text(form, "note", limit=500))


@dataclass(frozen=True)
class AgreementAnswer:
    cadence_days: int
    duration_minutes: int
    place: str
    place_details: str | None
    response_time_hours: int
    goals: tuple[str, ...]
    boundaries: str | None


def agreement(form: Form, *, cadence: tuple[int, int], duration: tuple[int, int], edits_goals: bool) -> AgreementAnswer:
    goals: tuple[str, ...] = ()
    if edits_goals:
        goals = tuple(line.strip() for line in (form.get("goals") or "").splitlines() if line.strip())
        if len(goals) > MAX_GOALS or any(len(g) > 100 for g in goals):
            raise FieldError("goals")
    return AgreementAnswer(
        cadence_days=_number(form, "cadence_days", *cadence),
        duration_minutes=_number(form, "duration_minutes", *duration),
        place=_choice(form, "place", PLACES),
        place_details=_text(form, "place_details", limit=500),
        response_time_hours=_number(form, "response_time_hours", 1, 24 * 14),
        goals=goals,
        boundaries=_text(form, "boundaries", limit=2000),
    )


@dataclass(frozen=True)
class MeetingChange:
    new_start: datetime | None  # None: cancel
    reason_code: str | None = None
    note: str | None = None


def meeting_change(form: Form, offered: tuple[datetime, ...]) -> MeetingChange:
    """`move` to one of the offered starts (given as ISO text), or `cancel` with a reason."""
    answer = _choice(form, "answer", ("move", "cancel"))
    if answer == "cancel":
        return MeetingChange(None, _choice(form, "reason_code", CANCEL_REASONS, required=False),
                             _text(form, "note", limit=500))
    by_text = {slot.isoformat(): slot for slot in offered}
    chosen = by_text.get((form.get("slot") or "").strip())
    if chosen is None:
        raise FieldError("slot")
    return MeetingChange(chosen)


def attendance(form: Form) -> bool:
    return _choice(form, "answer", ("held", "not_held")) == "held"


@dataclass(frozen=True)
class FeedbackAnswer:
    rating: int
    comment: str | None
    progress: dict[str, int]  # goal -> 0..100, only the goals given a value
    fit: str | None


def feedback(form: Form, goals: tuple[str, ...], *, asks_fit: bool) -> FeedbackAnswer:
    rating = _number(form, "rating", 1, 5)
    progress = {}
    for i, goal in enumerate(goals):
        raw = (form.get(f"goal_{i}") or "").strip()
        if raw:
            try:
                value = int(raw)
            except ValueError:
                raise FieldError(f"goal_{i}") from None
            if value not in PROGRESS_STEPS:
                raise FieldError(f"goal_{i}")
            progress[goal] = value
    fit = _choice(form, "fit", FITS, required=False) if asks_fit else None
    return FeedbackAnswer(rating, _text(form, "comment", limit=5000), progress, fit)


@dataclass(frozen=True)
class EndRequest:
    reason_code: str
    note: str | None
    do_not_pair_again: bool
    rematch: bool


def end_early(form: Form, *, may_rematch: bool) -> EndRequest:
    return EndRequest(_choice(form, "reason_code", END_REASONS), _text(form, "note", limit=500),
                      ticked(form, "do_not_pair_again"), may_rematch and ticked(form, "rematch"))


@dataclass(frozen=True)
class PreferencesAnswer:
    muted: tuple[str, ...]
    channel: str | None
    quiet_hours: tuple[str, str] | None
    locale: str | None
    style: str | None


def preferences(form: Form, *, kinds: tuple[str, ...], locales: tuple[str, ...], chat_possible: bool) -> PreferencesAnswer:
    """Checkboxes name the kinds *wanted*: an unticked kind is muted."""
    muted = tuple(k for k in kinds if not ticked(form, f"want_{k}"))
    channel = _choice(form, "channel", ("email", "chat") if chat_possible else ("email",), required=False)
    start, end = (form.get("quiet_start") or "").strip(), (form.get("quiet_end") or "").strip()
    quiet = None
    if start or end:
        for name, value in (("quiet_start", start), ("quiet_end", end)):
            try:
                parse_clock(value)
            except (ValueError, TypeError):
                raise FieldError(name) from None
        if start == end:
            raise FieldError("quiet_end")
        quiet = (start, end)
    return PreferencesAnswer(muted, channel, quiet, _choice(form, "locale", locales, required=False),
                             _choice(form, "style", ("direct", "indirect"), required=False))
