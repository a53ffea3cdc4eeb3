"""The published `.v1` contracts (docs/schemas/frozen/) still hold, and the comparer that says so
can fail: a small hand-made schema for each kind of breaking change, and for each kind of addition."""

from __future__ import annotations

import copy
import json

import pytest

from shared.contracts import topics
from shared.contracts.schemas import breaking_changes, contract_breaks, topic_schemas
from tandem.eventdocs import BREAKING_HELP, FROZEN, FROZEN_VERSION, freeze, frozen_contracts, frozen_path


# --- today's schemas against the frozen contracts -------------------------------------------------

def test_todays_schemas_keep_every_frozen_v1_contract():
    problems = contract_breaks(frozen_contracts(), topic_schemas())
    assert not problems, ("today's schemas break the published contract (docs/schemas/frozen/):\n  "
                          + "\n  ".join(problems) + "\n" + BREAKING_HELP)


def test_every_v1_topic_is_frozen_and_each_file_names_its_topic():
    frozen = frozen_contracts()
    missing = [t for t in topics.ALL if t.endswith(FROZEN_VERSION) and t not in frozen]
    assert not missing, f"not frozen yet: {missing}; run `python -m tandem.eventdocs --freeze`"
    for topic, events in frozen.items():
        assert frozen_path(topic).exists() and events, topic
    # The documented names, the deprecated ones included, are part of what is frozen.
    assert {"proposal.accepted", "proposal.declined", "match.accepted", "match.declined"} <= \
        set(frozen[topics.MATCH_RESPONSES])
    assert frozen[topics.MATCH_RESPONSES]["match.accepted"]["deprecated"] is True


def test_freeze_refuses_to_bless_a_breaking_change(monkeypatch, tmp_path, capsys):
    import tandem.eventdocs as eventdocs

    monkeypatch.setattr(eventdocs, "FROZEN", tmp_path)
    assert freeze() == 0
    written = json.loads((tmp_path / f"{topics.MATCH_RESPONSES}.json").read_text())
    assert set(written["events"]) == set(topic_schemas()[topics.MATCH_RESPONSES])

    broken = topic_schemas()
    del broken[topics.MATCH_RESPONSES]["proposal.declined"]["properties"]["data"]["properties"]["reason"]
    monkeypatch.setattr(eventdocs, "topic_schemas", lambda: broken)
    assert freeze() == 1
    err = capsys.readouterr().err
    assert "match-responses.v1 proposal.declined: data.reason: field removed" in err and ".v2" in err
    assert json.loads((tmp_path / f"{topics.MATCH_RESPONSES}.json").read_text()) == written  # left alone


def test_the_comparer_sees_a_field_removed_from_a_real_schema():
    today = topic_schemas()[topics.MATCH_RESPONSES]
    assert breaking_changes(today, today) == []
    changed = copy.deepcopy(today)
    del changed["proposal.accepted"]["properties"]["data"]["properties"]["participant_id"]
    changed["proposal.accepted"]["properties"]["data"]["required"].remove("participant_id")
    assert breaking_changes(today, changed) == ["proposal.accepted: data.participant_id: field removed"]


# --- the comparer on small hand-made schemas ------------------------------------------------------

def event(fields: dict, required: tuple[str, ...] = (), defs: dict | None = None, type_: str = "thing.happened") -> dict:
    schema = {"type": "object", "required": ["type", "data"], "properties": {
        "type": {"const": type_},
        "data": {"type": "object", "properties": fields, "required": list(required)},
    }}
    if defs:
        schema["$defs"] = defs
    return schema


