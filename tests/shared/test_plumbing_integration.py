"""The shared plumbing on a real PostgreSQL and a real Apache Kafka: outbox, inbox, retries, dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from shared.db import create_pool, migrate
from shared.errors import NotYetKnown, PermanentError
from shared.outbox import events_written
from shared.service import Service
from shared.settings import ServiceSettings
from tandem.client import Publisher, Watcher
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "plumbing_migrations"


def build(settings: ServiceSettings, attempts: dict[str, int]) -> Service:
    """A tiny service: stores each feedback comment and announces a milestone; comments steer failures."""

    async def on_feedback_submitted(data: ev.FeedbackSubmitted, uow, deps: dict[str, int]) -> None:
        attempts = deps
        attempts[data.feedback_id] = attempts.get(data.feedback_id, 0) + 1
        if data.comment == "boom":
            raise RuntimeError("handler bug while writing to ana.garcia@example.com")
        if data.comment == "nope":
            raise PermanentError("this feedback contradicts the record")
        if data.comment == "later" and attempts[data.feedback_id] < 3:
            raise NotYetKnown("relationship not here yet")
        await uow.conn.execute("INSERT INTO notes (feedback_id, comment) VALUES ($1, $2)", data.feedback_id, data.comment)
        uow.emit(ev.MilestoneAchieved(relationship_id=data.relationship_id, participant_id=data.participant_id,
                                      milestone=data.comment or "none"))

    return Service(name="plumbing", schema="plumbing", settings=settings, migrations=MIGRATIONS,
                   subscriptions={ev.FeedbackSubmitted: on_feedback_submitted}, deps=attempts)


def feedback(fid: str, comment: str | None) -> ev.FeedbackSubmitted:
    return ev.FeedbackSubmitted(feedback_id=fid, relationship_id="r-1", participant_id="p-1", rating=4, comment=comment)


@pytest.fixture
def settings(database_url, bootstrap_servers, topic_prefix) -> ServiceSettings:
    return settings_for(ServiceSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, max_attempts=3, max_deferrals=5)


async def test_event_applied_once_and_its_consequence_published(settings, bootstrap_servers, topic_prefix):
    attempts: dict[str, int] = {}
    async with build(settings, attempts).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        from shared.contracts.envelope import new_envelope

        env = new_envelope(type="feedback.submitted", source="/portal", data=feedback("f-1", "hello"),
                           time="2027-01-04T10:00:00Z")
        upstream_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        traceparent = {"traceparent": f"00-{upstream_trace}-00f067aa0ba902b7-01"}
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, env.to_json(), key="r-1", headers=traceparent)
        # The same event delivered again (same id): the inbox skips it.
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, env.to_json(), key="r-1", headers=traceparent)
        await out.wait_for(lambda w: w.of_type("milestone.achieved"), 30, "the milestone")
        await eventually(outbox_left_empty(settings), 30, "the published event to leave the outbox")
        await asyncio.sleep(1.0)
    assert attempts == {"f-1": 1}
    assert len(out.of_type("milestone.achieved")) == 1
    published = out.of_type("milestone.achieved")[0]
    assert published.key == "r-1" and published.envelope["source"] == "/tandem/plumbing"
    assert published.headers["traceparent"].split("-")[1] == upstream_trace  # the trace continues across the hop
    # Written to the outbox once, and gone from it once published: counted, not kept.
    written = await fetch(settings.database_url, events_written("plumbing"))
    assert [(r["event_type"], r["n"]) for r in written] == [("milestone.achieved", 1)]


def outbox_left_empty(settings: ServiceSettings):
    async def check() -> bool:
        return (await fetch(settings.database_url, "SELECT count(*) AS n FROM plumbing.outbox"))[0]["n"] == 0
    return check


async def test_without_an_exporter_the_trace_context_still_reaches_the_events_caused(
        settings, bootstrap_servers, topic_prefix):
    """No OTEL_EXPORTER_OTLP_ENDPOINT: no span is recorded (no SDK provider, no FastStream spans), and
    the trace id of a consumed event still rides on the events its handler emits."""
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider

    from shared.contracts.envelope import new_envelope
    from shared.telemetry import recording

    assert settings.otel_exporter_otlp_endpoint is None
    service = build(settings, {})
    assert not recording() and not isinstance(service.tracer_provider, TracerProvider)
    assert not any(isinstance(m, KafkaTelemetryMiddleware) for m in service.broker.middlewares)
    upstream_trace = "0af7651916cd43dd8448eb211c80319c"
    async with service.running(), Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        env = new_envelope(type="feedback.submitted", source="/portal", data=feedback("f-t", "traced"),
                           time="2027-01-04T10:00:00Z")
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, env.to_json(), key="r-1",
                           headers={"traceparent": f"00-{upstream_trace}-b7ad6b7169203331-01"})
        (published,) = await out.wait_for(lambda w: w.of_type("milestone.achieved"), 30, "the milestone")
    assert published.headers["traceparent"].split("-")[1] == upstream_trace
    assert published.headers["ce_type"] == "milestone.achieved"


async def test_bad_messages_go_to_the_dead_letter_topic_and_the_service_keeps_going(settings, bootstrap_servers, topic_prefix):
    attempts: dict[str, int] = {}
    dlq = topics.dlq(topics.FEEDBACK_SUBMISSIONS)
    async with build(settings, attempts).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK, dlq], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, b"{not json", key="r-1")
        bad_schema = json.dumps({"specversion": "1.0", "id": "x1", "source": "/portal", "type": "feedback.submitted",
                                 "time": "2027-01-04T10:00:00Z", "data": {"feedback_id": "f-9", "rating": 9}})
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, bad_schema.encode(), key="r-1")
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, json.dumps({"specversion": "1.0", "id": "x2", "source": "/p",
                           "type": "feedback.deleted", "time": "2027-01-04T10:00:00Z", "data": {}}).encode(),
                           key="r-1")  # one key, one partition: the order below is the order sent
        await pub.publish(feedback("f-boom", "boom"))
        await pub.publish(feedback("f-nope", "nope"))
        await pub.publish(feedback("f-ok", "fine"))
        await out.wait_for(lambda w: len(w.on_topic(dlq)) >= 5 and w.of_type("milestone.achieved"), 60, "dead letters")
    letters = out.on_topic(dlq)
    reasons = [o.headers["dlq.error"] for o in letters]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("invalid feedback.submitted data: relationship_id: Field required")
    assert "rating: Input should be less than or equal to 5" in reasons[1]
    assert "unknown event type 'feedback.deleted'" in reasons[2]
    # A handler's own error is told by its type: its text may quote the data (here an address).
    assert reasons[3] == "failed 3 times: RuntimeError: the handler failed (details in the service's log)"
    assert reasons[4] == "this feedback contradicts the record"
    for o in letters:
        assert o.headers["dlq.original.topic"] == topic_prefix + topics.FEEDBACK_SUBMISSIONS
        assert o.headers["dlq.original.partition"].isdigit() and o.headers["dlq.original.offset"].isdigit()
    assert letters[0].raw == b"{not json"  # the original bytes, untouched
    assert attempts["f-boom"] == 3 and attempts["f-nope"] == 1
    assert [o.data["milestone"] for o in out.of_type("milestone.achieved")] == ["fine"]


async def test_no_dead_letter_reason_repeats_what_the_message_held(settings, bootstrap_servers, topic_prefix):
    """An address and a name in a bad value, in the type, and in a handler's own error: the reasons
    on the real dead-letter topic name fields and kinds of error, never them."""
    email, name = "ana.garcia@example.com", "Ana García"
    dlq = topics.dlq(topics.FEEDBACK_SUBMISSIONS)
    envelope = {"specversion": "1.0", "source": "/portal", "time": "2027-01-04T10:00:00Z"}
    data = {"feedback_id": "f-1", "relationship_id": "r-1", "participant_id": "p-1", "rating": 4}
    async with build(settings, {}).running(), Watcher(bootstrap_servers, [dlq], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        for i, message in enumerate([
            envelope | {"type": "feedback.submitted", "data": data | {"rating": email}},
            envelope | {"type": "feedback.submitted", "data": data | {"goals_achieved": {name: email}}},
            envelope | {"type": email, "data": data},
            envelope | {"type": "feedback.submitted", "data": data | {"comment": "boom"}},  # RuntimeError quoting an address
        ]):
            await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, json.dumps(message | {"id": f"x{i}"}).encode(), key="r-1")
        await out.wait_for(lambda w: len(w.on_topic(dlq)) >= 4, 60, "dead letters")
    reasons = [o.headers["dlq.error"] for o in out.on_topic(dlq)]
    assert reasons[0] == "invalid feedback.submitted data: rating: Input should be a valid integer"
    assert reasons[1].startswith("invalid feedback.submitted data: goals_achieved: Input should be a valid")
    assert reasons[2].startswith("unknown event type (not an event type name) on feedback-submissions.v1")
    assert reasons[3] == "failed 3 times: RuntimeError: the handler failed (details in the service's log)"
    for reason in reasons:
        assert "ana.garcia" not in reason and "García" not in reason


async def test_data_not_yet_known_is_waited_for(settings, bootstrap_servers, topic_prefix):
    attempts: dict[str, int] = {}
    async with build(settings, attempts).running(), \
            Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(feedback("f-later", "later"))
        await out.wait_for(lambda w: w.of_type("milestone.achieved"), 30, "the milestone")
    assert attempts["f-later"] == 3


async def test_a_rolled_back_change_publishes_nothing_and_pending_events_survive_a_restart(settings, bootstrap_servers, topic_prefix):
    service = build(settings, {})
    async with service.running():
        pass  # migrations applied
    pool = await create_pool(settings.database_url.get_secret_value(), "plumbing")
    try:
        from shared.clock import ProgramClock
        from shared.unit_of_work import unit_of_work

        with pytest.raises(RuntimeError):
            async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing") as uow:
                uow.emit(ev.MilestoneAchieved(relationship_id="r-x", participant_id="p", milestone="rolled back"))
                raise RuntimeError("abort")
        # Committed while no relay runs (the service is down): must go out once it is back.
        async with unit_of_work(pool, source="/t", clock=ProgramClock(), schema="plumbing") as uow:
            uow.emit(ev.MilestoneAchieved(relationship_id="r-y", participant_id="p", milestone="kept"))
    finally:
        await pool.close()
    async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as out:
        async with build(settings, {}).running():
            await out.wait_for(lambda w: w.of_type("milestone.achieved"), 30, "the pending event")
            await asyncio.sleep(0.5)
    assert [o.data["milestone"] for o in out.of_type("milestone.achieved")] == ["kept"]


async def test_migrations_apply_once_even_when_started_together(database_url):
    pools = [await create_pool(database_url, "plumbing") for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(p, "plumbing", MIGRATIONS) for p in pools))
    finally:
        for p in pools:
            await p.close()
    applied = sorted(name for r in results for name in r)
    assert applied == ["plumbing/001_outbox_inbox.sql", "plumbing/002_dead_lettered.sql",
                       "plumbing/003_outbox_published_counts.sql", "service/001_notes.sql"]
    rows = await fetch(database_url, "SELECT track, version FROM plumbing.schema_migrations ORDER BY track, version")
    assert [(r["track"], r["version"]) for r in rows] == [("plumbing", 1), ("plumbing", 2), ("plumbing", 3),
                                                         ("service", 1)]


async def test_a_service_can_follow_the_dead_letters_once_each(settings, bootstrap_servers, topic_prefix):
    from shared.dead_letters import DeadLetter, DeadLetters

    seen: list[DeadLetter] = []

    async def on_dead_letter(letter: DeadLetter, uow, deps) -> None:
        seen.append(letter)
        await uow.conn.execute("INSERT INTO notes (feedback_id, comment) VALUES ($1, $2)", letter.id, letter.reason)

    attempts: dict[str, int] = {}
    service = build(settings, attempts)
    follower = Service(name="follower", schema="follower", settings=settings, migrations=MIGRATIONS,
                       subscriptions={DeadLetters: on_dead_letter})
    async with service.running(), follower.running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, b"{not json", key="r-1")
        await pub.publish(ev.FeedbackSubmitted(feedback_id="f-x", relationship_id="r-1", participant_id="p-1",
                                               rating=4, comment="nope"))

        async def both_recorded():
            return len(await fetch(settings.database_url, "SELECT 1 FROM follower.notes")) >= 2
        await eventually(both_recorded, 60, "the dead letters noted")
    rows = await fetch(settings.database_url, "SELECT feedback_id, comment FROM follower.notes ORDER BY comment")
    assert [r["comment"] for r in rows] == ["not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
                                            "this feedback contradicts the record"]
    assert {s.topic for s in seen} == {topics.FEEDBACK_SUBMISSIONS}
    assert [s.event_type for s in seen if s.reason.startswith("this")] == ["feedback.submitted"]
    assert all(r["feedback_id"].startswith(topics.FEEDBACK_SUBMISSIONS + ".dlq/") for r in rows)


async def test_an_id_used_again_for_a_different_event_is_refused_not_skipped(settings, bootstrap_servers, topic_prefix):
    from shared.contracts.envelope import new_envelope

    attempts: dict[str, int] = {}
    dlq = topics.dlq(topics.FEEDBACK_SUBMISSIONS)
    async with build(settings, attempts).running(), Watcher(bootstrap_servers, [topics.FEEDBACK, dlq], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        first = new_envelope(type="feedback.submitted", source="/portal", data=feedback("f-1", "hello"),
                             time="2027-01-04T10:00:00Z", id="same-id")
        later = new_envelope(type="feedback.submitted", source="/portal", data=feedback("f-2", "other"),
                             time="2027-01-04T10:05:00Z", id="same-id")
        resent = new_envelope(type="feedback.submitted", source="/portal", data=feedback("f-1", "hello"),
                              time="2027-01-04T11:00:00Z", id="same-id")  # a retry: new time, same event
        for envelope in (first, later, resent):
            await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, envelope.to_json(), key="r-1")
        await out.wait_for(lambda w: w.on_topic(dlq) and w.of_type("milestone.achieved"), 30, "the outcome")
        await asyncio.sleep(1.0)
    (refused,) = out.on_topic(dlq)
    assert refused.headers["dlq.error"] == "event id same-id was used before for a different event; this one is not applied"
    notes = await fetch(settings.database_url, "SELECT feedback_id FROM plumbing.notes")
    assert [r["feedback_id"] for r in notes] == ["f-1"]  # applied once; the other body never
    assert [o.data["milestone"] for o in out.of_type("milestone.achieved")] == ["hello"]
