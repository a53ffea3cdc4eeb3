"""The terms a pair's next meeting is placed on: the program's settings, and their agreement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.scheduling.domain.agreements import Agreement, MeetingTerms
from services.scheduling.settings import SchedulingSettings
from shared.contracts import events as ev
from shared.programs import ConfiguredProgram, ProgramSettings

AT = datetime(2027, 1, 6, 8, 15, tzinfo=UTC)
DEFAULTS = SchedulingSettings()  # cadence 14 (7..42), 45 minutes (30..90), no video link


def program(**configured) -> ProgramSettings:
    c = ConfiguredProgram(program_id="prog-1", name="Pilot", configured_at=AT, **configured) if configured else None
    return ProgramSettings.resolve("prog-1", c, DEFAULTS)


def agreement(**changes) -> Agreement:
    data = {"relationship_id": "rel-1", "participant_id": "mentee-1", "cadence_days": 21, "duration_minutes": 60,
            "place": "video", "response_time_hours": 48, "recorded_at": AT} | changes
    return Agreement.from_event(ev.RelationshipAgreementRecorded.model_validate(data))


def test_without_an_agreement_the_program_decides():
    terms = MeetingTerms(program())
    assert (terms.cadence_days, terms.duration_minutes, terms.venue("m-1")) == (14, 45, (None, None))
    assert terms.organizer == "scheduling@tandem.example"
    terms = MeetingTerms(program(video_link_template="https://meet.jit.si/tandem-{meeting_id}",
                                 organizer_email="mentoring@example.com"))
    assert terms.venue("m-1") == ("video", "https://meet.jit.si/tandem-m-1")
    assert terms.organizer == "mentoring@example.com"


@pytest.mark.parametrize("chosen, bounds, expected", [
    ((21, 60), {}, (21, 60)),
    ((60, 240), {}, (42, 90)),  # above the deployment's bounds
    ((1, 15), {}, (7, 30)),  # below them
    ((21, 60), {"cadence_days_max": 14, "duration_minutes_max": 50}, (14, 50)),
    ((3, 20), {"cadence_days_min": 2, "duration_minutes_min": 15}, (3, 20)),
])
def test_the_agreements_cadence_and_length_are_held_to_the_programs_bounds(chosen, bounds, expected):
    terms = MeetingTerms(program(**bounds), agreement(cadence_days=chosen[0], duration_minutes=chosen[1]))
    assert (terms.cadence_days, terms.duration_minutes) == expected
    rules = DEFAULTS.rules(program(**bounds), terms)
    assert (rules.cadence_days, rules.duration_minutes) == expected


@pytest.mark.parametrize("place, details, template, expected", [
    ("video", None, "https://v.example/{meeting_id}", ("video", "https://v.example/m-1")),
    ("video", "my room", None, ("video", None)),  # no link to give
    ("phone", "+31 20 555 0100", "https://v.example/{meeting_id}", ("phone", "+31 20 555 0100")),
    ("phone", "  ", None, ("phone", None)),
    ("in_person", "Room 4.12, Amsterdam office", None, ("in_person", "Room 4.12, Amsterdam office")),
])
def test_the_agreements_place(place, details, template, expected):
    settings = program(video_link_template=template) if template else program()
    assert MeetingTerms(settings, agreement(place=place, place_details=details)).venue("m-1") == expected


def test_a_video_link_too_long_for_an_event_is_left_out():
    terms = MeetingTerms(program(video_link_template="https://v.example/" + "x" * 470 + "/{meeting_id}"))
    assert terms.venue("5f0c2f43-6c0e-5d1b-9a43-2d8a3f1e7c10") == ("video", None)
