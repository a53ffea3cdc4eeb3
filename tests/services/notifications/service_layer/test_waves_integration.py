"""meeting.scheduled, match.proposed, reminder.due and feedback.requested applied a wave at a time
(service_layer/waves.py) against one event at a time (handlers.py, the reference), on two real
PostgreSQL databases: random batches naming people in several languages and tones, in and out of
their quiet hours, on mail and on a chat webhook, someone who muted reminders, someone who left,
someone forgotten on request, someone not known yet, relationships not known or not ended yet, a
person asked about a relationship that is not theirs, redeliveries and ids reused for another event
leave the same rows (every delivery, its mail bytes included), the same events and the same dead
letters either way. A wave may fail only where the reference fails too, which a spy checks."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.notifications.entrypoints.app import MIGRATIONS
from services.notifications.service_layer import handlers
from services.notifications.service_layer.handlers import SUBSCRIPTIONS, NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from services.notifications.settings import NotificationSettings
from shared.consumer import Consumer, Limits, Runtime
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.contracts.events import topic_of
from shared.db import create_database, create_pool, migrate
from shared.errors import NotYetKnown, PermanentError
from shared.loops import Wakeup
from shared.people import Choices, Pair, Participant
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.unit_of_work import unit_of_work
from shared.waves import wave_end
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday: 09:00 in Sao Paulo, 13:00 in Berlin, 21:00 in Tokyo
START = NOW + timedelta(days=3)
PEOPLE = {
    "ana": dict(locale="pt-BR", languages=("pt", "en"), tz="America/Sao_Paulo", style="indirect",
                quiet=("21:00", "07:30")),
    "bram": dict(roles=("mentor",), locale="nl-NL", languages=("nl", "en"), tz="Asia/Tokyo", capacity=3,
                 seniority=7, quiet=("20:00", "08:00")),  # in his quiet hours now
    "chen": dict(locale="de-DE", languages=("de", "en"), tz="Europe/Berlin", quiet=("12:30", "14:00")),
    "dana": dict(roles=("mentor",), locale="en-GB", capacity=3, seniority=8, channel="webhook",
                 webhook_url="https://hooks.example.com/dana"),
    "eve": dict(locale="fr-FR", languages=("fr",), tz="Europe/Paris"),  # forgotten on request
    "finn": dict(locale="en-GB"),  # offboarded
    "gus": dict(locale="ja-JP", languages=("ja", "en"), tz="Asia/Tokyo", style="indirect"),  # muted reminders
}
GHOST = "ghost"  # never onboarded: what names them waits (NotYetKnown), then goes to the dead letters
NAMES = [*sorted(PEOPLE), GHOST]
PAIRS = {  # relationship -> (mentor, mentee, still active)
    "r-ab": ("bram", "ana", True), "r-dc": ("dana", "chen", False), "r-be": ("bram", "eve", True),
    "r-dg": ("dana", "gus", True), "r-bf": ("bram", "finn", False), "r-dx": ("dana", GHOST, True),
}
RELATIONSHIPS = [*sorted(PAIRS), "r-unknown"]
TABLES = ("deliveries", "meetings", "proposals", "feedback_requests")
ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tandem//Scheduling//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
       "UID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:20270104T120000Z\r\nDTSTART:20270107T120000Z\r\n"
       "DTEND:20270107T124500Z\r\nSUMMARY:Mentoring\r\nATTENDEE;CN={a}:mailto:{a}@example.com\r\n"
       "ATTENDEE;CN={b}:mailto:{b}@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[str, int, str]] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        headers = dict(headers)
        self.letters.append((topic, int(headers["dlq.original.offset"]), headers["dlq.error"].decode()))


person = st.sampled_from(NAMES)
step = st.one_of(
    st.tuples(st.just("meeting"), person, person, st.integers(0, 2)),
    st.tuples(st.just("proposed"), person, person, st.just(0)),
    st.tuples(st.just("reminder"), person, person, st.integers(1, 2)),  # 1: only the first is named
    st.tuples(st.just("feedback"), st.sampled_from(RELATIONSHIPS), person, st.integers(0, 3)),
    st.tuples(st.just("again"), st.integers(0, 60), st.just(""), st.just(0)),  # an earlier record again
    st.tuples(st.just("reuse"), st.integers(0, 60), st.just(""), st.just(0)),  # an earlier id, another event
)


def data_of(kind: str, n: int, a: str, b: str, x: int) -> ev.EventData:
    if kind == "meeting":
        return ev.MeetingScheduled(
            meeting_id=f"m-{n}", relationship_id=f"r-{n}", program_id="prog-1", mentor_id=a, mentee_id=b,
            occurrence=1, start=START, end=START + timedelta(minutes=45), kind=("kickoff", "recurring")[x % 2],
            sequence=x, ics=ICS.format(uid=f"m-{n}", sequence=x, a=a, b=b),
            alternatives=[START + timedelta(days=d, hours=x) for d in range(x)], location="https://meet.example/x"
            if x == 2 else None, place="video" if x else None)
    if kind == "proposed":
        return ev.MatchProposed(proposal_id=f"p-{n}", program_id="prog-1", mentee_id=b, mentor_id=a, score=0.8,
                                expires_at=NOW + timedelta(days=3), explanation={"components": {"goal_fit": {
                                    "reason": {"code": "goals_covered", "params": {
                                        "covered": ["public speaking"], "missing": [], "total": 1}}}}})
    if kind == "reminder":
        return ev.ReminderDue(reminder_id=f"rem-{n}", meeting_id=f"m-{n}", relationship_id=f"r-{n}",
                              participant_ids=[a, b][:x], meeting_start=NOW + timedelta(hours=2), minutes_before=60)
    return ev.FeedbackRequested(request_id=f"q-{n}", relationship_id=a, participant_id=b, role="mentee",
                                due_at=NOW + timedelta(days=7), kind=("meeting", "checkin", "closure", "checkin")[x],
                                meeting_id="m-1" if x == 0 else None, reminder=x == 3)


def records_of(steps) -> dict[str, list[ConsumerRecord]]:
    """Each step's record on its event's topic, in the steps' order."""
    made: list[tuple[str, str, bytes]] = []  # (topic, key, value)
    for n, (kind, a, b, x) in enumerate(steps):
        if kind in ("again", "reuse"):
            if not made:
                continue
            topic, key, value = made[a % len(made)]
            if kind == "reuse":  # another event of its kind under the same id: refused for good
                earlier = orjson.loads(value)
                other = type(next(d for d in _kinds() if topic_of(type(d))[1] == earlier["type"]))
                data = next(d for d in _kinds(n) if isinstance(d, other))
                value = new_envelope(type=earlier["type"], source="/test", data=data, time=NOW,
                                     id=earlier["id"]).to_json()
                key = data.key_value()
            made.append((topic, key, value))
            continue
        data = data_of(kind, n, a, b, x)
        topic, event_type = topic_of(type(data))
        made.append((topic, data.key_value(), new_envelope(type=event_type, source="/test", data=data, time=NOW,
                                                           id=f"x-{n}").to_json()))
    by_topic: dict[str, list[ConsumerRecord]] = {}
    for topic, key, value in made:
        records = by_topic.setdefault(topic, [])
        records.append(ConsumerRecord(topic, 0, len(records), 0, 0, key.encode(), value, None, 0, len(value), ()))
    return by_topic


