"""Scheduling's subscription table (and its series loop) on a fake unit of work: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from services.scheduling.domain import Slot, parse_invite
from services.scheduling.domain.slots import fits_window
from services.scheduling.service_layer.handlers import SUBSCRIPTIONS, SchedulingDeps
from services.scheduling.service_layer.loops import fire_due_reminders, plan_due_series
from services.scheduling.settings import SchedulingSettings
from shared.contracts import events as ev
from shared.contracts.types import Reason
from shared.errors import NotYetKnown, PermanentError
from shared.people import Participant
from tests.services.scheduling.fakes import FakeSchedulingUnitOfWork
from tests.support import fakes
from tests.support.fakes import FixedClock
from tests.support.people import onboarded
from tests.support.people import person as person_dict

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # Monday
SETTINGS = SchedulingSettings()


@pytest.fixture
def deps() -> SchedulingDeps:
    return SchedulingDeps(SETTINGS)


@pytest.fixture
def uow() -> FakeSchedulingUnitOfWork:
    return FakeSchedulingUnitOfWork(FixedClock(NOW))


async def deliver(uow: FakeSchedulingUnitOfWork, deps: SchedulingDeps, data: ev.EventData) -> None:
    """One event in a transaction of its own: the people's locks of an earlier one are gone."""
    uow.locks.people_locked.clear()
    await fakes.deliver(SUBSCRIPTIONS, data, uow, deps)


async def pair_up(uow, deps, rel="rel-1", mentor="mentor-1", mentee="mentee-1", *, mentee_tz="Europe/London",
                  onboard=True) -> ev.MeetingScheduled | None:
    if onboard:
        await deliver(uow, deps, onboarded(pid=mentor, roles=("mentor",), seniority=7, capacity=4))
        await deliver(uow, deps, onboarded(pid=mentee, tz=mentee_tz))
    await deliver(uow, deps, established(rel, mentor, mentee))
    placed = [e for e in uow.of_type(ev.MeetingScheduled) if e.relationship_id == rel]
    return placed[0] if placed else None


def established(rel="rel-1", mentor="mentor-1", mentee="mentee-1") -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rel, proposal_id=f"prop-{rel}", program_id="prog-1", mentee_id=mentee,
                               mentor_id=mentor, established_at=NOW)


def person(uow, pid: str) -> Participant:
    return uow.participants.people[pid]


# --- match.established ---------------------------------------------------------------------------

async def test_a_new_pair_gets_its_kickoff_with_an_invite_and_reminders(uow, deps):
    kickoff = await pair_up(uow, deps)
    assert kickoff.kind == "kickoff" and kickoff.occurrence == 1 and kickoff.sequence == 0
    assert kickoff.start >= NOW + timedelta(hours=48) and kickoff.end - kickoff.start == timedelta(minutes=45)
    for pid in ("mentor-1", "mentee-1"):
        assert fits_window(person(uow, pid), Slot(kickoff.start, kickoff.end))
    invite = parse_invite(kickoff.ics)
    assert (invite.method, invite.sequence, invite.start, invite.end) == ("REQUEST", 0, kickoff.start, kickoff.end)
    assert [(r.minutes_before, r.due_at) for r in uow.pending_reminders()] == [
        (1440, kickoff.start - timedelta(hours=24)), (60, kickoff.start - timedelta(hours=1))]
    series = uow.tables.series["rel-1"]
    assert (series.status, series.planned, series.plan_next_at) == ("active", 1, kickoff.end)
    assert uow.pairs.pairs["rel-1"].mentor_id == "mentor-1"
    assert deps.wake_reminders._event.is_set()

    await deliver(uow, deps, established())  # the same match again: nothing new
    assert len(uow.of_type(ev.MeetingScheduled)) == 1


