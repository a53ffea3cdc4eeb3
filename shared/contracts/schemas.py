"""Machine-readable contracts: a JSON Schema per event (the whole CloudEvents envelope with its
`data`) and an AsyncAPI 3.0 document of every topic, message, key and operation.

Both are generated from the catalogue (`python -m tandem.eventdocs` writes `docs/schemas/` and
`docs/asyncapi.yaml`), and a test keeps them in sync and validates every documented example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.contracts import topics
from shared.contracts.envelope import CONTENT_TYPE
from shared.contracts.events import CATALOGUE, EventData

SCHEMA_BASE = "https://tandem.example/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def envelope_schema(event_type: str, model: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of one event as it travels: envelope + data."""
    data = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{SCHEMA_BASE}{event_type}.json",
        "title": event_type,
        "description": (model.__doc__ or event_type).strip().split("\n\n")[0].replace("\n", " "),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "maxLength": 200,
                   "description": "unique per event; consumers deduplicate on it"},
            "source": {"type": "string", "minLength": 1},
            "type": {"const": event_type},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": ["string", "null"]},
            "datacontenttype": {"const": "application/json"},
            "data": data,
        },
    }
    if defs:
        schema["$defs"] = defs
    return schema


def all_schemas() -> dict[str, dict[str, Any]]:
    return {event_type: envelope_schema(event_type, model)
            for events in CATALOGUE.values() for event_type, model in events.items()}


def asyncapi(publishers: Mapping[str, tuple[str, str]], consumers: Mapping[str, Sequence[tuple[str, str]]]) -> dict:
    """The AsyncAPI 3.0 document. `publishers`: topic -> (who publishes, key description);
    `consumers`: event type -> [(service, handler)]."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, events in CATALOGUE.items():
        channel = topic.replace(".", "-")
        publisher, key = publishers[topic]
        channels[channel] = {
            "address": topic,
            "description": f"Published by {publisher}. Key: {key}. Dead letters on `{topics.dlq(topic)}`.",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in events},
        }
        for event_type, model in events.items():
            messages[event_type] = {
                "name": event_type,
                "title": event_type,
                "summary": (model.__doc__ or event_type).strip().split("\n\n")[0].replace("\n", " "),
                "contentType": CONTENT_TYPE.split(";")[0],
                "payload": {"$ref": f"schemas/{event_type}.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the `{model.key}` field"}}},
            }
        operations[f"publish-{channel}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{publisher} publishes",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{t}"} for t in events],
        }
        readers: dict[str, list[str]] = {}
        for event_type in events:
            for service, _ in consumers.get(event_type, ()):
                readers.setdefault(service, []).append(event_type)
        for service, handled in sorted(readers.items()):
            operations[f"{service}-consumes-{channel}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{service} consumes {', '.join(handled)}",
                "messages": [{"$ref": f"#/channels/{channel}/messages/{t}"} for t in handled],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tandem events",
            "version": "1.0.0",
            "description": "Every topic, event and key of Tandem's services; the prose is in docs/events.md. "
                           "Each message is a CloudEvents 1.0 envelope in structured JSON mode.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