def _kinds(n: int = 0) -> list[ev.EventData]:
    return [data_of("meeting", n, "dana", "chen", 1), data_of("proposed", n, "dana", "chen", 0),
            data_of("reminder", n, "dana", "chen", 2), data_of("feedback", n, "r-ab", "ana", 1)]


async def state(pool) -> dict:
    found = {}
    for table in TABLES:
        rows = [dict(r) for r in await pool.fetch(f"SELECT * FROM notifications.{table}")]
        for row in rows:
            row.pop("created_at", None)
        found[table] = sorted(rows, key=repr)
    found["outbox"] = [tuple(r) for r in await pool.fetch("SELECT topic, key, payload FROM notifications.outbox")]
    found["inbox"] = [tuple(r) for r in await pool.fetch(
        "SELECT topic, event_id, event_type FROM notifications.inbox ORDER BY 1, 2")]
    return found


@contextlib.asynccontextmanager
async def notifications_database(server_url: str):
    pool = await create_pool(await create_database(server_url, "nwaves"), "notifications", size=4)
    try:
        await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
        yield pool
    finally:
        await pool.close()


def transaction(pool, clock):
    return lambda: unit_of_work(pool, source="/tandem/notifications", clock=clock, schema="notifications",
                                cls=NotificationsUnitOfWork)


async def reset(pool, clock: FixedClock) -> None:
    await pool.execute("TRUNCATE notifications.deliveries, notifications.meetings, notifications.proposals, "
                       "notifications.feedback_requests, notifications.pairs, notifications.participants, "
                       "notifications.erased_participants, notifications.inbox, notifications.outbox, "
                       "notifications.dead_lettered")
    async with transaction(pool, clock)() as uow:
        for pid, profile in PEOPLE.items():
            await uow.participants.save(Participant.from_profile(onboarded(pid=pid, name=f"{pid.title()} Example",
                                                                           **profile)))
        await uow.participants.record_choices("gus", Choices(changed_at=NOW, muted=frozenset({"reminders"})))
        await uow.participants.deactivate("finn")
        await uow.participants.erase("eve")
        for rid, (mentor, mentee, active) in PAIRS.items():
            await uow.pairs.add(Pair(relationship_id=rid, program_id="prog-1", mentor_id=mentor, mentee_id=mentee,
                                     established_at=NOW - timedelta(days=30), goals=("public speaking",),
                                     status="active" if active else "ended", ended_at=None if active else NOW))


class Spy:
    """What each wave raised: a wave may fail only where the reference fails too."""

    def __init__(self, monkeypatch) -> None:
        self.waves, self.raised = 0, []
        for handler in (handlers.on_meeting_scheduled, handlers.on_match_proposed, handlers.on_reminder_due,
                        handlers.on_feedback_requested):
            monkeypatch.setattr(handler, "many", self._spied(handler.many))

    def _spied(self, many):
        async def spied(wave, uow, deps):
            self.waves += 1
            try:
                return await many(wave, uow, deps)
            except Exception as exc:
                self.raised.append(exc)
                raise

        return spied


