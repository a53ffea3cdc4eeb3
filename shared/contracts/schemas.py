"""Machine-readable contracts: a JSON Schema per event (the whole CloudEvents envelope with its
`data`) and an AsyncAPI 3.0 document of every topic, message, key and operation.

Both are generated from the catalogue (`python -m tandem.eventdocs` writes `docs/schemas/` and
`docs/asyncapi.yaml`), and a test keeps them in sync and validates every documented example.
Deprecated aliases (`DEPRECATED_ALIASES`) get a schema of their own under
`docs/schemas/deprecated/<topic>/`, marked `deprecated`.

`breaking_changes` compares a topic's published schemas with today's: the `.v1` contracts are frozen
in `docs/schemas/frozen/` (`python -m tandem.eventdocs --freeze`), and a test fails on any change
that would break someone written to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.contracts import topics
from shared.contracts.envelope import CONTENT_TYPE
from shared.contracts.events import CATALOGUE, DEPRECATED_ALIASES, EventData

SCHEMA_BASE = "https://tandem.example/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _summary(model: type[EventData], event_type: str) -> str:
    return (model.__doc__ or event_type).strip().split("\n\n")[0].replace("\n", " ")


def deprecation_note(topic: str, alias: str) -> str:
    current = DEPRECATED_ALIASES[topic][alias]
    return (
        f"Deprecated: the earlier name of `{current}` on {topic}, still read as `{current}` (same data); "
        f"publish `{current}` instead."
    )


def envelope_schema(event_type: str, model: type[EventData], *, alias_on: str | None = None) -> dict[str, Any]:
    """The JSON Schema of one event as it travels: envelope + data. With `alias_on` (a topic),
    `event_type` is a deprecated alias there and the schema says so."""
    data = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{SCHEMA_BASE}{alias_path(alias_on, event_type) if alias_on else event_type + '.json'}",
        "title": event_type,
        "description": deprecation_note(alias_on, event_type) if alias_on else _summary(model, event_type),
        **({"deprecated": True} if alias_on else {}),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "unique per event; consumers deduplicate on it",
            },
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
    return {
        event_type: envelope_schema(event_type, model)
        for events in CATALOGUE.values()
        for event_type, model in events.items()
    }


def deprecated_message_id(topic: str, alias: str) -> str:
    return f"deprecated-{topic.replace('.', '-')}-{alias}"


def alias_path(topic: str, alias: str) -> str:
    """Where a deprecated alias's schema lives, relative to docs/schemas/ (its type string may name
    another event on another topic, so it has a folder of its own)."""
    return f"deprecated/{topic}/{alias}.json"


def alias_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(topic, deprecated alias) -> the schema of the event as it still arrives under that name."""
    return {
        (topic, alias): envelope_schema(alias, CATALOGUE[topic][current], alias_on=topic)
        for topic, aliases in DEPRECATED_ALIASES.items()
        for alias, current in aliases.items()
    }


def topic_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """topic -> {every type string it carries, deprecated aliases included -> schema}: the contract
    of each topic, as frozen in docs/schemas/frozen/."""
    aliases = alias_schemas()
    return {
        topic: {
            **{t: envelope_schema(t, model) for t, model in events.items()},
            **{alias: aliases[(topic, alias)] for alias in DEPRECATED_ALIASES.get(topic, {})},
        }
        for topic, events in CATALOGUE.items()
    }


