"""Whatever bytes arrive, decoding and validation stay under Tandem's control: every kind of junk
is refused with a plain reason (never an exception of another kind), quickly."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from shared.consumer import InvalidMessage, parse_event
from tests.support.junk import INPUT_TOPICS, junk, rare_junk

SLOWEST: dict[str, float] = {}


def refused(topic: str, raw: bytes) -> str:
    started = time.perf_counter()
    with pytest.raises(InvalidMessage) as info:
        parse_event(topic, raw)
    took = time.perf_counter() - started
    SLOWEST[topic] = max(SLOWEST.get(topic, 0.0), took)
    reason = str(info.value)
    assert reason and len(reason) < 2_500 and all(c.isprintable() for c in reason)
    return reason


@pytest.mark.parametrize("topic", INPUT_TOPICS)
def test_every_kind_of_junk_for_every_input_topic(topic):
    @settings(max_examples=1_500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(junk(topic))
    def check(raw):
        refused(topic, raw)
    check()

    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(rare_junk(topic))
    def check_megabytes(raw):
        assert len(raw) > 900_000
        refused(topic, raw)
    check_megabytes()


def test_three_thousand_brackets_are_refused_not_recursed_into():
    raw = b'{"specversion":"1.0","id":"d","source":"/f","type":"match.requested","time":"2027-01-04T08:00:00Z","data":' \
          + b"[" * 3000 + b"]" * 3000 + b"}"
    assert "nested too deeply" in refused("match-requests.v1", raw) or "data" in refused("match-requests.v1", raw)


@pytest.mark.parametrize("topic", INPUT_TOPICS)
def test_an_example_text_poisoned_as_the_fuzz_run_does_is_refused(topic):
    """Hypothesis draws texts from the examples too: a valid time with a NUL after it once parsed
    (`datetime.fromisoformat` stops at a NUL), so a fuzz run sent valid junk. Poisoned before or
    after, every text field of every example is refused."""
    import json

    from shared.contracts.events import CATALOGUE
    from shared.contracts.examples import EXAMPLES
    from tests.support.junk import envelope

    for event_type in CATALOGUE[topic]:
        data = EXAMPLES[(topic, event_type)]
        for name in [k for k, v in data.items() if isinstance(v, str)]:
            for poison in ("\x00", "\ud800", "a\x00b", "\udfff\ud800"):
                for poisoned in (poison + data[name], data[name] + poison):
                    text = json.dumps(envelope(event_type, {**data, name: poisoned}))
                    refused(topic, text.encode())
                    refused(topic, text.encode("utf-8", "surrogatepass"))
