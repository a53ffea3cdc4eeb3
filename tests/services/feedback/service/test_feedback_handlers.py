"""Feedback handlers through FastStream's in-memory TestKafkaBroker (a handler unit test), with the
state in a real PostgreSQL. The real-broker path is covered by the service and end-to-end tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from faststream.kafka import TestKafkaBroker

from services.feedback.entrypoints.app import build_service
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from tests.support.runtime import fetch, settings_for

NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)


@pytest.fixture
async def service(database_url, bootstrap_servers):
    settings = settings_for(FeedbackSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix="", clock_start=NOW)
    service = build_service(settings)
    await service._start_storage()
    try:
        yield service
    finally:
        await service._stop()


async def send(broker, data: ev.EventData, event_id: str | None = None) -> None:
    topic, event_type = ev.topic_of(type(data))
    envelope = new_envelope(type=event_type, source="/test", data=data, time=NOW, id=event_id)
    await broker.publish(envelope.to_json(), topic, key=data.key_value().encode())


async def test_completed_meeting_asks_both_for_feedback_and_feedback_moves_health(service, database_url):
    async with TestKafkaBroker(service.broker) as broker:
        await send(broker, ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id="g", mentee_id="ana",
                                               mentor_id="bram", established_at=NOW, goals=["public speaking"]))
        completed = ev.MeetingCompleted(meeting_id="m1", relationship_id="r1", program_id="g", mentor_id="bram",
                                        mentee_id="ana", occurrence=1, start=NOW, end=NOW)
        await send(broker, completed, event_id="same")
        await send(broker, completed, event_id="same")  # redelivered: skipped by the inbox
        await send(broker, ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana",
                                                meeting_id="m1", rating=1, progress=1,
                                                goals_achieved=["Public speaking"]))
        await send(broker, ev.FeedbackSubmitted(feedback_id="f2", relationship_id="r1", participant_id="bram",
                                                meeting_id="m1", rating=2))

    requests = await fetch(database_url, "SELECT participant_id, role, answered_at FROM feedback.feedback_requests ORDER BY role")
    assert [(r["participant_id"], r["role"]) for r in requests] == [("ana", "mentee"), ("bram", "mentor")]
    assert all(r["answered_at"] is not None for r in requests)
    outbox = [r["payload"] for r in await fetch(database_url, "SELECT payload FROM feedback.outbox ORDER BY id")]
    types = [__import__("json").loads(p)["type"] for p in outbox]
    assert types.count("feedback.requested") == 2
    assert "milestone.achieved" in types
    assert types[-2:] == ["relationship.health.changed", "relationship.at_risk"]
    rel = (await fetch(database_url, "SELECT health_state FROM feedback.relationships"))[0]
    assert rel["health_state"] == "at_risk"