def asyncapi(publishers: Mapping[str, tuple[str, str]], consumers: Mapping[str, Sequence[tuple[str, str]]]) -> dict:
    """The AsyncAPI 3.0 document. `publishers`: topic -> (who publishes, key description);
    `consumers`: event type -> [(service, handler)]."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, events in CATALOGUE.items():
        channel = topic.replace(".", "-")
        publisher, key = publishers[topic]
        aliases = DEPRECATED_ALIASES.get(topic, {})
        # Message ids: the type string, or for a deprecated alias one of its own (the alias may name
        # another event on another topic, e.g. match.declined).
        ids = {t: t for t in events} | {alias: deprecated_message_id(topic, alias) for alias in aliases}
        channels[channel] = {
            "address": topic,
            "description": f"Published by {publisher}. Key: {key}. Dead letters on `{topics.dlq(topic)}`.",
            "messages": {ids[t]: {"$ref": f"#/components/messages/{ids[t]}"} for t in ids},
        }
        for event_type, model in events.items():
            messages[event_type] = {
                "name": event_type,
                "title": event_type,
                "summary": _summary(model, event_type),
                "contentType": CONTENT_TYPE.split(";")[0],
                "payload": {"$ref": f"schemas/{event_type}.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the `{model.key}` field"}}},
            }
        for alias, current in aliases.items():
            messages[ids[alias]] = {
                "name": alias,
                "title": f"{alias} (deprecated)",
                "summary": deprecation_note(topic, alias),
                "deprecated": True,
                "contentType": CONTENT_TYPE.split(";")[0],
                "payload": {"$ref": f"schemas/{alias_path(topic, alias)}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the `{events[current].key}` field"}}},
            }
        operations[f"publish-{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{publisher} publishes",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{ids[t]}"} for t in ids],
        }
        readers: dict[str, list[str]] = {}
        for event_type in ids:
            for service, _ in consumers.get(DEPRECATED_ALIASES.get(topic, {}).get(event_type, event_type), ()):
                readers.setdefault(service, []).append(event_type)
        for service, handled in sorted(readers.items()):
            operations[f"{service}-consumes-{channel}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{service} consumes "
                f"{', '.join(t + (' (deprecated)' if t in aliases else '') for t in handled)}",
                "messages": [{"$ref": f"#/channels/{channel}/messages/{ids[t]}"} for t in handled],
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


# --- compatibility with a published contract --------------------------------------------------------
#
# A `.v1` topic only grows. Compared with what was published, today's schemas may add event types,
# optional fields and enum values, and may accept more (a longer text, a null); anything that could
# refuse or lose what someone written to the published contract sends or reads is a breaking change.

_UPPER = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")  # lowering one narrows
_LOWER = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")  # raising one narrows
_EXACT = ("pattern", "format", "multipleOf", "contentEncoding")  # adding or changing one narrows
_MAX_DEPTH = 64  # $refs are followed; a self-referencing model stops here


def contract_breaks(published: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every way `current` (topic -> {type -> envelope schema}) breaks `published` (the same, as frozen):
    a topic or event type gone, a field gone, a type changed, an enum value gone, a field newly
    required, a bound narrowed. One line each, "topic type: where: what"."""
    problems = []
    for topic, events in published.items():
        if topic not in current:
            problems.append(f"{topic}: the topic is gone ({len(events)} published event types)")
            continue
        problems += breaking_changes(events, current[topic], where=f"{topic} ")
    return problems


def breaking_changes(published: Mapping[str, Any], current: Mapping[str, Any], *, where: str = "") -> list[str]:
    """Every way `current` ({type -> schema} of one topic) breaks `published`; see `contract_breaks`."""
    problems = []
    for event_type, old in published.items():
        new = current.get(event_type)
        if new is None:
            problems.append(f"{where}{event_type}: the event type is gone from the topic")
            continue
        problems += _compare(old, new, _Roots(old, new), f"{where}{event_type}: ", "", 0)
    return problems


class _Roots:
    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old, self.new = old.get("$defs", {}), new.get("$defs", {})


