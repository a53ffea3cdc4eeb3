"""With no exporter nothing records spans, and each consumed event's trace still reaches what it
causes: applied one at a time, or in a wave whose handler names each event as the cause."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from shared.clock import ProgramClock
from shared.consumer import Consumer, Runtime
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.telemetry import recording
from shared.unit_of_work import unit_of_work
from shared.waves import set_wise
from tests.shared.test_waves_integration import replica_database

pytestmark = pytest.mark.integration


async def milestones(wave, uow, deps) -> None:
    for applied in wave:
        uow.cause = applied.envelope
        uow.emit(ev.MilestoneAchieved(relationship_id=applied.data.relationship_id,
                                      participant_id=applied.data.participant_id, milestone="first"))


@set_wise(milestones)
async def milestone(event: ev.FeedbackSubmitted, uow, deps) -> None:
    uow.emit(ev.MilestoneAchieved(relationship_id=event.relationship_id, participant_id=event.participant_id,
                                  milestone="first"))


def record(i: int) -> ConsumerRecord:
    data = ev.FeedbackSubmitted(feedback_id=f"f-{i}", relationship_id=f"r-{i}", participant_id="p", rating=4)
    value = new_envelope(type="feedback.submitted", source="/t", data=data, time="2027-01-04T10:00:00Z",
                         id=f"e-{i}").to_json()
    trace = f"00-{i:032x}-{i + 1:016x}-01".encode()
    return ConsumerRecord(topics.FEEDBACK_SUBMISSIONS, 0, i, 0, 0, f"r-{i}".encode(), value, None, 0, len(value),
                          [("traceparent", trace)] if i % 3 else [])


@pytest.mark.parametrize("waves", [False, True])
async def test_each_event_passes_its_own_trace_on(database_url, waves):
    assert not recording()
    async with replica_database(database_url) as pool:
        runtime = Runtime(name="t", topic_prefix="", producer=None,
                          transaction=lambda: unit_of_work(pool, source="/t", clock=ProgramClock(), schema="waves"))
        consumer = Consumer("t", {ev.FeedbackSubmitted: milestone}, set_wise=waves)
        assert await consumer.dispatch_batch(runtime, topics.FEEDBACK_SUBMISSIONS, [record(i) for i in range(1, 9)]) \
            == ["handled"] * 8
        rows = await pool.fetch("SELECT headers, payload FROM outbox ORDER BY id")
    # (Kept or deleted once published: nothing publishes here, so every row is still pending.)
    assert len(rows) == 8
    for row in rows:
        i = int(orjson.loads(row["payload"])["data"]["relationship_id"].removeprefix("r-"))
        assert row["headers"].get("traceparent") == (f"00-{i:032x}-{i + 1:016x}-01" if i % 3 else None)
