"""Field types every contract shares: bounded ids and texts, and strings Postgres can store.

Any Kafka client can write to any topic, so every field has a size limit, and no string may hold a
NUL or a lone surrogate (Postgres text refuses both): such a message is dead-lettered with a reason
at the door instead of failing deep inside a handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


class Refusal(ValueError):
    """A contract's own words for refusing a value, which never quote the value: dead-letter reasons
    keep these messages, and only these (shared.consumer.describe_validation_error)."""


def storable(value: Any) -> Any:
    """Reject strings Postgres cannot store, anywhere inside `value`."""
    if isinstance(value, (dict, list, tuple)):
        # The usual case in one pass in C: orjson refuses a lone surrogate and writes a NUL as \u0000.
        # Anything else (a set, a key that is not text, a literal "\u0000" in a text) takes the walk.
        try:
            if b"\\u0000" not in orjson.dumps(value):
                return value
        except (TypeError, orjson.JSONEncodeError):
            pass
    _walk_storable(value)
    return value


def _walk_storable(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise Refusal("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Refusal("text must be valid Unicode (a lone surrogate was found)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk_storable(k)
            _walk_storable(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _walk_storable(v)


class Reason(BaseModel):
    """A reason as a message id with its parameters, for each reader to word in their own language
    (notifications' catalogues); `code` is stable, `params` are plain values (numbers, ids, terms)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$")]
    params: dict[Annotated[str, StringConstraints(max_length=50)], str | int | float | bool | list[str]] = Field(
        default_factory=dict, max_length=20
    )


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 40 and "\x00" not in value:  # fromisoformat stops at a NUL
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise Refusal("a time must be an ISO 8601 string with a time zone, e.g. 2027-01-04T08:00:00Z")


# A moment in time, written as ISO 8601 with its offset: never a bare number (seconds since when?).
Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text)]

Id = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(storable)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(storable)]
Term = Annotated[str, StringConstraints(max_length=100), AfterValidator(storable)]  # a skill, goal, language
ShortText = Annotated[str, StringConstraints(max_length=500), AfterValidator(storable)]
Text = Annotated[str, StringConstraints(max_length=5000), AfterValidator(storable)]


def _web_address(value: str) -> str:
    # Only the form is checked here; whether it may be reached (https, a public host) is decided at
    # each send, where the deployment's allow-list is known.
    scheme, sep, rest = value.partition("://")
    if (
        not sep
        or scheme.lower() not in ("https", "http")
        or not rest
        or rest[0] in "/?#"
        or any(c.isspace() for c in value)
    ):
        raise Refusal("not an absolute https URL")
    return value


# Where chat messages go: an absolute URL (https, except for hosts a deployment allows).
WebhookUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(storable), AfterValidator(_web_address)]