async def test_a_mentor_with_several_mentees_is_never_double_booked(uow, deps):
    await deliver(uow, deps, onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=4,
                                       start="09:00", end="11:00"))
    for i in range(4):
        await deliver(uow, deps, onboarded(pid=f"mentee-{i}"))
        await deliver(uow, deps, established(f"rel-{i}", "mentor-1", f"mentee-{i}"))
    meetings = sorted((e.start, e.end) for e in uow.of_type(ev.MeetingScheduled))
    assert len(meetings) == 4
    assert all(b[0] >= a[1] + timedelta(minutes=15) for a, b in pairwise(meetings))


async def test_a_pair_that_can_never_meet_is_reported_unschedulable(uow, deps):
    await pair_up(uow, deps, mentee_tz="Pacific/Auckland")
    (found,) = uow.of_type(ev.RelationshipUnschedulable)
    assert "overlap" in found.reason and "Pacific/Auckland" in found.reason
    assert uow.tables.series["rel-1"].status == "unschedulable" and not uow.tables.meetings
    assert uow.emitted == [found]


async def test_a_pair_whose_profiles_have_not_arrived_is_waited_for(uow, deps):
    await deliver(uow, deps, onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
    with pytest.raises(NotYetKnown, match="no profile yet for mentee-1"):
        await deliver(uow, deps, established())


async def test_profile_changes_count_for_meetings_not_yet_placed(uow, deps):
    await deliver(uow, deps, onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=2))
    await deliver(uow, deps, ev.ParticipantUpdated.model_validate(
        person_dict("mentor-1", roles=("mentor",), seniority=7, capacity=2, start="14:00", end="17:00")))
    await deliver(uow, deps, onboarded(pid="mentee-1", tz="Europe/London"))
    kickoff = await pair_up(uow, deps, onboard=False)
    assert kickoff.start.astimezone(person(uow, "mentor-1").zone).hour >= 14  # the afternoon hours count
    await deliver(uow, deps, ev.ParticipantOffboarded(participant_id="mentee-1", program_id="prog-1"))
    assert not person(uow, "mentee-1").active


# --- match.ended -------------------------------------------------------------------------------

async def test_an_ended_relationship_cancels_its_future_meetings_with_cancel_invites(uow, deps):
    kickoff = await pair_up(uow, deps)
    ended = ev.MatchEnded(relationship_id="rel-1", program_id="prog-1", mentee_id="mentee-1", mentor_id="mentor-1",
                          reason="mentee offboarded", ended_at=NOW)
    await deliver(uow, deps, ended)
    (cancelled,) = uow.of_type(ev.MeetingCancelled)
    assert cancelled.meeting_id == kickoff.meeting_id and cancelled.sequence == 1
    assert cancelled.reason == "the mentoring relationship ended: one of you has left the program"
    assert cancelled.reason_code == Reason(code="relationship_ended")  # never the end's own reason
    invite = parse_invite(cancelled.ics)
    assert invite.method == "CANCEL" and invite.status == "CANCELLED" and invite.uid == parse_invite(kickoff.ics).uid
    assert uow.pending_reminders() == [] and uow.tables.meetings[kickoff.meeting_id].status == "cancelled"
    assert uow.tables.series["rel-1"].status == "ended" and uow.pairs.pairs["rel-1"].status == "ended"

    await deliver(uow, deps, ended)  # told twice: nothing new
    assert len(uow.of_type(ev.MeetingCancelled)) == 1


