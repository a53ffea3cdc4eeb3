"""Why a meeting was cancelled, for both people to read.

Each cancellation carries a code with parameters (`meeting.cancelled.reason_code`) that
notifications words in each reader's language and tone, and an English text (`reason`) for logs
and tools. The end of a relationship never carries its own reason (the program team's words, an
offboarding's cause): it is not for the other person to read.

| code                          | params                                            |
|-------------------------------|---------------------------------------------------|
| `relationship_ended`          | -  (someone left, or the program team ended it)   |
| `relationship_term_completed` | -                                                 |
| `cancelled_by_participant`    | `by` (their id), `note` (their own words, if any), `why` (if given: conflict, unwell, not_needed, other) |
| `cancelled_by_program_team`   | -                                                 |
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.types import Reason
from shared.people import Pair


@dataclass(frozen=True)
class Cancellation:
    text: str  # English, for logs and tools
    code: Reason


def relationship_over(end_reason_code: str) -> Cancellation:
    """The meetings left when a relationship ends (`match.ended.reason_code`)."""
    if end_reason_code == "term_completed":
        return Cancellation("the mentoring relationship has completed its planned term",
                            Reason(code="relationship_term_completed"))
    if end_reason_code == "participant_left":
        return Cancellation("the mentoring relationship ended: one of you has left the program",
                            Reason(code="relationship_ended"))
    return Cancellation("the mentoring relationship has ended", Reason(code="relationship_ended"))


def requested(pair: Pair, requested_by: str, note: str | None, *, code: str | None = None) -> Cancellation:
    """A cancellation someone asked for: one of the pair (with their note, and why as a code from
    `meeting.cancel.requested.reason_code`, each when given), or the program team."""
    note = (note or "").strip() or None
    if pair.includes(requested_by):
        params = {"by": requested_by} | ({"note": note} if note else {}) | ({"why": code} if code else {})
        return Cancellation(note or f"cancelled by {requested_by}", Reason(code="cancelled_by_participant",
                                                                            params=params))
    return Cancellation(note or f"cancelled by {requested_by}", Reason(code="cancelled_by_program_team"))
