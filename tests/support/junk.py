"""Hypothesis strategies for what an upstream system may send that no contract allows: mutated
envelopes, wrong types, missing and extra fields, huge strings, deep nesting, every kind of
unicode, binary garbage, messages of a megabyte, and valid envelopes for the wrong topic.

Every strategy yields bytes that `shared.consumer.parse_event` must refuse for the topic given.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.contracts import topics
from shared.contracts.events import CATALOGUE
from shared.contracts.examples import EXAMPLES

INPUT_TOPICS = [topics.PROGRAMS, topics.PARTICIPANTS, topics.MATCH_REQUESTS, topics.MATCH_RESPONSES,
                topics.RELATIONSHIP_COMMANDS, topics.MEETING_COMMANDS, topics.FEEDBACK_SUBMISSIONS]
MEGABYTE = 1_000_000


def envelope(event_type: str, data: Any, event_id: str = "fuzz") -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/fuzz", "type": event_type,
            "time": "2027-01-04T08:00:00Z", "data": data}


def _valid(topic: str) -> st.SearchStrategy[tuple[str, dict]]:
    return st.sampled_from([(t, EXAMPLES[(topic, t)]) for t in CATALOGUE[topic]])


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                         st.text(max_size=50))
weird_text = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=200)


def _other_kinds(value: Any) -> st.SearchStrategy[Any]:
    """JSON values of another kind than `value` (a number for a text, a text for a number, ...)."""
    kinds = {
        str: st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
        bool: st.one_of(st.integers(0, 1), st.sampled_from(["true", "yes"]), st.none()),
        int: st.one_of(st.booleans(), st.text(max_size=3).map(lambda t: t or "5"), st.lists(st.integers(), max_size=2)),
        float: st.one_of(st.booleans(), st.sampled_from(["1.5", "NaN"]), st.none()),
        list: st.one_of(st.text(max_size=5), st.integers(), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                max_size=2)),
        dict: st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=5), st.integers()),
    }
    return kinds.get(type(value), st.just([value]))


@st.composite
def wrong_type(draw, topic: str) -> bytes:
    """A required field of a valid event given a value of the wrong kind."""
    event_type, data = draw(_valid(topic))
    required = [n for n, f in CATALOGUE[topic][event_type].model_fields.items() if f.is_required()]
    name = draw(st.sampled_from(required))
    return json.dumps(envelope(event_type, {**data, name: draw(_other_kinds(data[name]))})).encode()


@st.composite
def missing_field(draw, topic: str) -> bytes:
    event_type, data = draw(_valid(topic))
    required = [n for n, f in CATALOGUE[topic][event_type].model_fields.items() if f.is_required()]
    gone = draw(st.sets(st.sampled_from(required), min_size=1))
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=20), json_scalars, max_size=5))
    return json.dumps(envelope(event_type, {**{k: v for k, v in data.items() if k not in gone}, **extra})).encode()


@st.composite
def mutated_envelope(draw, topic: str) -> bytes:
    event_type, data = draw(_valid(topic))
    env = envelope(event_type, data)
    key = draw(st.sampled_from(["specversion", "id", "source", "type", "time", "data"]))
    how = draw(st.sampled_from(["drop", "scalar", "empty"]))
    if how == "drop":
        env.pop(key)
    elif how == "empty":
        env[key] = "" if key != "data" else []
    else:
        env[key] = draw(st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2)))
    if key == "time" and how == "scalar":
        env[key] = draw(st.sampled_from(["yesterday", "2027-13-01T00:00:00Z", "2027-01-04T08:00:00"]))
    return json.dumps(env).encode()


@st.composite
def huge_string(draw, topic: str) -> bytes:
    event_type, data = draw(_valid(topic))
    string_fields = [k for k, v in data.items() if isinstance(v, str)]
    name = draw(st.sampled_from(string_fields))
    size = draw(st.sampled_from([5_001, 20_000, 200_000]))
    return json.dumps(envelope(event_type, {**data, name: "x" * size})).encode()


@st.composite
def deep_nesting(draw, topic: str) -> bytes:
    event_type, _ = draw(_valid(topic))
    depth = draw(st.integers(1_500, 5_000))
    return ('{"specversion":"1.0","id":"d","source":"/f","type":"' + event_type +
            '","time":"2027-01-04T08:00:00Z","data":' + "[" * depth + "]" * depth + "}").encode()


@st.composite
def bad_unicode(draw, topic: str) -> bytes:
    """NULs, lone surrogates (escaped, so the JSON itself is valid) and invalid UTF-8."""
    event_type, data = draw(_valid(topic))
    string_fields = [k for k, v in data.items() if isinstance(v, str)]
    name = draw(st.sampled_from(string_fields))
    # A high surrogate with a character after it that is not a low one: followed by the drawn text it
    # could have made a valid pair ("\ud800\udc00" in JSON is U+10000).
    poison = draw(st.sampled_from(["\x00", "\ud800!", "a\x00b", "\udfff\ud800!"]))
    # The poison first: a parser that stops at a NUL (a date's, for one) must not find a valid value
    # before it (hypothesis draws texts from the examples too, so the text may be a valid date).
    text = json.dumps(envelope(event_type, {**data, name: poison + draw(weird_text)}))
    if draw(st.booleans()):
        return text.encode("utf-8", "surrogatepass")  # not UTF-8 at all
    return text.encode()


binary_garbage = st.binary(min_size=1, max_size=2_000).filter(lambda b: not b.strip().startswith((b"{", b"[")))


@st.composite
def megabyte(draw, topic: str) -> bytes:
    """A megabyte in one of the event's text fields (the most a topic takes is about that)."""
    event_type, data = draw(_valid(topic))
    string_fields = [k for k, v in data.items() if isinstance(v, str)]
    name = draw(st.sampled_from(string_fields))
    return json.dumps(envelope(event_type, {**data, name: "y" * (MEGABYTE - 2_000)})).encode()


@st.composite
def wrong_topic(draw, topic: str) -> bytes:
    others = [(t, e) for t in topics.ALL if t != topic for e in CATALOGUE[t]]
    other_topic, event_type = draw(st.sampled_from(others))
    return json.dumps(envelope(event_type, EXAMPLES[(other_topic, event_type)])).encode()


def junk(topic: str) -> st.SearchStrategy[bytes]:
    return st.one_of(wrong_type(topic), missing_field(topic), mutated_envelope(topic), huge_string(topic),
                     deep_nesting(topic), bad_unicode(topic), binary_garbage, wrong_topic(topic),
                     st.just(b""), st.just(b"null"), st.just(b"[]"), st.just(b'"text"'))


def rare_junk(topic: str) -> st.SearchStrategy[bytes]:
    """The expensive kinds (a megabyte each), drawn less often."""
    return megabyte(topic)


def generate(n: int, strategy: st.SearchStrategy[bytes]) -> list[bytes]:
    """Up to n messages drawn from a strategy (generation only: nothing to shrink; hypothesis may
    draw a few fewer when it meets the same example twice)."""
    found: list[bytes] = []

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(raw):
        found.append(raw)

    collect()
    return found[:n]