async def test_ending_on_request_cancels_every_future_meeting_and_keeps_the_teams_reason_to_itself(uow, deps):
    kickoff = await pair_up(uow, deps)
    uow.clock.at = kickoff.end
    await deliver(uow, deps, ev.MeetingAttendanceRecorded(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                          recorded_by="mentor-1",
                                                          attendance={"mentor-1": True, "mentee-1": True}))
    await plan_due_series(uow.transaction, deps, uow.clock)
    second = uow.of_type(ev.MeetingScheduled)[1]
    await deliver(uow, deps, ev.MatchEnded(relationship_id="rel-1", program_id="prog-1", mentee_id="mentee-1",
                                           mentor_id="mentor-1", reason="complaint about punctuality",
                                           ended_at=uow.clock.at, reason_code="ended_on_request",
                                           requested_by="ops:sanne"))
    (cancelled,) = uow.of_type(ev.MeetingCancelled)  # the meeting to come; the one held stays as it was
    assert cancelled.meeting_id == second.meeting_id and cancelled.reason == "the mentoring relationship has ended"
    invite = parse_invite(cancelled.ics)
    assert (invite.method, invite.status, invite.uid) == ("CANCEL", "CANCELLED", parse_invite(second.ics).uid)
    assert "punctuality" not in cancelled.ics
    assert uow.tables.meetings[kickoff.meeting_id].status == "completed"
    assert not [r for r in uow.pending_reminders() if r.meeting_id == second.meeting_id]
    assert uow.tables.series["rel-1"].status == "ended"
    uow.clock.advance(days=60)
    await plan_due_series(uow.transaction, deps, uow.clock)
    assert len(uow.of_type(ev.MeetingScheduled)) == 2  # the series planned nothing more


async def test_the_end_of_an_unknown_relationship_is_waited_for(uow, deps):
    with pytest.raises(NotYetKnown, match="relationship rel-9 not established here yet"):
        await deliver(uow, deps, ev.MatchEnded(relationship_id="rel-9", program_id="prog-1", mentee_id="a",
                                               mentor_id="b", reason="x", ended_at=NOW))


# --- meeting.reschedule.requested --------------------------------------------------------------

def reschedule(meeting_id: str, new_start: datetime | None = None, rel="rel-1",
               requested_by: str = "mentee-1") -> ev.MeetingRescheduleRequested:
    return ev.MeetingRescheduleRequested(meeting_id=meeting_id, relationship_id=rel, requested_by=requested_by,
                                         new_start=new_start, reason="travel")


@pytest.mark.parametrize("requested_by", ["mentee-1", "mentor-1", "ops:sanne"])
async def test_a_moved_meeting_says_who_asked_for_the_move(uow, deps, requested_by):
    """So each reader's message can say who moved it: the other person by name, "you", or the team."""
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, reschedule(kickoff.meeting_id, kickoff.start + timedelta(days=1),
                                        requested_by=requested_by))
    (moved,) = uow.of_type(ev.MeetingRescheduled)
    assert moved.requested_by == requested_by


async def test_a_meeting_moves_to_a_given_time_with_new_reminders(uow, deps):
    kickoff = await pair_up(uow, deps)
    new_start = kickoff.start + timedelta(days=1)  # same hour the next working day
    await deliver(uow, deps, reschedule(kickoff.meeting_id, new_start))
    (moved,) = uow.of_type(ev.MeetingRescheduled)
    assert (moved.start, moved.end, moved.previous_start) == (new_start, new_start + timedelta(minutes=45),
                                                              kickoff.start)
    invite = parse_invite(moved.ics)
    assert invite.method == "REQUEST" and invite.sequence == 1 and invite.uid == parse_invite(kickoff.ics).uid
    assert [r.meeting_start for r in uow.pending_reminders()] == [new_start, new_start]
    assert uow.tables.series["rel-1"].plan_next_at == moved.end  # the series goes on after its new end


async def test_a_meeting_moves_to_the_next_good_slot_from_the_day_after(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, reschedule(kickoff.meeting_id))
    (moved,) = uow.of_type(ev.MeetingRescheduled)
    assert moved.start >= kickoff.start + timedelta(days=1) and moved.sequence == 1
    for pid in ("mentor-1", "mentee-1"):
        assert fits_window(person(uow, pid), Slot(moved.start, moved.end))


async def test_a_move_onto_another_meeting_of_the_same_mentor_is_refused(uow, deps):
    first = await pair_up(uow, deps)
    await deliver(uow, deps, onboarded(pid="mentee-2"))
    second = await pair_up(uow, deps, "rel-2", "mentor-1", "mentee-2", onboard=False)
    with pytest.raises(PermanentError, match="^the proposed time clashes with another meeting of mentor-1$"):
        await deliver(uow, deps, reschedule(second.meeting_id, first.start + timedelta(minutes=30), rel="rel-2"))


