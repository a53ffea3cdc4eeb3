"""Dead-letter reasons say where and what kind of error, never the data: no e-mail address, name or
other value a sender put into a message, and no text a library or driver quoted from it."""

from __future__ import annotations

import json

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError, field_validator

from shared.consumer import InvalidMessage, describe_validation_error, parse_event
from shared.contracts import topics
from shared.errors import reason_for
from tests.support.people import person

EMAIL = "ana.garcia@example.com"
NAME = "Ana García"


def refused(topic: str, raw: bytes) -> str:
    with pytest.raises(InvalidMessage) as caught:
        parse_event(topic, raw)
    return str(caught.value)


def onboarding(**changes) -> bytes:
    envelope = {"specversion": "1.0", "id": "e1", "source": "/hris", "type": "participant.onboarded",
                "time": "2027-01-04T08:00:00Z", "data": person("p-1") | changes}
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("changes, field", [
    ({"timezone": EMAIL}, "timezone: unknown IANA time zone"),
    ({"availability": [{"days": ["mon"], "start": NAME, "end": "17:00"}]}, "availability.0.start: expected a wall-clock"),
    ({"email": NAME}, "email: not an e-mail address"),
    ({"seniority": EMAIL}, "seniority: Input should be a valid integer"),
    ({"roles": [EMAIL]}, "roles.0: Input should be"),
])
def test_a_bad_value_is_named_by_its_field_and_never_quoted(changes, field):
    reason = refused(topics.PARTICIPANTS, onboarding(**changes))
    assert field in reason
    assert EMAIL not in reason and NAME not in reason and "ana.garcia" not in reason


def test_an_unknown_type_is_quoted_only_when_it_looks_like_a_type():
    envelope = {"specversion": "1.0", "id": "e1", "source": "/x", "time": "2027-01-04T08:00:00Z", "data": {}}
    odd = refused(topics.PARTICIPANTS, json.dumps(envelope | {"type": EMAIL}).encode())
    assert EMAIL not in odd and "unknown event type (not an event type name)" in odd
    plain = refused(topics.PARTICIPANTS, json.dumps(envelope | {"type": "participant.moved"}).encode())
    assert "unknown event type 'participant.moved'" in plain


def test_broken_json_says_where_not_what():
    reason = refused(topics.PARTICIPANTS, f'{{"name": "{NAME}", oops}}'.encode())
    assert reason.startswith("not JSON: Expecting") and "line 1 column" in reason and NAME not in reason


def test_a_validator_text_that_is_not_a_contract_refusal_is_replaced():
    class Model(BaseModel):
        who: str
        extra: dict[str, int]

        @field_validator("who")
        @classmethod
        def _who(cls, value: str) -> str:
            raise ValueError(f"no such person {value}")

    with pytest.raises(ValidationError) as caught:
        Model.model_validate({"who": NAME, "extra": {EMAIL: "x"}})
    reason = describe_validation_error(caught.value)
    assert reason.startswith("who: invalid value") and "extra.[key]: Input should be a valid integer" in reason
    assert NAME not in reason and EMAIL not in reason
    assert reason_for(caught.value) == "ValidationError: invalid data in extra.[key], who"


def test_a_library_error_becomes_its_type_and_a_known_description():
    reason = reason_for(RuntimeError(f"could not reach {EMAIL}"))
    assert reason == "RuntimeError: the handler failed (details in the service's log)"


@pytest.mark.integration
async def test_a_database_error_keeps_its_sqlstate_not_the_value_it_quotes(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.execute(f"SELECT '{EMAIL}'::int")
    finally:
        await conn.close()
    assert EMAIL in str(caught.value)  # what the driver says...
    reason = reason_for(caught.value)
    assert reason == "InvalidTextRepresentationError [22P02]: the database refused the change"  # ...is not repeated
