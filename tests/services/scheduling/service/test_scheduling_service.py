"""Scheduling as a service, on a real PostgreSQL and Apache Kafka, with a fast program clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduling.domain import parse_invite
from services.scheduling.entrypoints.app import build_service
from services.scheduling.settings import SchedulingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # Monday


@pytest.fixture
def make_settings(database_url, bootstrap_servers, topic_prefix):
    def make(**overrides) -> SchedulingSettings:
        return settings_for(SchedulingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, **overrides)
    return make


def established(rel="rel-1", mentor="mentor-1", mentee="mentee-1") -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rel, proposal_id=f"prop-{rel}", program_id="prog-1", mentee_id=mentee,
                               mentor_id=mentor, established_at=START)


def local(moment: str, tz: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(tz))


async def test_kickoff_lands_in_both_peoples_hours_with_invite_and_reminders(make_settings, bootstrap_servers, topic_prefix):
    settings = make_settings(clock_speed=1.0)
    watched = [topics.MEETINGS, topics.REMINDERS]
    async with build_service(settings).running(), Watcher(bootstrap_servers, watched, topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), tz="Europe/Amsterdam", seniority=7, capacity=2))
        await pub.publish(onboarded(pid="mentee-1", tz="America/Sao_Paulo", start="08:00", end="16:00"))
        await pub.publish(established())
        scheduled = (await out.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
    start, end = datetime.fromisoformat(scheduled["start"]), datetime.fromisoformat(scheduled["end"])
    assert start >= START + timedelta(hours=48) and end - start == timedelta(minutes=45)
    for tz, open_, close in (("Europe/Amsterdam", 9, 17), ("America/Sao_Paulo", 8, 16)):
        assert open_ <= local(scheduled["start"], tz).hour and (local(scheduled["end"], tz).hour, local(scheduled["end"], tz).minute) <= (close, 0)
    invite = parse_invite(scheduled["ics"])
    assert invite.method == "REQUEST" and invite.sequence == 0 and invite.start == start and invite.end == end
    reminders = await fetch(settings.database_url, "SELECT minutes_before, due_at, status FROM scheduling.reminders ORDER BY due_at")
    assert [(r["minutes_before"], r["due_at"], r["status"]) for r in reminders] == [
        (1440, start - timedelta(hours=24), "pending"), (60, start - timedelta(hours=1), "pending")]
    # Both people are booked for it, and the series goes on once it is over.
    booked = await fetch(settings.database_url, "SELECT participant_id, lower(during) AS s, upper(during) AS e "
                                                "FROM scheduling.bookings ORDER BY participant_id")
    assert [(b["participant_id"], b["s"], b["e"]) for b in booked] == [("mentee-1", start, end), ("mentor-1", start, end)]
    (series,) = await fetch(settings.database_url, "SELECT status, planned, plan_next_at FROM scheduling.series")
    assert (series["status"], series["planned"], series["plan_next_at"]) == ("active", 1, end)


async def test_reminders_fire_once_before_the_meeting_then_the_series_goes_on_as_the_pair_agreed(
        make_settings, bootstrap_servers, topic_prefix):
    settings = make_settings(clock_speed=20_000.0)  # 5.5 program hours a second
    async with build_service(settings).running() as service, \
            Watcher(bootstrap_servers, [topics.MEETINGS, topics.REMINDERS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
        await pub.publish(onboarded(pid="mentee-1", tz="Europe/London"))
        await pub.publish(established())
        kickoff = (await out.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
        # The pair agree on hour-long calls: the meetings planned from now on take an hour.
        await pub.publish(ev.RelationshipAgreementRecorded(
            relationship_id="rel-1", participant_id="mentee-1", cadence_days=14, duration_minutes=60, place="phone",
            place_details="+44 20 7946 0000", response_time_hours=48, recorded_at=START))
        await eventually(lambda: fetch(settings.database_url, "SELECT 1 FROM scheduling.agreements"), 30,
                         "the agreement kept")
        await out.wait_for(lambda w: len(w.of_type("reminder.due")) >= 2, 60, "both reminders")
        await service.clock.sleep_until(datetime.fromisoformat(kickoff["end"]))
        # The meeting is held; the portal records it.
        await pub.publish(ev.MeetingAttendanceRecorded(meeting_id=kickoff["meeting_id"], relationship_id="rel-1",
                                                       recorded_by="mentor-1",
                                                       attendance={"mentor-1": True, "mentee-1": True}))
        await out.wait_for(lambda w: w.of_type("meeting.completed"), 30, "completion")
        second = (await out.wait_for(
            lambda w: [o for o in w.of_type("meeting.scheduled") if o.data["occurrence"] == 2], 30, "occurrence 2"))[0].data
        # One of them takes another time offered with it (the link in their mail).
        chosen = second["alternatives"][1]
        await pub.publish(ev.MeetingRescheduleRequested(meeting_id=second["meeting_id"], relationship_id="rel-1",
                                                        requested_by="mentee-1", new_start=chosen))
        moved = (await out.wait_for(lambda w: w.of_type("meeting.rescheduled"), 30, "the move to an offered time"))[0].data
    assert datetime.fromisoformat(kickoff["end"]) - datetime.fromisoformat(kickoff["start"]) == timedelta(minutes=45)
    assert datetime.fromisoformat(second["end"]) - datetime.fromisoformat(second["start"]) == timedelta(minutes=60)
    assert (second["place"], second["location"]) == ("phone", "+44 20 7946 0000")
    assert 3 <= len(second["alternatives"]) <= 5
    assert (moved["meeting_id"], moved["start"], moved["previous_start"]) == (second["meeting_id"], chosen, second["start"])
    assert datetime.fromisoformat(moved["end"]) - datetime.fromisoformat(chosen) == timedelta(minutes=60)
    assert parse_invite(moved["ics"]).sequence == 1 and moved["location"] == "+44 20 7946 0000"
    due = [r for r in out.of_type("reminder.due") if r.data["meeting_id"] == kickoff["meeting_id"]]
    assert sorted(r.data["minutes_before"] for r in due) == [60, 1440]
    assert all(r.data["participant_ids"] == ["mentor-1", "mentee-1"] for r in due)
    assert len({r.envelope["id"] for r in due}) == 2
    kickoff_start = datetime.fromisoformat(kickoff["start"])
    assert abs(datetime.fromisoformat(second["start"]) - (kickoff_start + timedelta(days=14))) <= timedelta(days=3)
    assert second["kind"] == "recurring"
    fired = await fetch(settings.database_url, "SELECT status, fired_at, meeting_start FROM scheduling.reminders "
                                               "WHERE status IN ('fired', 'late')")
    assert all(r["status"] == "fired" and r["fired_at"] < r["meeting_start"] for r in fired)


async def test_reschedule_and_cancel_update_invites_and_reminders(make_settings, bootstrap_servers, topic_prefix):
    settings = make_settings(clock_speed=1.0)
    async with build_service(settings).running(), Watcher(bootstrap_servers, [topics.MEETINGS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
        await pub.publish(onboarded(pid="mentee-1"))
        await pub.publish(established())
        kickoff = (await out.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
        await pub.publish(ev.MeetingRescheduleRequested(meeting_id=kickoff["meeting_id"], relationship_id="rel-1",
                                                        requested_by="mentee-1", reason="travel"))
        moved = (await out.wait_for(lambda w: w.of_type("meeting.rescheduled"), 30, "the reschedule"))[0].data
        await pub.publish(ev.MeetingCancelRequested(meeting_id=kickoff["meeting_id"], relationship_id="rel-1",
                                                    requested_by="mentor-1", reason="illness"))
        cancelled = (await out.wait_for(lambda w: w.of_type("meeting.cancelled"), 30, "the cancellation"))[0].data
    assert datetime.fromisoformat(moved["start"]) >= datetime.fromisoformat(kickoff["start"]) + timedelta(days=1)
    assert moved["previous_start"] == kickoff["start"]
    assert parse_invite(moved["ics"]).sequence == 1 and parse_invite(moved["ics"]).uid == parse_invite(kickoff["ics"]).uid
    cancel = parse_invite(cancelled["ics"])
    assert cancel.method == "CANCEL" and cancel.sequence == 2 and cancel.uid == parse_invite(kickoff["ics"]).uid
    rows = await fetch(settings.database_url, "SELECT status, meeting_start FROM scheduling.reminders ORDER BY status")
    assert {r["status"] for r in rows} == {"cancelled"}
    assert {r["meeting_start"] for r in rows} == {datetime.fromisoformat(kickoff["start"]), datetime.fromisoformat(moved["start"])}


async def test_a_relationship_the_team_ends_has_its_meetings_cancelled_with_cancel_invites(make_settings,
                                                                                           bootstrap_servers,
                                                                                           topic_prefix):
    settings = make_settings(clock_speed=1.0)
    async with build_service(settings).running(), Watcher(bootstrap_servers, [topics.MEETINGS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
        await pub.publish(onboarded(pid="mentee-1"))
        await pub.publish(established())
        kickoff = (await out.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
        await pub.publish(ev.MatchEnded(relationship_id="rel-1", program_id="prog-1", mentee_id="mentee-1",
                                        mentor_id="mentor-1", reason="the team's own words", ended_at=START,
                                        reason_code="ended_on_request", requested_by="ops:sanne"))
        cancelled = (await out.wait_for(lambda w: w.of_type("meeting.cancelled"), 30, "the cancellation"))[0].data
    cancel = parse_invite(cancelled["ics"])
    assert (cancel.method, cancel.status, cancel.sequence) == ("CANCEL", "CANCELLED", 1)
    assert cancel.uid == parse_invite(kickoff["ics"]).uid and "own words" not in cancelled["ics"]
    assert cancelled["reason"] == "the mentoring relationship has ended"
    rows = await fetch(settings.database_url, "SELECT status FROM scheduling.reminders")
    assert {r["status"] for r in rows} == {"cancelled"}
    (series,) = await fetch(settings.database_url, "SELECT status FROM scheduling.series")
    assert series["status"] == "ended"


async def test_a_pair_that_can_never_meet_is_reported(make_settings, bootstrap_servers, topic_prefix):
    settings = make_settings(clock_speed=1.0)
    async with build_service(settings).running(), Watcher(bootstrap_servers, [topics.MEETINGS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2, tz="Europe/Amsterdam"))
        await pub.publish(onboarded(pid="mentee-1", tz="Pacific/Auckland"))
        await pub.publish(established())
        found = (await out.wait_for(lambda w: w.of_type("relationship.unschedulable"), 30, "unschedulable"))[0].data
    assert "overlap" in found["reason"] and "Pacific/Auckland" in found["reason"]


async def test_bad_commands_are_dead_lettered_with_the_reason(make_settings, bootstrap_servers, topic_prefix):
    settings = make_settings(clock_speed=1.0)
    dlq = topics.dlq(topics.MEETING_COMMANDS)
    async with build_service(settings).running(), \
            Watcher(bootstrap_servers, [topics.MEETINGS, dlq, topics.dlq(topics.MATCHES)], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
        await pub.publish(onboarded(pid="mentee-1"))
        await pub.publish(established())
        kickoff = (await out.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
        await pub.publish(ev.MeetingCancelRequested(meeting_id="no-such-meeting", relationship_id="rel-1", requested_by="x"))
        await pub.publish(ev.MeetingAttendanceRecorded(meeting_id=kickoff["meeting_id"], relationship_id="rel-1",
                                                       recorded_by="mentor-1", attendance={"mentor-1": True}))
        await pub.send_raw(topics.MATCHES, b'{"specversion": "1.0"}', key="rel-1")
        await out.wait_for(lambda w: len(w.on_topic(dlq)) >= 2 and w.on_topic(topics.dlq(topics.MATCHES)), 30, "dead letters")
    reasons = [o.headers["dlq.error"] for o in out.on_topic(dlq)]
    assert reasons == ["no meeting no-such-meeting in relationship rel-1",
                       f"meeting {kickoff['meeting_id']} has not started yet"]
    assert out.on_topic(topics.dlq(topics.MATCHES))[0].headers["dlq.error"].startswith("not a CloudEvents 1.0 envelope")