@pytest.mark.parametrize("new_start, reason", [
    (NOW - timedelta(hours=1), "the proposed new start is in the past"),
    (datetime(2027, 1, 9, 12, tzinfo=UTC), "the proposed time is outside the hours of mentor-1 (Europe/Amsterdam)"),
])
async def test_a_bad_new_time_is_refused_with_ids_only(uow, deps, new_start, reason):
    kickoff = await pair_up(uow, deps)
    with pytest.raises(PermanentError) as refused:
        await deliver(uow, deps, reschedule(kickoff.meeting_id, new_start))
    assert str(refused.value) == reason
    assert "Mentor 1" not in str(refused.value)  # the person's name never goes into a dead letter


async def test_only_a_scheduled_meeting_that_has_not_started_can_move(uow, deps):
    kickoff = await pair_up(uow, deps)
    uow.clock.at = kickoff.start + timedelta(minutes=1)
    with pytest.raises(PermanentError, match="has already started; it cannot be rescheduled"):
        await deliver(uow, deps, reschedule(kickoff.meeting_id))
    uow.clock.at = NOW
    await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                       requested_by="mentor-1"))
    with pytest.raises(PermanentError, match="is cancelled; only a scheduled meeting can move"):
        await deliver(uow, deps, reschedule(kickoff.meeting_id))


# --- meeting.cancel.requested ------------------------------------------------------------------

async def test_a_cancelled_meeting_gets_a_cancel_invite_once(uow, deps):
    kickoff = await pair_up(uow, deps)
    cancel = ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                       requested_by="mentor-1")
    await deliver(uow, deps, cancel)
    await deliver(uow, deps, cancel)
    (cancelled,) = uow.of_type(ev.MeetingCancelled)
    assert cancelled.reason == "cancelled by mentor-1" and parse_invite(cancelled.ics).method == "CANCEL"
    assert cancelled.reason_code == Reason(code="cancelled_by_participant", params={"by": "mentor-1"})
    assert cancelled.sequence == 1 and uow.pending_reminders() == []


async def test_a_cancellation_says_who_asked_with_their_note_for_the_other_to_read(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                       requested_by="mentee-1", reason="  ill  "))
    (cancelled,) = uow.of_type(ev.MeetingCancelled)
    assert cancelled.reason_code == Reason(code="cancelled_by_participant", params={"by": "mentee-1", "note": "ill"})


async def test_a_cancellation_by_the_program_team_names_nobody(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                       requested_by="ops:sanne", reason="venue closed"))
    (cancelled,) = uow.of_type(ev.MeetingCancelled)
    assert cancelled.reason_code == Reason(code="cancelled_by_program_team")


async def test_commands_for_unknown_meetings_are_refused(uow, deps):
    kickoff = await pair_up(uow, deps)
    for command in (
        ev.MeetingCancelRequested(meeting_id="no-such-meeting", relationship_id="rel-1", requested_by="x"),
        ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-2", requested_by="x"),
        reschedule("no-such-meeting"),
    ):
        with pytest.raises(PermanentError, match=f"^no meeting {command.meeting_id} in relationship "
                                                 f"{command.relationship_id}$"):
            await deliver(uow, deps, command)


async def test_a_participants_reason_code_goes_with_the_cancellation_for_each_reader_to_word(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                       requested_by="mentee-1", reason="flu", reason_code="unwell"))
    (cancelled,) = uow.of_type(ev.MeetingCancelled)
    assert cancelled.reason_code == Reason(code="cancelled_by_participant",
                                           params={"by": "mentee-1", "note": "flu", "why": "unwell"})
    assert cancelled.reason == "flu"


# --- alternatives, place and organizer ---------------------------------------------------------

VIDEO = ev.ProgramConfigured(program_id="prog-1", name="Pilot", organizer_email="mentoring@example.com",
                             video_link_template="https://meet.jit.si/tandem-{meeting_id}")


