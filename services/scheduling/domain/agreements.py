"""A pair's mentoring agreement as scheduling keeps it, and the terms a pair's next meeting is
placed on: how often, how long, where, and who organises the invite.

`relationship.agreement.recorded` carries more (response times, goals, boundaries); scheduling
keeps only what places meetings. The latest recorded agreement of either person stands for the
pair. Without one, the program's settings decide; with one, its cadence and length count, held
to the program's bounds (`cadence_days_min..max`, `duration_minutes_min..max`), and its place:

| agreement's place | meeting's `place`                                   | `location` (also the invite's LOCATION)  |
|-------------------|-----------------------------------------------------|------------------------------------------|
| video             | video                                               | the program's video link for the meeting, none without a template |
| phone             | phone                                               | the agreement's place_details, or none   |
| in_person         | in_person                                           | the agreement's place_details            |
| (no agreement)    | video with the program's video link; none without a template | that link                   |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.contracts import events as ev
from shared.programs import ProgramSettings

# The longest `location` an event carries (ShortText); a longer video link is left out rather
# than cut (a cut link leads nowhere).
_LOCATION_MAX = 500


@dataclass(frozen=True)
class Agreement:
    relationship_id: str
    recorded_by: str
    cadence_days: int
    duration_minutes: int
    place: str  # video | phone | in_person
    place_details: str | None
    recorded_at: datetime

    @classmethod
    def from_event(cls, event: ev.RelationshipAgreementRecorded) -> Agreement:
        details = (event.place_details or "").strip() or None
        return cls(event.relationship_id, event.participant_id, event.cadence_days, event.duration_minutes,
                   event.place, details, event.recorded_at)


def _within(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


@dataclass(frozen=True)
class MeetingTerms:
    """What a meeting placed now is placed on: the program's settings, and the pair's agreement."""

    program: ProgramSettings
    agreement: Agreement | None = None

    @property
    def cadence_days(self) -> int:
        p, a = self.program, self.agreement
        return p.cadence_days if a is None else _within(a.cadence_days, p.cadence_days_min, p.cadence_days_max)

    @property
    def duration_minutes(self) -> int:
        p, a = self.program, self.agreement
        return (p.duration_minutes if a is None
                else _within(a.duration_minutes, p.duration_minutes_min, p.duration_minutes_max))

    @property
    def organizer(self) -> str:
        return self.program.organizer_email

    def venue(self, meeting_id: str) -> tuple[str | None, str | None]:
        """(place, location) of a meeting (see the module's table)."""
        a = self.agreement
        if a is not None and a.place != "video":
            return a.place, a.place_details
        link = self.program.video_link(meeting_id)
        if a is None and link is None:
            return None, None
        return "video", link if link is None or len(link) <= _LOCATION_MAX else None