async def apply(pool, by_topic, *, set_wise: bool, batch: int) -> tuple[list[str], list[tuple[str, int, str]]]:
    clock = FixedClock(NOW)
    await reset(pool, clock)
    letters = DeadLetters()
    runtime = Runtime(name="notifications", topic_prefix="", producer=letters,  # type: ignore[arg-type]
                      transaction=transaction(pool, clock), deps=NotificationsDeps(NotificationSettings(),
                                                                                    wake=Wakeup()),
                      limits=Limits(max_attempts=2, max_deferrals=2, backoff=0.001, backoff_max=0.002))
    consumer = Consumer("notifications", SUBSCRIPTIONS, set_wise=set_wise)
    outcomes: list[str] = []
    for topic, records in sorted(by_topic.items()):
        for i in range(0, len(records), batch):
            outcomes += await consumer.dispatch_batch(runtime, topic, records[i:i + batch])
    return outcomes, sorted(letters.letters)


@pytest.fixture
async def databases(database_url):
    async with notifications_database(database_url) as one, notifications_database(database_url) as many:
        yield one, many


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30), batch=st.sampled_from([1, 5, 200]))
# Every kind, everyone: several languages and tones, quiet hours, a chat webhook, muted, left, forgotten.
@example(steps=[("meeting", "bram", "ana", 1), ("meeting", "dana", "chen", 2), ("meeting", "bram", "eve", 0),
                ("meeting", "dana", "gus", 0), ("meeting", "bram", "finn", 1), ("proposed", "dana", "ana", 0),
                ("proposed", "bram", "eve", 0), ("reminder", "gus", "chen", 2), ("reminder", "ana", "eve", 2),
                ("feedback", "r-ab", "ana", 0), ("feedback", "r-dc", "chen", 2), ("feedback", "r-be", "bram", 1),
                ("feedback", "r-dg", "gus", 3)], batch=200)
# Someone not known yet, a relationship not known or not ended, a stranger to the pair, repeats, reused ids.
@example(steps=[("meeting", "bram", "ana", 0), ("meeting", "dana", GHOST, 0), ("again", 0, "", 0),
                ("meeting", "bram", "chen", 2), ("feedback", "r-unknown", "ana", 0), ("feedback", "r-ab", "ana", 2),
                ("feedback", "r-ab", "chen", 0), ("feedback", "r-dx", GHOST, 0), ("feedback", "r-dc", "dana", 1),
                ("reuse", 0, "", 0), ("proposed", "dana", GHOST, 0), ("reminder", "ana", GHOST, 2),
                ("again", 4, "", 0)], batch=200)
@example(steps=[("meeting", "bram", "bram", 1), ("reminder", "ana", "ana", 2), ("proposed", "ana", "ana", 0)],
         batch=5)
async def test_waves_leave_what_one_at_a_time_leaves(databases, monkeypatch, steps, batch):
    one, many = databases
    by_topic = records_of(steps)
    spy = Spy(monkeypatch)
    reference = await apply(one, by_topic, set_wise=False, batch=batch)
    assert spy.waves == 0
    waves = await apply(many, by_topic, set_wise=True, batch=batch)
    assert waves == reference
    assert await state(many) == await state(one)
    unexpected = [exc for exc in spy.raised if not isinstance(exc, NotYetKnown | PermanentError)]
    assert not unexpected, f"a wave failed where the reference did not: {unexpected!r}"


async def test_a_batch_of_meetings_is_one_wave_with_every_message(databases, monkeypatch):
    """The fast path is taken: 12 meetings of 12 relationships are one wave, which writes both people's
    messages (in their languages, one held until the quiet hours end) as one at a time does."""
    one, many = databases
    people = sorted(set(PEOPLE) - {"eve", "finn"})
    steps = [("meeting", people[i % len(people)], people[(i + 1) % len(people)], i % 3) for i in range(12)]
    records = records_of(steps)[topic_of(ev.MeetingScheduled)[0]]
    data = [ev.MeetingScheduled.model_validate(orjson.loads(r.value)["data"]) for r in records]
    assert wave_end([handlers.on_meeting_scheduled] * 12, data, [True] * 12, 0) == 12
    spy = Spy(monkeypatch)
    waves = await apply(many, {records[0].topic: records}, set_wise=True, batch=200)
    assert waves[0] == ["handled"] * 12 and spy.waves == 1 and not spy.raised
    reference = await apply(one, {records[0].topic: records}, set_wise=False, batch=200)
    assert waves == reference and await state(many) == await state(one)
    rows = await many.fetch("SELECT channel, language, not_before, mime FROM notifications.deliveries")
    assert len(rows) == 24 and all(r["mime"] for r in rows if r["channel"] == "email")
    assert any(r["channel"] != "email" for r in rows) and len({r["language"] for r in rows}) >= 4
    assert any(r["not_before"] > NOW for r in rows) and any(r["not_before"] == NOW for r in rows)