def free_for_both(uow, start: datetime, minutes: int, *, not_onto: list[ev.MeetingScheduled]) -> bool:
    slot = Slot(start, start + timedelta(minutes=minutes))
    buffer = timedelta(minutes=SETTINGS.buffer_minutes)
    return (all(fits_window(person(uow, pid), slot) for pid in ("mentor-1", "mentee-1"))
            and all(slot.end + buffer <= m.start or m.end + buffer <= slot.start for m in not_onto))


async def test_a_placed_meeting_offers_other_times_on_other_days_with_its_video_link_and_organizer(uow, deps):
    await deliver(uow, deps, VIDEO)
    kickoff = await pair_up(uow, deps)
    assert 3 <= len(kickoff.alternatives) <= 5
    assert len({a.date() for a in kickoff.alternatives}) == len(kickoff.alternatives)  # other days
    for start in kickoff.alternatives:
        assert start > kickoff.start and start >= NOW + timedelta(hours=48)
        assert free_for_both(uow, start, 45, not_onto=[kickoff])
    assert (kickoff.place, kickoff.location) == ("video", f"https://meet.jit.si/tandem-{kickoff.meeting_id}")
    invite = parse_invite(kickoff.ics)
    assert invite.organizer == "mentoring@example.com" and invite.location == kickoff.location
    assert "Replies to this invitation are not read" in invite.description
    assert uow.tables.meetings[kickoff.meeting_id].offered == tuple(kickoff.alternatives)
    # Its cancellation comes from the same organizer, at the same place.
    await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                       requested_by="mentor-1"))
    cancel = parse_invite(uow.of_type(ev.MeetingCancelled)[0].ics)
    assert (cancel.organizer, cancel.location) == ("mentoring@example.com", kickoff.location)


async def test_without_a_video_link_a_meeting_names_no_place_and_tandem_organizes(uow, deps):
    kickoff = await pair_up(uow, deps)
    assert (kickoff.place, kickoff.location) == (None, None) and len(kickoff.alternatives) == 5
    assert parse_invite(kickoff.ics).organizer == "scheduling@tandem.example"


async def test_offered_times_avoid_the_mentors_other_meetings(uow, deps):
    await deliver(uow, deps, onboarded(pid="mentor-1", roles=("mentor",), seniority=7, capacity=4,
                                       start="09:00", end="11:00"))
    placed: list[ev.MeetingScheduled] = []
    for i in range(4):
        await deliver(uow, deps, onboarded(pid=f"mentee-{i}"))
        await deliver(uow, deps, established(f"rel-{i}", "mentor-1", f"mentee-{i}"))
        meeting = uow.of_type(ev.MeetingScheduled)[-1]
        assert len(meeting.alternatives) >= 3
        for start in meeting.alternatives:  # clear of every meeting the mentor had when they were offered
            end, buffer = start + timedelta(minutes=45), timedelta(minutes=15)
            assert all(end + buffer <= m.start or m.end + buffer <= start for m in [*placed, meeting])
        placed.append(meeting)


async def test_an_offered_time_is_taken_when_still_free_and_new_ones_are_offered(uow, deps):
    kickoff = await pair_up(uow, deps)
    chosen = kickoff.alternatives[2]
    await deliver(uow, deps, reschedule(kickoff.meeting_id, chosen))
    (moved,) = uow.of_type(ev.MeetingRescheduled)
    assert (moved.start, moved.end, moved.previous_start) == (chosen, chosen + timedelta(minutes=45), kickoff.start)
    assert 3 <= len(moved.alternatives) <= 5 and all(a > moved.start for a in moved.alternatives)
    assert all(free_for_both(uow, a, 45, not_onto=[moved]) for a in moved.alternatives)
    assert uow.tables.meetings[kickoff.meeting_id].offered == tuple(moved.alternatives)


