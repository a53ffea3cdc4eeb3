"""What a unit of work writes to the outbox: `envelope_json` gives, in one pass, the very bytes the
validated envelope gave (`new_envelope(...).to_json()`), so consumers, digests and stored payloads
see no change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts.envelope import envelope_json, new_envelope
from shared.contracts.events import CATALOGUE
from shared.contracts.examples import EXAMPLES
from shared.unit_of_work import UnitOfWork

TIMES = [datetime(2027, 1, 4, 10, tzinfo=UTC), datetime(2027, 1, 4, 10, 0, 0, 5, tzinfo=UTC),
         datetime(2027, 7, 4, 10, 30, 15, 120000, tzinfo=ZoneInfo("Europe/Amsterdam")),
         datetime(2027, 1, 4, 10, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
         datetime(2027, 1, 4, 10, tzinfo=timezone(timedelta(hours=1, seconds=30)))]


@pytest.mark.parametrize(("topic", "event_type"), sorted(EXAMPLES))
def test_every_example_event_is_written_byte_for_byte_as_the_validated_envelope(topic, event_type):
    data = CATALOGUE[topic][event_type].model_validate(EXAMPLES[(topic, event_type)])
    for time in TIMES:
        for subject in ("p-000123", None):
            args = {"type": event_type, "source": "/tandem/test", "data": data, "time": time, "subject": subject,
                    "id": "7d9f4a2e-3c1b-4f5e-9a8d-6b2c1e0f3a4d"}
            assert envelope_json(**args) == new_envelope(**args).to_json()


def test_text_beyond_ascii_and_characters_json_must_escape_come_out_as_before():
    data = ev.MilestoneAchieved(relationship_id="rel-ü", participant_id="p-日本",
                                milestone='Zoë\u2028 "quoted" \\ back\tslash \x01 </script> 😀')
    args = {"type": "milestone.achieved", "source": "/tandem/test", "data": data, "subject": "rel-ü",
            "time": datetime(2027, 1, 4, 10, tzinfo=UTC), "id": "id-é"}
    written = envelope_json(**args)
    assert written == new_envelope(**args).to_json()
    assert "Zoë".encode() in written  # UTF-8 as it is, not \\u escapes


@pytest.mark.parametrize(("change", "message"), [
    ({"id": ""}, "1 to 200 characters"), ({"id": "x" * 201}, "1 to 200 characters"),
    ({"time": datetime(2027, 1, 4, 10)}, "timezone"), ({"source": ""}, "source"),
])
def test_an_envelope_the_contract_refuses_is_refused_here_too(change, message):
    args = {"type": "milestone.achieved", "source": "/tandem/test", "id": "e-1",
            "data": ev.MilestoneAchieved(relationship_id="r", participant_id="p", milestone="m"),
            "time": datetime(2027, 1, 4, 10, tzinfo=UTC), **change}
    with pytest.raises(ValueError, match=message):
        envelope_json(**args)


def test_emit_queues_the_envelope_bytes_and_says_what_it_queued():
    uow = UnitOfWork.__new__(UnitOfWork)
    uow.source, uow.clock, uow._outgoing = "/tandem/test", ProgramClock(), []
    data = ev.MilestoneAchieved(relationship_id="rel-1", participant_id="p-1", milestone="first")
    emitted = uow.emit(data, event_id="e-42")
    assert (emitted.id, emitted.type, emitted.key) == ("e-42", "milestone.achieved", "rel-1")
    ((event_id, topic, key, payload, headers),) = uow._outgoing
    assert (event_id, topic, key) == ("e-42", emitted.topic, "rel-1")
    envelope = new_envelope(type="milestone.achieved", source="/tandem/test", data=data, subject="rel-1", id="e-42",
                            time=datetime.fromisoformat(payload.split(b'"time":"')[1].split(b'"')[0].decode()))
    assert payload == envelope.to_json()
    assert headers["ce_type"] == "milestone.achieved"
