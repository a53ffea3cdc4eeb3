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