async def test_an_offered_time_taken_since_is_refused_and_nothing_changes(uow, deps):
    first = await pair_up(uow, deps)
    offered = first.alternatives[0]
    await deliver(uow, deps, onboarded(pid="mentee-2"))
    second = await pair_up(uow, deps, "rel-2", "mentor-1", "mentee-2", onboard=False)
    await deliver(uow, deps, reschedule(second.meeting_id, offered, rel="rel-2"))  # the mentor's other mentee got it
    with pytest.raises(PermanentError, match=r"^the proposed time clashes with another meeting of mentor-1 "
                                             r"\(offered with the meeting, and no longer possible\)$"):
        await deliver(uow, deps, reschedule(first.meeting_id, offered))
    stored = uow.tables.meetings[first.meeting_id]
    assert (stored.start, stored.sequence, stored.offered) == (first.start, 0, tuple(first.alternatives))
    assert [m.meeting_id for m in uow.of_type(ev.MeetingRescheduled)] == [second.meeting_id]


async def test_an_offered_time_outside_hours_changed_since_is_refused(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, ev.ParticipantUpdated.model_validate(
        person_dict("mentee-1", tz="Europe/London", start="06:00", end="07:00")))
    with pytest.raises(PermanentError, match=r"^the proposed time is outside the hours of mentee-1 \(Europe/London\) "
                                             r"\(offered with the meeting, and no longer possible\)$"):
        await deliver(uow, deps, reschedule(kickoff.meeting_id, kickoff.alternatives[-1]))
    assert not uow.of_type(ev.MeetingRescheduled)


# --- relationship.agreement.recorded -----------------------------------------------------------

def agreement(rel="rel-1", by="mentee-1", at=NOW, **changes) -> ev.RelationshipAgreementRecorded:
    return ev.RelationshipAgreementRecorded.model_validate(
        {"relationship_id": rel, "participant_id": by, "cadence_days": 14, "duration_minutes": 45, "place": "video",
         "response_time_hours": 48, "goals": ["public speaking"], "recorded_at": at} | changes)


async def next_meeting(uow, deps, after: ev.MeetingScheduled) -> ev.MeetingScheduled:
    uow.clock.at = after.end
    await plan_due_series(uow.transaction, deps, uow.clock)
    return uow.of_type(ev.MeetingScheduled)[-1]


async def test_the_agreement_sets_the_length_cadence_and_place_of_the_following_meetings(uow, deps):
    await deliver(uow, deps, VIDEO)
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, agreement(cadence_days=21, duration_minutes=60, place="in_person",
                                       place_details="Room 4.12, Amsterdam office"))
    assert uow.of_type(ev.MeetingScheduled) == [kickoff] and not uow.of_type(ev.MeetingRescheduled)  # placed: kept
    second = await next_meeting(uow, deps, kickoff)
    assert second.occurrence == 2 and second.end - second.start == timedelta(minutes=60)
    assert second.start == kickoff.start + timedelta(days=21)  # the same time of day, three weeks on
    assert (second.place, second.location) == ("in_person", "Room 4.12, Amsterdam office")
    invite = parse_invite(second.ics)
    assert invite.location == "Room 4.12, Amsterdam office" and invite.end - invite.start == timedelta(minutes=60)
    assert all(free_for_both(uow, a, 60, not_onto=[second]) for a in second.alternatives)
    # Moved, it keeps its length and place.
    await deliver(uow, deps, reschedule(second.meeting_id, second.alternatives[0]))
    (moved,) = uow.of_type(ev.MeetingRescheduled)
    assert moved.end - moved.start == timedelta(minutes=60) and moved.location == second.location


@pytest.mark.parametrize("place, details, expected", [
    ("video", None, ("video", "https://meet.jit.si/tandem-{}")),
    ("phone", "+31 20 555 0100", ("phone", "+31 20 555 0100")),
    ("phone", None, ("phone", None)),
])
async def test_the_agreements_place(uow, deps, place, details, expected):
    await deliver(uow, deps, VIDEO)
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, agreement(place=place, place_details=details))
    second = await next_meeting(uow, deps, kickoff)
    assert (second.place, second.location) == (expected[0], expected[1] and expected[1].format(second.meeting_id))


