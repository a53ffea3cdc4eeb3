"""Notifications: turns events into messages for people, in their language, tone and channel,
outside their quiet hours, and into alerts and a daily digest for the program team, written to the
delivery log before anything is sent.

Subscriptions (who handles what; `SUBSCRIPTIONS` at the bottom is the source of truth). Handlers only
write the delivery log and wake the delivery loop; the loop sends, at most once, and announces.

| event                                    | handler                                     | changes                                       | emits                         |
|------------------------------------------|---------------------------------------------|-----------------------------------------------|-------------------------------|
| program.configured                       | program_team.on_program_configured          | programs; wakes the digest loop; risk alerts (held ones told); deliveries: ops contacts, the held alerts still at risk | - |
| participant.onboarded/updated/offboarded | shared.replica                              | participants                                  | -                             |
| match.proposed                           | on_match_proposed                           | proposals, waiting mentees (no longer); deliveries: the mentor | -            |
| match.established                        | on_match_established                        | pairs, proposals, waiting mentees (no longer); deliveries: both | -           |
| match.declined / match.expired           | on_proposal_closed                          | proposals (no longer open to answer)          | -                             |
| match.ended                              | on_match_ended                              | pairs; deliveries: both, or the one who stays | -                             |
| relationship.nudge.requested             | on_relationship_nudge_requested             | deliveries: both                              | -                             |
| meeting.scheduled                        | on_meeting_scheduled                        | meetings; deliveries: both, with an invite    | -                             |
| meeting.rescheduled                      | on_meeting_rescheduled                      | meetings; deliveries: both, with an invite, saying who moved it | -           |
| meeting.cancelled                        | on_meeting_cancelled                        | meetings; deliveries: both (or the one who stays), cancelling it | -          |
| meeting.completed / meeting.missed       | on_meeting_over                             | meetings (attendance known: nobody is asked)  | -                             |
| reminder.due                             | on_reminder_due                             | deliveries: each one named                    | -                             |
| feedback.requested                       | on_feedback_requested                       | feedback requests; deliveries: the one asked (meeting, check-in or its reminder, closure) | - |
| relationship.agreement.recorded          | on_agreement_recorded                       | agreements (to fill the other's form)         | -                             |
| relationship.fit.questioned              | on_fit_questioned                           | deliveries: the mentee, offered a new mentor  | -                             |
| milestone.achieved                       | on_milestone_achieved                       | deliveries: both                              | -                             |
| goal.achieved                            | on_goal_achieved                            | deliveries: both, celebrating; digest items   | -                             |
| relationship.meetings.missed             | on_meetings_missed                          | deliveries: both, a kind nudge with ways forward for the pair's state | -     |
| relationship.end.scheduled               | on_end_scheduled                            | deliveries: both, a heads-up                  | -                             |
| relationship.concluded                   | on_relationship_concluded                   | deliveries: both, a summary (and certificate), once there is something to look back on | - |
| relationship.health.changed              | program_team.on_relationship_health_changed | risk alerts (out of at_risk; a held one is dropped) | -                       |
| relationship.at_risk                     | program_team.on_relationship_at_risk        | risk alerts; deliveries: ops contacts, or held until the program has some | - |
| match.unavailable                        | program_team.on_match_unavailable           | digest items, waiting mentees; deliveries: the mentee, once per stretch of waiting (waiting.py); nothing for `already_matched` / `awaiting_answer` | - |
| relationship.unschedulable               | program_team.on_relationship_unschedulable  | digest items                                  | -                             |
| (dead letters, every topic)              | program_team.on_dead_letter                 | digest items                                  | -                             |
| (a delivery falls due)                   | loops.Dispatcher.step                       | deliveries: sent, failed, retried             | notification.delivered/failed |
| (08:00 in a program's zone)              | digests.DigestSchedule.step                 | digests; deliveries: ops contacts             | -                             |
| (a meeting is over, nobody said)         | attendance.AttendanceQuestions.step         | meetings; deliveries: both, "did it happen?"  | -                             |
| (a participant posts a link's page)      | entrypoints/web (service_layer/acts.py)     | link acts                                     | the participant's command (proposal.accepted, ...) |

Set-wise (shared.waves): meeting.scheduled, match.proposed, reminder.due and feedback.requested also
have a form that applies a whole wave of a batch in a few statements (waves.py); the handlers here stay
the reference (tests/services/notifications/service_layer/test_waves_integration.py holds the waves to it).
So does match.unavailable, whose cohort rounds publish tens of thousands (program_team.on_matches_unavailable,
held to its reference by test_unavailable_waves_integration.py).

People must be known here first (`NotYetKnown` until their profile has arrived); people who left
the program get nothing more. A redelivered event finds its deliveries already in the log (their ids
derive from the event's id), so nobody gets a message twice.

How a relationship's end is told (match.ended, by `reason_code`): `ended_on_request` and
`term_completed` to both people, kindly and without the end's own reason (the team's words are not
for the other person); `participant_left` only to the one who stays (the one whose offboarding has
arrived here is the one who left; until it has, the event waits). What the end causes in other
services (meetings cancelled by it, the closing survey, the summary) waits until the end has been
handled here (`_after_the_end`). A nudge for a relationship that
has ended is refused (dead-lettered with the reason): nobody is nudged about a pair that is over,
and the team sees why in their digest.
"""

