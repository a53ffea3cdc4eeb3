"""The event catalogue, its examples and docs/events.md agree."""

from __future__ import annotations

import json

import pytest

from shared.consumer import InvalidMessage, parse_event
from shared.contracts import topics
from shared.contracts.docs import DOC
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CATALOGUE, DEPRECATED_ALIASES, STATE_FACTS, ParticipantOnboarded
from shared.contracts.examples import EXAMPLES, PROFILE
from shared.contracts.profile import ParticipantProfile


def test_every_topic_has_events_and_every_event_an_example_that_validates():
    assert set(CATALOGUE) == set(topics.ALL)
    assert set(EXAMPLES) == {(t, e) for t, events in CATALOGUE.items() for e in events}
    for (topic, event_type), example in EXAMPLES.items():
        CATALOGUE[topic][event_type].model_validate(example)


def test_every_type_string_names_one_event_on_one_topic():
    seen: dict[str, str] = {}
    for topic, events in CATALOGUE.items():
        for event_type in events:
            assert event_type not in seen, f"{event_type} is on {seen[event_type]} and {topic}"
            seen[event_type] = topic
            assert event_type.endswith((".requested", "ed")) or event_type in STATE_FACTS, \
                f"{event_type}: neither an order (*.requested) nor a fact (past tense, or a state in STATE_FACTS)"


def test_the_only_exceptions_are_the_documented_deprecated_aliases():
    """Names an earlier docs/events.md published, kept apart from the catalogue: `match.declined` on
    match-responses.v1 is the mentor's answer (proposal.declined), on matches.v1 the fact."""
    assert DEPRECATED_ALIASES == {
        topics.MATCH_RESPONSES: {"match.accepted": "proposal.accepted", "match.declined": "proposal.declined"},
    }
    for topic, aliases in DEPRECATED_ALIASES.items():
        for alias, current in aliases.items():
            assert current in CATALOGUE[topic], f"{alias} on {topic} stands for {current}, which is not on {topic}"
            assert alias not in CATALOGUE[topic], f"{alias} on {topic} is both an alias and an event"


def test_docs_are_generated_from_the_code():
    from tandem.eventdocs import current, current_files, generated_schemas

    assert DOC.read_text() == current(), "docs/events.md is stale: run `python -m tandem.eventdocs`"
    wanted = current_files()
    for path, text in wanted.items():
        assert path.exists() and path.read_text() == text, f"{path} is stale: run `python -m tandem.eventdocs`"
    assert generated_schemas() <= set(wanted), "a schema of an event that no longer exists"


def test_every_documented_example_validates_against_its_json_schema():
    import jsonschema

    from shared.contracts.schemas import all_schemas

    schemas = all_schemas()
    assert set(schemas) == {t for events in CATALOGUE.values() for t in events}
    for (topic, event_type), example in EXAMPLES.items():
        envelope = new_envelope(type=event_type, source="/docs", data=CATALOGUE[topic][event_type].model_validate(example),
                                time="2027-01-04T08:00:00Z").model_dump(mode="json", exclude_none=True)
        envelope["data"] = example  # the example as written, not as the model re-serialises it
        validator = jsonschema.Draft202012Validator(schemas[event_type], format_checker=jsonschema.FormatChecker())
        errors = [e.message for e in validator.iter_errors(envelope)]
        assert not errors, (event_type, errors)
    bad = {"specversion": "1.0", "id": "1", "source": "/x", "type": "match.requested", "time": "2027-01-01T00:00:00Z",
           "data": {"mentee_id": ""}}
    assert list(jsonschema.Draft202012Validator(schemas["match.requested"]).iter_errors(bad))  # it can fail


def test_the_asyncapi_document_is_valid_asyncapi_3():
    from pathlib import Path

    import jsonschema
    import yaml

    from tandem.eventdocs import ASYNCAPI

    spec = json.loads((Path(__file__).parent / "vendor" / "asyncapi-3.0.0.schema.json").read_text())
    document = yaml.safe_load(ASYNCAPI.read_text())
    errors = [f"{list(e.path)}: {e.message[:200]}"
              for e in jsonschema.validators.validator_for(spec)(spec).iter_errors(document)]
    assert not errors, errors[:5]
    from shared.contracts.schemas import deprecated_message_id

    assert {m for c in document["channels"].values() for m in c["messages"]} == \
        {t for events in CATALOGUE.values() for t in events} | \
        {deprecated_message_id(topic, alias) for topic, aliases in DEPRECATED_ALIASES.items() for alias in aliases}
    text = DOC.read_text()
    for topic, events in CATALOGUE.items():
        assert f"## `{topic}`" in text and f"`{topics.dlq(topic)}`" in text
        for event_type in events:
            assert f"### `{event_type}`" in text
    for topic, aliases in DEPRECATED_ALIASES.items():
        for alias in aliases:
            assert f"### `{alias}` (deprecated)" in text
            message = document["components"]["messages"][deprecated_message_id(topic, alias)]
            assert message["deprecated"] is True and message["name"] == alias
            assert alias in document["channels"][topic.replace(".", "-")]["messages"][
                deprecated_message_id(topic, alias)]["$ref"]


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


@pytest.mark.parametrize("url, ok", [
    ("https://hooks.slack.com/services/T0/B0/x", True), ("http://127.0.0.1:9000/hook", True),
    ("javascript:alert(1)", False), ("file:///etc/passwd", False), ("https://", False), ("hooks.slack.com/x", False),
    ("https://chat.example/a b", False),
])
def test_a_webhook_url_is_an_absolute_web_address(url, ok):
    from pydantic import ValidationError

    from shared.contracts.profile import Communication
    from shared.contracts.program import OpsContact

    for build in (lambda: Communication(channel="webhook", webhook_url=url),
                  lambda: OpsContact(name="Team", email="team@example.com", channel="slack", webhook_url=url)):
        if ok:
            build()
        else:
            with pytest.raises(ValidationError, match="not an absolute https URL"):
                build()


def test_an_older_meeting_rescheduled_without_who_asked_is_still_accepted():
    """`requested_by` came later (optional): a meeting.rescheduled from an older producer, without it,
    parses as before and says nobody asked."""
    from shared.contracts.events import MeetingRescheduled

    older = {k: v for k, v in EXAMPLES[(topics.MEETINGS, "meeting.rescheduled")].items() if k != "requested_by"}
    raw = json.dumps({"specversion": "1.0", "id": "1", "source": "/scheduling", "type": "meeting.rescheduled",
                      "time": "2027-01-04T08:00:00Z", "data": older}).encode()
    _, parsed = parse_event(topics.MEETINGS, raw)
    assert isinstance(parsed, MeetingRescheduled) and parsed.requested_by is None
    assert parsed.meeting_id == older["meeting_id"] and parsed.sequence == older["sequence"]
    asked = MeetingRescheduled.model_validate({**older, "requested_by": "ops:sanne"})
    assert asked.requested_by == "ops:sanne"
