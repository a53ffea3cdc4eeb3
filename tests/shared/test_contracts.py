"""The event catalogue, its examples and docs/events.md agree."""

from __future__ import annotations

import json

import pytest

from shared.consumer import InvalidMessage, parse_event
from shared.contracts import topics
from shared.contracts.docs import DOC, render
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CATALOGUE, ParticipantOnboarded
from shared.contracts.examples import EXAMPLES, PROFILE
from shared.contracts.profile import ParticipantProfile


def test_every_topic_has_events_and_every_event_an_example_that_validates():
    assert set(CATALOGUE) == set(topics.ALL)
    assert set(EXAMPLES) == {(t, e) for t, events in CATALOGUE.items() for e in events}
    for (topic, event_type), example in EXAMPLES.items():
        CATALOGUE[topic][event_type].model_validate(example)


def test_docs_are_generated_from_the_code():
    assert DOC.read_text() == render(), "docs/events.md is stale: run `python -m shared.contracts.docs`"
    text = DOC.read_text()
    for topic, events in CATALOGUE.items():
        assert f"## `{topic}`" in text and f"`{topics.dlq(topic)}`" in text
        for event_type in events:
            assert f"### `{event_type}`" in text


def test_the_onboarding_contract_example_from_the_brief():
    profile = ParticipantProfile.model_validate(PROFILE)
    assert profile.language == "pt" and profile.is_mentee and not profile.is_mentor
    assert profile.availability[0].start_minute == 9 * 60


def test_an_envelope_round_trips_through_the_consumer_parser():
    data = ParticipantOnboarded.model_validate(PROFILE)
    raw = new_envelope(type="participant.onboarded", source="/hris", data=data, time="2027-01-04T08:00:00Z").to_json()
    envelope, parsed = parse_event(topics.PARTICIPANTS, raw)
    assert envelope.type == "participant.onboarded" and parsed == data


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a CloudEvents 1.0 envelope"),
    (json.dumps({"specversion": "0.3", "id": "1", "source": "/x", "type": "match.requested",
                 "time": "2027-01-01T00:00:00Z", "data": {}}).encode(), "not a CloudEvents 1.0 envelope: specversion"),
    (json.dumps({"specversion": "1.0", "id": "1", "source": "/x", "type": "match.requested",
                 "time": "2027-01-01T00:00:00", "data": {}}).encode(), "time: Input should have timezone info"),
    (json.dumps({"specversion": "1.0", "id": "1", "source": "/x", "type": "participant.onboarded",
                 "time": "2027-01-01T00:00:00Z", "data": {}}).encode(), "unknown event type 'participant.onboarded' on match-requests.v1"),
    (json.dumps({"specversion": "1.0", "id": "1", "source": "/x", "type": "match.requested",
                 "time": "2027-01-01T00:00:00Z", "data": {"mentee_id": ""}}).encode(),
     "invalid match.requested data: mentee_id: String should have at least 1 character; program_id: Field required"),
])
def test_bad_bytes_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as info:
        parse_event(topics.MATCH_REQUESTS, raw)
    assert reason in str(info.value)


@pytest.mark.parametrize("field, value, message", [
    ("timezone", "Mars/Base", "unknown IANA time zone"),
    ("seniority", 11, "less than or equal to 10"),
    ("roles", [], "at least 1 item"),
    ("email", "not-an-address", "not an e-mail address"),
    ("availability", [{"days": ["mon"], "start": "25:00", "end": "26:00"}], "wall-clock time"),
])
def test_profile_validation_names_the_problem(field, value, message):
    with pytest.raises(ValueError) as info:
        ParticipantProfile.model_validate({**PROFILE, field: value})
    assert message in str(info.value)