async def test_the_agreement_is_held_to_the_programs_bounds(uow, deps):
    await deliver(uow, deps, ev.ProgramConfigured(program_id="prog-1", name="Pilot", cadence_days_max=21,
                                                  duration_minutes_min=30, duration_minutes_max=60))
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, agreement(cadence_days=60, duration_minutes=120))
    second = await next_meeting(uow, deps, kickoff)
    assert second.end - second.start == timedelta(minutes=60) and second.start == kickoff.start + timedelta(days=21)


async def test_a_new_cadence_counts_from_the_latest_meeting(uow, deps):
    kickoff = await pair_up(uow, deps)
    second = await next_meeting(uow, deps, kickoff)
    assert second.start == kickoff.start + timedelta(days=14)
    await deliver(uow, deps, agreement(cadence_days=7))
    third = await next_meeting(uow, deps, second)
    assert third.start == second.start + timedelta(days=7)  # not kickoff + 2 x 7 (that is the second's day)
    fourth = await next_meeting(uow, deps, third)
    assert fourth.start == second.start + timedelta(days=14)


async def test_the_latest_agreement_stands_and_an_older_one_arriving_later_is_ignored(uow, deps):
    await pair_up(uow, deps)
    await deliver(uow, deps, agreement(by="mentee-1", at=NOW + timedelta(hours=2), duration_minutes=60))
    await deliver(uow, deps, agreement(by="mentor-1", at=NOW + timedelta(hours=1), duration_minutes=30))
    stored = uow.tables.agreements["rel-1"]
    assert (stored.recorded_by, stored.duration_minutes) == ("mentee-1", 60)
    await deliver(uow, deps, agreement(by="mentor-1", at=NOW + timedelta(hours=3), duration_minutes=30))
    stored = uow.tables.agreements["rel-1"]
    assert (stored.recorded_by, stored.duration_minutes) == ("mentor-1", 30)
    assert uow.emitted == uow.of_type(ev.MeetingScheduled)  # an agreement announces nothing itself


async def test_an_agreement_for_an_unknown_pair_waits_and_for_an_ended_one_is_ignored(uow, deps):
    with pytest.raises(NotYetKnown, match="relationship rel-1 not established here yet"):
        await deliver(uow, deps, agreement())
    await pair_up(uow, deps)
    await deliver(uow, deps, ev.MatchEnded(relationship_id="rel-1", program_id="prog-1", mentee_id="mentee-1",
                                           mentor_id="mentor-1", reason="done", ended_at=NOW))
    await deliver(uow, deps, agreement(duration_minutes=60))
    assert "rel-1" not in uow.tables.agreements


async def test_a_forgotten_persons_meeting_places_are_dropped(uow, deps):
    kickoff = await pair_up(uow, deps)
    await deliver(uow, deps, agreement(place="in_person", place_details="Keizersgracht 1"))
    second = await next_meeting(uow, deps, kickoff)
    assert second.location == "Keizersgracht 1"
    await deliver(uow, deps, ev.ParticipantErased(participant_id="mentee-1", program_id="prog-1",
                                                  requested_at=uow.clock.at))
    assert uow.tables.agreements["rel-1"].place_details is None
    assert uow.tables.meetings[second.meeting_id].location is None


# --- meeting.attendance.recorded ---------------------------------------------------------------

def attendance(meeting_id: str, **present: bool) -> ev.MeetingAttendanceRecorded:
    return ev.MeetingAttendanceRecorded(meeting_id=meeting_id, relationship_id="rel-1", recorded_by="mentor-1",
                                        attendance={k.replace("_", "-"): v for k, v in present.items()})