from __future__ import annotations

from collections.abc import Callable

from services.notifications.adapters.subjects import Agreement, FeedbackRequest, Proposal
from services.notifications.domain import compose, links
from services.notifications.domain.digest import DigestItem
from services.notifications.domain.outgoing import Outgoing
from services.notifications.service_layer import erasure, program_team, waiting, waves
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.enqueue import for_people as _enqueue
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared import replica
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from shared.people import Participant
from shared.subscriptions import handle, on, subscriptions
from shared.waves import set_wise

__all__ = ["SUBSCRIPTIONS", "NotificationsDeps"]


@set_wise(waves.on_matches_proposed, resources=waves.proposal_resources)
async def on_match_proposed(event: ev.MatchProposed, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    await uow.subjects.add_proposal(
        Proposal(event.proposal_id, event.program_id, event.mentor_id, event.mentee_id, event.expires_at, "open")
    )
    await waiting.no_longer_waiting(uow, [event.mentee_id])
    program = await uow.program_settings.get(event.program_id, deps.settings)
    await _enqueue(uow, deps, waves.proposal_message(event, mentor, mentee, program), mentor, mentee)


async def on_proposal_closed(
    event: ev.MatchDeclined | ev.MatchExpired, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """Its page says it is no longer open (matching has the final word on an answer sent late)."""
    await uow.subjects.close_proposal(
        event.proposal_id, "declined" if isinstance(event, ev.MatchDeclined) else "expired"
    )


async def on_match_established(
    event: ev.MatchEstablished, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    await uow.pairs.add(replica.pair_from_event(event))
    await uow.subjects.close_proposal(event.proposal_id, "established")
    await waiting.no_longer_waiting(uow, [event.mentee_id])
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    program = await uow.program_settings.get(event.program_id, deps.settings)
    introductions = compose.match_established(
        event, mentor, mentee, cadence_days=program.cadence_days, duration_minutes=program.duration_minutes
    )
    await _enqueue(uow, deps, introductions, mentor, mentee)


async def on_match_ended(event: ev.MatchEnded, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    await uow.pairs.require(event.relationship_id)  # same topic and key: the start arrives before the end
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    if event.reason_code == "participant_left":
        # Matching names who left; an older event does not, and then it is the one who is inactive here.
        leaver = next((p for p in (mentor, mentee) if p.participant_id == event.leaver_id), None) or next(
            (p for p in (mentor, mentee) if not p.active), None
        )
        if leaver is None or leaver.active:  # their offboarding or erasure travels on participants.v1
            raise NotYetKnown(f"who left relationship {event.relationship_id} is not known here yet")
        remaining = mentee if leaver is mentor else mentor
        role = "mentee" if remaining is mentee else "mentor"
        told = compose.partner_left(remaining, leaver, remaining_role=role)
    else:
        told = compose.match_ended(event, mentor, mentee)
    await uow.pairs.end(event.relationship_id, reason=event.reason, at=event.ended_at)
    await _enqueue(uow, deps, told, mentor, mentee)


async def on_relationship_nudge_requested(
    event: ev.RelationshipNudgeRequested, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    pair = await uow.pairs.require(event.relationship_id)  # the dashboard may be ahead of this replica
    if not pair.active:
        raise PermanentError(f"relationship {event.relationship_id} has ended; only an active pair is nudged")
    mentor, mentee = await uow.participants.require(pair.mentor_id, pair.mentee_id)
    state = await _pair_state(uow, pair.relationship_id, (pair.mentor_id, pair.mentee_id))
    await _enqueue(uow, deps, compose.relationship_nudge(event, mentor, mentee, state), mentor, mentee)


async def _pair_state(uow: NotificationsUnitOfWork, relationship_id: str, people: tuple[str, str]) -> compose.PairState:
    """Their agreement (and who answered their own link to it) and their next planned meeting."""
    agreed = await uow.subjects.agreement(relationship_id)
    subject_kind, action = links.AGREEMENT
    bindings = {pid: links.ActionLink(pid, subject_kind, relationship_id, action, uow.now()).binding for pid in people}
    answered = frozenset([pid for pid, binding in bindings.items() if await uow.subjects.act(binding) is not None])
    meeting = await uow.subjects.next_meeting(relationship_id, uow.now())
    return compose.PairState(
        agreed_by=None if agreed is None else agreed.participant_id,
        answered=answered,
        next_meeting=None if meeting is None else (meeting.meeting_id, meeting.starts_at, meeting.sequence),
    )


@set_wise(waves.on_meetings_scheduled, resources=waves.meeting_resources)
async def on_meeting_scheduled(
    event: ev.MeetingScheduled, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    await uow.subjects.save_meeting(waves.meeting_of(event, event.kind, "planned"))
    await _to_both(event, uow, deps, compose.meeting_scheduled)


async def on_meeting_rescheduled(
    event: ev.MeetingRescheduled, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    known = await uow.subjects.meeting(event.meeting_id)
    await uow.subjects.save_meeting(waves.meeting_of(event, known.kind if known else "recurring", "planned"))
    await _to_both(event, uow, deps, compose.meeting_rescheduled)


async def on_meeting_cancelled(
    event: ev.MeetingCancelled, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    if event.reason_code is not None and event.reason_code.code in _CANCELLED_BY_THE_END:
        await _after_the_end(uow, event.relationship_id)
    known = await uow.subjects.meeting(event.meeting_id)
    await uow.subjects.save_meeting(waves.meeting_of(event, known.kind if known else "recurring", "cancelled"))
    await _to_both(event, uow, deps, compose.meeting_cancelled)


async def on_meeting_over(
    event: ev.MeetingCompleted | ev.MeetingMissed, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """Its attendance is recorded: nobody is asked whether it took place (or asked again)."""
    await uow.subjects.meeting_over(event.meeting_id)


@set_wise(waves.on_reminders_due)
async def on_reminder_due(event: ev.ReminderDue, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    people = await uow.participants.require(*event.participant_ids)
    reminders = compose.reminder_due(event, {p.participant_id: p for p in people})
    await _enqueue(uow, deps, reminders, *people)


@set_wise(waves.on_feedback_requests, resources=waves.request_resources)
async def on_feedback_requested(
    event: ev.FeedbackRequested, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    if event.kind == "closure":
        await _after_the_end(uow, event.relationship_id)
    asked, other = await _member_and_partner(uow, event.relationship_id, event.participant_id)
    await uow.subjects.add_request(
        FeedbackRequest(
            event.request_id, event.relationship_id, event.participant_id, event.kind, event.meeting_id, event.due_at
        )
    )
    await _enqueue(uow, deps, compose.feedback_requested(event, asked, other), asked, other)


async def on_agreement_recorded(
    event: ev.RelationshipAgreementRecorded, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """Kept to fill the other person's form with what was agreed so far (the latest answer stands);
    not kept when either of the pair was forgotten on request (its place, boundaries and goals are
    their words or about them)."""
    if await erasure.on_agreement_of_the_forgotten(uow, event.relationship_id, event.participant_id):
        return
    terms = event.model_dump(mode="json", exclude={"relationship_id", "participant_id", "recorded_at"})
    await uow.subjects.record_agreement(
        Agreement(event.relationship_id, event.participant_id, terms, event.recorded_at)
    )


async def on_fit_questioned(
    event: ev.RelationshipFitQuestioned, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """The mentee is offered a new mentor (the program team hears of it through the at-risk alert)."""
    pair = await uow.pairs.require(event.relationship_id)
    if not pair.active:
        return  # already over: nothing to offer
    await _to_both(event, uow, deps, compose.fit_questioned)


async def on_milestone_achieved(
    event: ev.MilestoneAchieved, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    achiever, other = await _member_and_partner(uow, event.relationship_id, event.participant_id)
    await _enqueue(uow, deps, compose.milestone_achieved(event, achiever, other), achiever, other)


async def on_goal_achieved(event: ev.GoalAchieved, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """Both are congratulated; the program team sees it in their next digest."""
    await _to_both(event, uow, deps, compose.goal_achieved)
    assert uow.cause is not None, "handlers run for a consumed event"
    await uow.digests.add(DigestItem.goal_achieved(uow.cause.id, event, at=uow.now()))


async def on_meetings_missed(
    event: ev.RelationshipMeetingsMissed, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """Ways forward for the pair's state, as the team's nudge offers them, before ending early."""
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    state = await _pair_state(uow, event.relationship_id, (event.mentor_id, event.mentee_id))
    await _enqueue(uow, deps, compose.meetings_missed(event, mentor, mentee, state), mentor, mentee)


async def on_end_scheduled(
    event: ev.RelationshipEndScheduled, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    await _to_both(event, uow, deps, compose.end_scheduled)


async def on_relationship_concluded(
    event: ev.RelationshipConcluded, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """The closing celebration; the certificate names the program, so its settings are read here (a
    program nobody configured has no name but its id, which is not for a certificate: it says Tandem)."""
    await _after_the_end(uow, event.relationship_id)
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    program = await uow.program_settings.get(event.program_id, deps.settings)
    name = program.name if program.configured else "Tandem"
    await _enqueue(uow, deps, compose.relationship_concluded(event, mentor, mentee, program_name=name), mentor, mentee)


# Scheduling's codes for the meetings a relationship's end cancelled (scheduling/domain/cancellations.py).
_CANCELLED_BY_THE_END = {"relationship_ended", "relationship_term_completed"}


async def _after_the_end(uow: NotificationsUnitOfWork, relationship_id: str) -> None:
    """What a relationship's end causes (its cancelled meetings, the closing survey, the summary) comes
    from other services and can arrive first: it waits until the end itself has been handled here. For
    someone leaving, that end waits in turn for their offboarding or erasure, so the one who left gets
    nothing more and the one who stays reads no name that was forgotten."""
    pair = await uow.pairs.require(relationship_id)
    if pair.active:
        raise NotYetKnown(f"the end of relationship {relationship_id} is not known here yet")


async def _to_both(
    event, uow: NotificationsUnitOfWork, deps: NotificationsDeps, compose_for: Callable[..., list[Outgoing]]
) -> None:
    mentor, mentee = await uow.participants.require(event.mentor_id, event.mentee_id)
    await _enqueue(uow, deps, compose_for(event, mentor, mentee), mentor, mentee)


async def _member_and_partner(
    uow: NotificationsUnitOfWork, relationship_id: str, participant_id: str
) -> tuple[Participant, Participant]:
    pair = await uow.pairs.require(relationship_id)
    if not pair.includes(participant_id):
        raise PermanentError(f"{participant_id} is not part of relationship {relationship_id}")
    member, partner = await uow.participants.require(participant_id, pair.other(participant_id))
    return member, partner


SUBSCRIPTIONS = subscriptions(
    replica.PARTICIPANT_SUBSCRIPTIONS,
    on(ev.ParticipantErased, erasure.on_participant_erased),
    on(ev.MatchProposed, on_match_proposed),
    on(ev.MatchEstablished, on_match_established),
    on(ev.MatchEnded, on_match_ended),
    on(ev.MatchDeclined, on_proposal_closed),
    on(ev.MatchExpired, on_proposal_closed),
    handle(ev.RelationshipAgreementRecorded, on_agreement_recorded),
    on(ev.RelationshipFitQuestioned, on_fit_questioned),
    handle(ev.RelationshipNudgeRequested, on_relationship_nudge_requested),
    on(ev.MeetingScheduled, on_meeting_scheduled),
    on(ev.MeetingRescheduled, on_meeting_rescheduled),
    on(ev.MeetingCancelled, on_meeting_cancelled),
    on(ev.MeetingCompleted, on_meeting_over),
    on(ev.MeetingMissed, on_meeting_over),
    on(ev.ReminderDue, on_reminder_due),
    on(ev.FeedbackRequested, on_feedback_requested),
    on(ev.MilestoneAchieved, on_milestone_achieved),
    on(ev.GoalAchieved, on_goal_achieved),
    on(ev.RelationshipMeetingsMissed, on_meetings_missed),
    on(ev.RelationshipEndScheduled, on_end_scheduled),
    on(ev.RelationshipConcluded, on_relationship_concluded),
    program_team.SUBSCRIPTIONS,
)