def _resolve(schema: Any, defs: Mapping[str, Any]) -> dict[str, Any]:
    if schema is True or schema is None:
        return {}
    if schema is False:
        return {"not": {}}
    schema = dict(schema)
    for _ in range(_MAX_DEPTH):
        ref = schema.pop("$ref", None)
        if ref is None:
            break
        schema = {**defs.get(ref.rsplit("/", 1)[-1], {}), **schema}  # siblings of $ref (default, ...) stay
    return schema


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _branches(schema: Any, defs: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A schema as the alternatives it accepts, each (kind, schema of that kind); kind "any" takes all."""
    schema = _resolve(schema, defs)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            rest = {k: v for k, v in schema.items() if k != combinator}
            return [b for option in schema[combinator] for b in _branches({**rest, **_resolve(option, defs)}, defs)]
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return [b for kind in kinds for b in _branches({**schema, "type": kind}, defs)]
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if kinds is None and values is not None:  # an enum of mixed kinds: one branch per kind
        by_kind: dict[str, list[Any]] = {}
        for value in values:
            by_kind.setdefault(_json_kind(value), []).append(value)
        return [
            (kind, {**{k: v for k, v in schema.items() if k != "const"}, "enum": vals})
            for kind, vals in by_kind.items()
        ]
    if kinds is None:
        kinds = "object" if "properties" in schema else "array" if "items" in schema else "any"
    return [(kinds, schema)]


def _takes(old_kind: str, new_kind: str) -> bool:
    return new_kind in (old_kind, "any") or (old_kind, new_kind) == ("integer", "number")


def _kinds(branches: list[tuple[str, dict[str, Any]]]) -> str:
    return " or ".join(dict.fromkeys(kind for kind, _ in branches))


def _compare(old: Any, new: Any, roots: _Roots, prefix: str, path: str, depth: int) -> list[str]:
    if depth > _MAX_DEPTH:
        return []
    olds, news = _branches(old, roots.old), _branches(new, roots.new)
    problems: list[str] = []
    for kind, old_branch in olds:
        candidates = [branch for new_kind, branch in news if _takes(kind, new_kind)]
        if not candidates:
            problems.append(
                f"{prefix}{path or '(the event)'}: type changed from {_kinds(olds)} to {_kinds(news)}"
                + (f" (no longer takes {kind})" if len(olds) > 1 else "")
            )
            continue
        # The alternative of today's schema that takes the most of what this one took.
        closest: list[str] = min(
            (_compare_branch(old_branch, branch, roots, prefix, path, depth) for branch in candidates),
            key=len,
        )
        problems += closest
    return list(dict.fromkeys(problems))


def _compare_branch(
    old: dict[str, Any], new: dict[str, Any], roots: _Roots, prefix: str, path: str, depth: int
) -> list[str]:
    where = f"{prefix}{path or '(the event)'}"
    problems = []
    old_values = [old["const"]] if "const" in old else old.get("enum")
    new_values = [new["const"]] if "const" in new else new.get("enum")
    if new_values is not None:
        if old_values is None:
            problems.append(f"{where}: now limited to the values {new_values}")
        else:
            gone = [v for v in old_values if v not in new_values]
            if gone:
                problems.append(
                    f"{where}: value{'s' if len(gone) > 1 else ''} {', '.join(map(repr, gone))} no longer allowed"
                )
    for bound in _UPPER:
        if bound in new and (bound not in old or new[bound] < old[bound]):
            problems.append(f"{where}: {bound} narrowed from {old.get(bound, 'none')} to {new[bound]}")
    for bound in _LOWER:
        if bound in new and (bound not in old or new[bound] > old[bound]):
            problems.append(f"{where}: {bound} raised from {old.get(bound, 'none')} to {new[bound]}")
    for rule in _EXACT:
        if rule in new and new[rule] != old.get(rule):
            problems.append(f"{where}: {rule} changed from {old.get(rule, 'none')!r} to {new[rule]!r}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        problems.append(f"{where}: items must now be unique")
    if "not" in new and new["not"] != old.get("not"):
        problems.append(f"{where}: a new exclusion (not) was added")
    # Objects: every field stays, with a compatible schema; no field becomes required.
    old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
    for name, field in old_fields.items():
        if name not in new_fields:
            problems.append(f"{prefix}{_join(path, name)}: field removed")
        else:
            problems += _compare(field, new_fields[name], roots, prefix, _join(path, name), depth + 1)
    old_required = set(old.get("required", ()))
    for name in new.get("required", ()):
        if name not in old_required:
            problems.append(
                f"{prefix}{_join(path, name)}: "
                + ("was optional, now required" if name in old_fields else "new field, required")
            )
    old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if new_extra is False and old_extra is not False:
        problems.append(f"{where}: other fields are no longer accepted")
    elif isinstance(new_extra, dict) and old_extra is not False:
        problems += _compare(old_extra, new_extra, roots, prefix, _join(path, "*"), depth + 1)
    # Arrays: every item as before.
    if "items" in new:
        problems += _compare(old.get("items", True), new["items"], roots, prefix, f"{path}[]", depth + 1)
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