async def test_attendance_completes_a_meeting_once(uow, deps):
    kickoff = await pair_up(uow, deps)
    uow.clock.at = kickoff.end
    await deliver(uow, deps, attendance(kickoff.meeting_id, mentor_1=True, mentee_1=True))
    await deliver(uow, deps, attendance(kickoff.meeting_id, mentor_1=True, mentee_1=True))
    (completed,) = uow.of_type(ev.MeetingCompleted)
    assert (completed.meeting_id, completed.start, completed.occurrence) == (kickoff.meeting_id, kickoff.start, 1)
    assert uow.tables.meetings[kickoff.meeting_id].status == "completed"
    with pytest.raises(PermanentError, match="is completed; it cannot be cancelled"):
        await deliver(uow, deps, ev.MeetingCancelRequested(meeting_id=kickoff.meeting_id, relationship_id="rel-1",
                                                           requested_by="mentor-1"))


async def test_attendance_with_someone_absent_is_a_missed_meeting(uow, deps):
    kickoff = await pair_up(uow, deps)
    uow.clock.at = kickoff.end
    await deliver(uow, deps, attendance(kickoff.meeting_id, mentor_1=True))
    (missed,) = uow.of_type(ev.MeetingMissed)
    assert missed.absent == ["mentee-1"] and uow.tables.meetings[kickoff.meeting_id].reason == "absent: mentee-1"


async def test_bad_attendance_is_refused(uow, deps):
    kickoff = await pair_up(uow, deps)
    with pytest.raises(PermanentError, match=f"^meeting {kickoff.meeting_id} has not started yet$"):
        await deliver(uow, deps, attendance(kickoff.meeting_id, mentor_1=True))
    uow.clock.at = kickoff.end
    with pytest.raises(PermanentError, match="^carl not part of relationship rel-1$"):
        await deliver(uow, deps, attendance(kickoff.meeting_id, mentor_1=True, carl=True))
    assert not uow.of_type(ev.MeetingCompleted) and not uow.of_type(ev.MeetingMissed)


# --- the loops -----------------------------------------------------------------------------------

async def test_the_series_goes_on_once_the_latest_meeting_is_over(uow, deps):
    kickoff = await pair_up(uow, deps)
    await plan_due_series(uow.transaction, deps, uow.clock)
    assert len(uow.of_type(ev.MeetingScheduled)) == 1  # not over yet
    uow.clock.at = kickoff.end
    passed = await plan_due_series(uow.transaction, deps, uow.clock)
    second = uow.of_type(ev.MeetingScheduled)[1]
    assert second.occurrence == 2 and second.kind == "recurring"
    assert abs(second.start - (kickoff.start + timedelta(days=14))) <= timedelta(days=3)
    assert passed.due_in == (second.end - uow.clock.at).total_seconds()
    assert uow.tables.series["rel-1"].planned == 2


async def test_the_series_stops_after_its_last_occurrence(uow):
    deps = SchedulingDeps(SchedulingSettings(series_occurrences=2))
    await pair_up(uow, deps)
    for _ in range(3):
        uow.clock.advance(days=30)
        await plan_due_series(uow.transaction, deps, uow.clock)
    assert [e.occurrence for e in uow.of_type(ev.MeetingScheduled)] == [1, 2]
    assert uow.tables.series["rel-1"].plan_next_at is None


async def test_due_reminders_fire_once_and_late_ones_are_dropped(uow, deps):
    kickoff = await pair_up(uow, deps)
    uow.clock.at = kickoff.start - timedelta(hours=2)  # the day-before reminder is due
    passed = await fire_due_reminders(uow.transaction, deps, uow.clock)
    (due,) = uow.of_type(ev.ReminderDue)
    assert due.minutes_before == 1440 and due.participant_ids == ["mentor-1", "mentee-1"]
    assert passed.due_in == 3600
    uow.clock.at = kickoff.start + timedelta(minutes=5)  # too late for the hour-before one
    await fire_due_reminders(uow.transaction, deps, uow.clock)
    assert len(uow.of_type(ev.ReminderDue)) == 1
    assert sorted(r.status for r in uow.tables.reminders.values()) == ["fired", "late"]