def optional(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


TEXT = {"type": "string", "maxLength": 100}
CODE = {"enum": ["a", "b", "c"], "type": "string"}
BEFORE = event({"id": TEXT, "note": optional(TEXT), "code": optional(CODE), "count": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": dict(CODE), "maxItems": 5}}, required=("id",))


def changed(before: dict, edit) -> dict:
    after = copy.deepcopy(before)
    edit(after["properties"]["data"])
    return after


def problems(after: dict, before: dict = BEFORE) -> list[str]:
    return breaking_changes({"thing.happened": before}, {"thing.happened": after})


def test_nothing_changed_passes():
    assert problems(copy.deepcopy(BEFORE)) == []


def test_a_removed_field_fails():
    assert problems(changed(BEFORE, lambda d: d["properties"].pop("note"))) == ["thing.happened: data.note: field removed"]


def test_an_added_optional_field_passes():
    assert problems(changed(BEFORE, lambda d: d["properties"].update(extra=optional(TEXT)))) == []


def test_an_added_required_field_fails():
    def edit(d):
        d["properties"]["extra"] = TEXT
        d["required"].append("extra")
    assert problems(changed(BEFORE, edit)) == ["thing.happened: data.extra: new field, required"]


def test_an_optional_field_becoming_required_fails():
    assert problems(changed(BEFORE, lambda d: d["required"].append("note"))) == \
        ["thing.happened: data.note: was optional, now required"]


def test_a_required_field_becoming_optional_passes():
    assert problems(changed(BEFORE, lambda d: d["required"].remove("id"))) == []


def test_a_removed_enum_value_fails_and_an_added_one_passes():
    def drop(d):
        d["properties"]["code"]["anyOf"][0]["enum"] = ["a", "c"]
    assert problems(changed(BEFORE, drop)) == ["thing.happened: data.code: value 'b' no longer allowed"]

    def add(d):
        d["properties"]["code"]["anyOf"][0]["enum"] = ["a", "b", "c", "d"]
    assert problems(changed(BEFORE, add)) == []


def test_a_removed_enum_value_inside_a_list_fails():
    def drop(d):
        d["properties"]["tags"]["items"] = {"enum": ["a", "b"], "type": "string"}
    assert problems(changed(BEFORE, drop)) == ["thing.happened: data.tags[]: value 'c' no longer allowed"]


def test_a_type_change_fails():
    assert problems(changed(BEFORE, lambda d: d["properties"].update(count={"type": "string"}))) == \
        ["thing.happened: data.count: type changed from integer to string"]
    assert problems(changed(BEFORE, lambda d: d["properties"].update(note=TEXT))) == \
        ["thing.happened: data.note: type changed from string or null to string (no longer takes null)"]
    assert problems(changed(BEFORE, lambda d: d["properties"].update(tags={"type": "object"}))) == \
        ["thing.happened: data.tags: type changed from array to object"]


def test_a_widened_type_passes():
    assert problems(changed(BEFORE, lambda d: d["properties"].update(id=optional(TEXT)))) == []  # null allowed too
    assert problems(changed(BEFORE, lambda d: d["properties"].update(count={"type": "number", "minimum": 0}))) == []


def test_a_narrowed_constraint_fails_and_a_wider_one_passes():
    assert problems(changed(BEFORE, lambda d: d["properties"].update(id={"type": "string", "maxLength": 50}))) == \
        ["thing.happened: data.id: maxLength narrowed from 100 to 50"]
    assert problems(changed(BEFORE, lambda d: d["properties"].update(
        count={"type": "integer", "minimum": 1}))) == ["thing.happened: data.count: minimum raised from 0 to 1"]
    assert problems(changed(BEFORE, lambda d: d["properties"]["tags"].update(maxItems=3))) == \
        ["thing.happened: data.tags: maxItems narrowed from 5 to 3"]
    assert problems(changed(BEFORE, lambda d: d["properties"].update(
        id={"type": "string", "maxLength": 100, "pattern": "^[a-z]+$"}))) == \
        ["thing.happened: data.id: pattern changed from 'none' to '^[a-z]+$'"]
    assert problems(changed(BEFORE, lambda d: d["properties"].update(id={"type": "string", "maxLength": 500}))) == []
    assert problems(changed(BEFORE, lambda d: d["properties"].update(id={"type": "string"}))) == []


def test_a_nested_model_behind_a_ref_is_compared_too():
    place = {"type": "object", "properties": {"room": TEXT, "floor": {"type": "integer"}}, "required": ["room"]}
    before = event({"where": {"$ref": "#/$defs/Place"}}, defs={"Place": place})
    smaller = copy.deepcopy(place)
    del smaller["properties"]["floor"]
    after = event({"where": optional({"$ref": "#/$defs/Place"})}, defs={"Place": smaller})
    assert problems(after, before) == ["thing.happened: data.where.floor: field removed"]
    assert problems(copy.deepcopy(before), before) == []


def test_a_removed_event_type_or_topic_fails_and_an_added_one_passes():
    other = event({"id": TEXT}, type_="other.happened")
    assert breaking_changes({"thing.happened": BEFORE, "other.happened": other}, {"thing.happened": BEFORE}) == \
        ["other.happened: the event type is gone from the topic"]
    assert breaking_changes({"thing.happened": BEFORE}, {"thing.happened": BEFORE, "other.happened": other}) == []
    assert contract_breaks({"things.v1": {"thing.happened": BEFORE}}, {}) == \
        ["things.v1: the topic is gone (1 published event types)"]
    assert contract_breaks({"things.v1": {"thing.happened": BEFORE}}, {"things.v1": {}}) == \
        ["things.v1 thing.happened: the event type is gone from the topic"]


def test_a_changed_type_string_fails():
    renamed = copy.deepcopy(BEFORE)
    renamed["properties"]["type"] = {"const": "thing.renamed"}
    assert problems(renamed) == ["thing.happened: type: value 'thing.happened' no longer allowed"]


@pytest.mark.parametrize("path", sorted(FROZEN.glob("*.json")), ids=lambda p: p.name)
def test_each_frozen_file_is_valid_json_of_one_topic(path):
    frozen = json.loads(path.read_text())
    assert path.name == f"{frozen['topic']}.json" and frozen["events"]
