"""Feedback: asks both people for feedback after each meeting, at check-ins and at the end, keeps
what they say and the progress on their goals, tracks each relationship's health, raises at-risk
alerts, nudges a pair whose meetings keep not happening, and celebrates milestones, goals achieved
and what a relationship achieved when it ends (service_layer/lifecycle.py).

It also keeps the program team's read model (adapters/analytics.py): every fact below lands in
feedback's own tables, keyed by its own id, and the KPIs are aggregated from them when read.

Subscriptions (who handles what; `SUBSCRIPTIONS` at the bottom is the source of truth):

| event                                   | handler                  | changes                                   | emits                                                    |
|-----------------------------------------|--------------------------|-------------------------------------------|----------------------------------------------------------|
| program.configured                      | lifecycle.on_program_configured | programs, checkin_schedule (next check-in planned again) | -                                    |
| participant.onboarded                   | on_participant_onboarded | participants, analytics_onboardings       | -                                                        |
| participant.updated/offboarded          | shared.replica           | participants                              | -                                                        |
| match.proposed                          | on_match_proposed        | analytics_proposals                       | -                                                        |
| match.declined / match.expired          | on_match_declined/expired| analytics_proposals                       | -                                                        |
| match.established                       | on_match_established     | pairs, checkin_schedule, analytics_proposals | -                                                     |
| match.ended                             | lifecycle.on_match_ended | pairs, requests, conclusions              | feedback.requested (closure, both), relationship.concluded |
| meeting.scheduled/rescheduled/cancelled | on_meeting_placed        | analytics_meetings                        | -                                                        |
| meeting.completed                       | on_meeting_completed     | meeting_outcomes, requests, health, analytics_meetings, health_changes | feedback.requested (to whoever has not answered yet), relationship.health.changed/at_risk |
| meeting.missed                          | on_meeting_missed        | meeting_outcomes, missed_streaks, health, analytics_meetings, health_changes | relationship.meetings.missed (once per streak), relationship.health.changed/at_risk |
| meeting.unplaceable                     | on_meeting_unplaceable   | analytics_unplaceable                     | -                                                        |
| relationship.unschedulable              | on_relationship_unschedulable | analytics_unplaceable (occurrence 0) | -                                                        |
| feedback.submitted                      | on_feedback_submitted    | feedback, requests, milestones, goal_progress, fit_questions, health, health_changes | milestone.achieved, goal.achieved, relationship.fit.questioned (Fit, below), relationship.health.changed/at_risk |
| goal.progress.recorded                  | lifecycle.on_goal_progress_recorded | goal_progress, health, health_changes | goal.achieved (once per goal), relationship.health.changed/at_risk |
| relationship.agreement.recorded         | on_relationship_agreement_recorded | agreed_goals, health, health_changes | relationship.health.changed/at_risk |
| notification.delivered / failed         | on_notification_delivered/failed | analytics_notifications           | -                                                        |
| every `<topic>.dlq` (DeadLetters)       | on_dead_letter           | analytics_dead_letters                    | -                                                        |
| (a check-in falls due; loop)            | checkins.checkin_pass    | checkin_schedule, requests, health        | feedback.requested (checkin; once more with `reminder`), relationship.health.changed/at_risk |

Set-wise (shared.waves): participant.onboarded, match.proposed/declined/expired, match.established,
meeting.scheduled/rescheduled/cancelled, meeting.completed/missed, feedback.submitted,
goal.progress.recorded and notification.delivered/failed also have a form that applies a whole wave of a batch (each relationship,
meeting, proposal, answer and request once) with a few statements in all: the same rows, and the same
events in the same order, as the one-event handlers, which stay the reference
(tests/services/feedback/service_layer/test_waves_integration.py holds them to it).

Refused (dead-lettered with the reason; ids and goal terms only): an answer or progress from
someone outside the pair; progress on a goal the relationship does not have (0-100 is the
schema's); a check-in answer once the relationship has ended (closure answers, and late answers
about a meeting, are still taken); an answer naming a request that is unknown, was sent to someone
else or asks for another kind of answer. Once a relationship has ended its health stays as it was;
progress, milestones and closure answers that come after the end are still recorded and celebrated,
but the summary (`relationship.concluded`) was told at the end.

Erasure: an answer by or about someone forgotten on request (either of the pair has a tombstone,
shared/replica.py) is kept without its comment, as their earlier comments were dropped at the
erasure (service_layer/erasure.py): the rating and progress still count.

Fit: an answer with `fit` "not_good" tells relationship.fit.questioned (the program team hears of it,
the mentee is offered a new mentor), once per relationship and person, and puts the relationship at
risk (health reason `not_a_good_fit`, domain/health.py) until that person answers "good" ("unsure"
changes nothing). Not for a relationship that has ended.

Goals: the relationship's goals are the mentee's at match.established until the mentee's mentoring
agreement (relationship.agreement.recorded) names goals: from then on those, in the mentee's order,
for progress, milestones, health, the program team's views and the summary at the end. Progress
already recorded on a goal of the same text stays. The mentor's answer (without goals), an
agreement without goals, one older than the agreement in force and one after the end change
nothing; an agreement from someone outside the pair is refused; one for a relationship not known
here yet waits for match.established.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime

from services.feedback.adapters.analytics import MeetingFact, NotificationOutcome, ProposalClosed, ProposalOpened
from services.feedback.domain.model import Feedback, MeetingOutcome, Relationship
from services.feedback.service_layer import erasure, lifecycle
from services.feedback.service_layer.assessment import reassess, reassess_many
from services.feedback.service_layer.deps import FeedbackDeps
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared import replica
from shared.contracts import events as ev
from shared.dead_letters import DeadLetter
from shared.subscriptions import except_for, handle, on, on_dead_letters, subscriptions
from shared.waves import Applied, set_wise

__all__ = ["SUBSCRIPTIONS", "FeedbackDeps"]


def event_time(uow: FeedbackUnitOfWork) -> datetime:
    """When the event being applied happened, as its publisher said: redelivered, it lands on the same day."""
    return uow.cause.time if uow.cause is not None else uow.now()


async def on_participants_onboarded(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_participant_onboarded` for a wave (each person once): profiles and onboardings in a few
    statements (someone forgotten on request fails the wave, and is refused alone)."""
    await replica.on_participant_profiles(wave, uow, deps)
    await uow.analytics.onboardings([(a.data.participant_id, a.data.program_id, a.envelope.time) for a in wave])


@set_wise(on_participants_onboarded)
async def on_participant_onboarded(event: ev.ParticipantOnboarded, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await replica.on_participant_profile(event, uow, deps)
    await uow.analytics.onboarded(event.participant_id, event.program_id, event_time(uow))


async def on_proposals(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_match_proposed`, `on_match_declined` and `on_match_expired` for a wave of them (each
    proposal once): two statements in all."""
    await uow.analytics.proposals_opened(
        [
            ProposalOpened(a.data.proposal_id, a.data.program_id, a.data.mentee_id, a.data.mentor_id, a.envelope.time)
            for a in wave
            if isinstance(a.data, ev.MatchProposed)
        ]
    )
    await uow.analytics.proposals_closed(
        [
            ProposalClosed(
                a.data.proposal_id,
                a.data.program_id,
                a.data.mentee_id,
                a.data.mentor_id,
                *(
                    ("expired", a.data.expired_at)
                    if isinstance(a.data, ev.MatchExpired)
                    else ("declined", a.envelope.time)
                ),
            )
            for a in wave
            if not isinstance(a.data, ev.MatchProposed)
        ]
    )


def _proposal(event: ev.MatchProposed | ev.MatchDeclined | ev.MatchExpired) -> tuple[Hashable, ...]:
    return (("proposal", event.proposal_id),)  # its analytics row is all it writes


@set_wise(on_proposals, resources=_proposal)
async def on_match_proposed(event: ev.MatchProposed, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.proposal_opened(
        event.proposal_id, event.program_id, event.mentee_id, event.mentor_id, event_time(uow)
    )


@set_wise(on_proposals, resources=_proposal)
async def on_match_declined(event: ev.MatchDeclined, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.proposal_closed(
        event.proposal_id, event.program_id, event.mentee_id, event.mentor_id, status="declined", at=event_time(uow)
    )


@set_wise(on_proposals, resources=_proposal)
async def on_match_expired(event: ev.MatchExpired, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.proposal_closed(
        event.proposal_id, event.program_id, event.mentee_id, event.mentor_id, status="expired", at=event.expired_at
    )


async def on_matches_established(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_match_established` for a wave (each relationship and proposal once, shared.waves): the
    same rows in four statements for the whole wave."""
    events: list[ev.MatchEstablished] = [applied.data for applied in wave]
    pairs = [replica.pair_from_event(event) for event in events]
    added = await uow.pairs.add_many(pairs)
    new = [pair for pair in pairs if pair.relationship_id in added]
    if new:
        await lifecycle.plan_checkins_many(uow, deps, new)
    await uow.analytics.proposals_closed(
        [
            ProposalClosed(e.proposal_id, e.program_id, e.mentee_id, e.mentor_id, "accepted", e.established_at)
            for e in events
        ]
    )


def _relationship_and_proposal(event: ev.MatchEstablished) -> tuple[Hashable, ...]:
    """What an establishment writes that another of its wave must not: the pair (and its check-ins)
    and the proposal's analytics row."""
    return ("relationship", event.relationship_id), ("proposal", event.proposal_id)


@set_wise(on_matches_established, resources=_relationship_and_proposal)
async def on_match_established(event: ev.MatchEstablished, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    pair = replica.pair_from_event(event)
    if await uow.pairs.add(pair):
        await lifecycle.plan_checkins(uow, deps, pair)
    await uow.analytics.proposal_closed(
        event.proposal_id,
        event.program_id,
        event.mentee_id,
        event.mentor_id,
        status="accepted",
        at=event.established_at,
    )


_MEETING_STATUS: dict[type[ev.EventData], str] = {
    ev.MeetingScheduled: "scheduled",
    ev.MeetingRescheduled: "scheduled",
    ev.MeetingCancelled: "cancelled",
    ev.MeetingCompleted: "completed",
    ev.MeetingMissed: "missed",
}


async def _record_meeting(
    event: ev.MeetingScheduled | ev.MeetingRescheduled | ev.MeetingCancelled | ev.MeetingCompleted | ev.MeetingMissed,
    uow: FeedbackUnitOfWork,
) -> None:
    await uow.analytics.meeting(
        meeting_id=event.meeting_id,
        relationship_id=event.relationship_id,
        program_id=event.program_id,
        mentor_id=event.mentor_id,
        mentee_id=event.mentee_id,
        occurrence=event.occurrence,
        start=event.start,
        status=_MEETING_STATUS[type(event)],
        at=event_time(uow),
    )


async def on_meetings_placed(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_meeting_placed` for a wave (each meeting once): its rows in one statement."""
    await uow.analytics.meetings([_meeting_fact(a.data, _MEETING_STATUS[type(a.data)], a.envelope.time) for a in wave])


def _meeting(event: ev.MeetingScheduled | ev.MeetingRescheduled | ev.MeetingCancelled) -> tuple[Hashable, ...]:
    return (("meeting", event.meeting_id),)  # its analytics row is all it writes


@set_wise(on_meetings_placed, resources=_meeting)
async def on_meeting_placed(
    event: ev.MeetingScheduled | ev.MeetingRescheduled | ev.MeetingCancelled,
    uow: FeedbackUnitOfWork,
    deps: FeedbackDeps,
) -> None:
    await _record_meeting(event, uow)


async def on_meeting_unplaceable(event: ev.MeetingUnplaceable, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.unplaceable(event.relationship_id, event.occurrence, event.program_id, event_time(uow))


async def on_relationship_unschedulable(
    event: ev.RelationshipUnschedulable, uow: FeedbackUnitOfWork, deps: FeedbackDeps
) -> None:
    await uow.analytics.unplaceable(event.relationship_id, 0, event.program_id, event_time(uow))


async def on_notifications(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_notification_delivered` and `on_notification_failed` for a wave (each notification once):
    one statement."""
    await uow.analytics.notifications(
        [
            NotificationOutcome(
                a.data.notification_id,
                a.data.recipient_id,
                *(
                    ("delivered", a.data.delivered_at)
                    if isinstance(a.data, ev.NotificationDelivered)
                    else ("failed", a.envelope.time)
                ),
            )
            for a in wave
        ]
    )


def _notification(event: ev.NotificationDelivered | ev.NotificationFailed) -> tuple[Hashable, ...]:
    return (("notification", event.notification_id),)


@set_wise(on_notifications, resources=_notification)
async def on_notification_delivered(
    event: ev.NotificationDelivered, uow: FeedbackUnitOfWork, deps: FeedbackDeps
) -> None:
    await uow.analytics.notification(event.notification_id, event.recipient_id, "delivered", event.delivered_at)


@set_wise(on_notifications, resources=_notification)
async def on_notification_failed(event: ev.NotificationFailed, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.notification(event.notification_id, event.recipient_id, "failed", event_time(uow))


async def on_dead_letter(letter: DeadLetter, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    await uow.analytics.dead_letter(letter)


async def on_meetings_closed(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_meeting_completed` and `on_meeting_missed` for a wave of both (each relationship and meeting
    once, shared.waves): the same rows and the same events in the same order, in about a dozen
    statements for the whole wave."""
    events: list[ev.MeetingCompleted | ev.MeetingMissed] = [applied.data for applied in wave]
    relationships = await uow.relationships.require_many([e.relationship_id for e in events])
    await uow.analytics.meetings([_meeting_fact(a.data, _MEETING_STATUS[type(a.data)], a.envelope.time) for a in wave])
    now = uow.now()
    recorded = await uow.outcomes.add_many(
        [
            MeetingOutcome(
                e.meeting_id,
                e.relationship_id,
                held=isinstance(e, ev.MeetingCompleted),
                recorded_at=now,
                starts_at=e.start,
            )
            for e in events
        ]
    )
    closed = [applied for applied in wave if applied.data.meeting_id in recorded]  # the others: reported again
    if not closed:
        return
    told: dict[str, list[ev.EventData]] = {}  # by meeting: what it tells before the health
    await _ask_about_held(
        uow, deps, relationships, [a.data for a in closed if isinstance(a.data, ev.MeetingCompleted)], now, told
    )
    await _nudge_about_missed(
        uow, relationships, [a.data for a in closed if isinstance(a.data, ev.MeetingMissed)], now, told
    )
    health = await reassess_many(uow, deps, [relationships[a.data.relationship_id] for a in closed], now)
    for applied, changed in zip(closed, health, strict=True):
        uow.cause = applied.envelope  # what each event emits is caused by it, as one at a time
        for event in (*told.get(applied.data.meeting_id, ()), *changed):
            uow.emit(event)


async def _ask_about_held(
    uow: FeedbackUnitOfWork,
    deps: FeedbackDeps,
    relationships: dict[str, Relationship],
    held: Sequence[ev.MeetingCompleted],
    now: datetime,
    told: dict[str, list[ev.EventData]],
) -> None:
    """Both people are asked about each meeting held; an answer given before is stored, not asked for."""
    if not held:
        return
    asked = [
        relationships[e.relationship_id].ask_for_feedback(
            e.meeting_id, now=now, due_days=deps.settings.feedback_due_days
        )
        for e in held
    ]
    requests = [request for both in asked for request in both]
    answered = await uow.feedback.answered_about_many(requests)
    for request in requests:
        request.answered_at = answered[request.request_id]
    made = await uow.requests.add_many(requests)
    for event, both in zip(held, asked, strict=True):
        told[event.meeting_id] = [r.requested() for r in both if r.request_id in made and r.answered_at is None]


async def _nudge_about_missed(
    uow: FeedbackUnitOfWork,
    relationships: dict[str, Relationship],
    missed: Sequence[ev.MeetingMissed],
    now: datetime,
    told: dict[str, list[ev.EventData]],
) -> None:
    """A streak of missed meetings is nudged about once."""
    if not missed:
        return
    streaks = await uow.outcomes.streaks_many([e.relationship_id for e in missed])
    nudges = {
        e.meeting_id: (e.relationship_id, nudge)
        for e in missed
        if (nudge := relationships[e.relationship_id].missed_in_a_row(streaks[e.relationship_id])) is not None
    }
    announced = await uow.outcomes.announce_streaks([(rid, streaks[rid]) for rid, _ in nudges.values()], now)
    for meeting_id, (rid, nudge) in nudges.items():
        if rid in announced:
            told[meeting_id] = [nudge]  # once per streak: a third miss in a row is the same streak


def _meeting_fact(
    event: ev.MeetingScheduled | ev.MeetingRescheduled | ev.MeetingCancelled | ev.MeetingCompleted,
    status: str,
    at: datetime,
) -> MeetingFact:
    return MeetingFact(
        event.meeting_id,
        event.relationship_id,
        event.program_id,
        event.mentor_id,
        event.mentee_id,
        event.occurrence,
        event.start,
        status,
        at,
    )


def _relationship_and_meeting(event: ev.MeetingCompleted | ev.MeetingMissed) -> tuple[Hashable, ...]:
    """What a meeting held or missed locks or writes that another of its wave must not: the
    relationship's rows (pair, health, requests, outcomes, streaks) and the meeting's own (its outcome
    and analytics row)."""
    return ("relationship", event.relationship_id), ("meeting", event.meeting_id)


@set_wise(on_meetings_closed, resources=_relationship_and_meeting)
async def on_meeting_completed(event: ev.MeetingCompleted, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    await _record_meeting(event, uow)
    now = uow.now()
    if not await uow.outcomes.add(
        MeetingOutcome(event.meeting_id, event.relationship_id, held=True, recorded_at=now, starts_at=event.start)
    ):
        return  # the same meeting reported again
    for request in relationship.ask_for_feedback(event.meeting_id, now=now, due_days=deps.settings.feedback_due_days):
        # Answers travel on their own topic and can come before this: such a request is stored answered, not sent.
        request.answered_at = await uow.feedback.answered_about(request)
        if await uow.requests.add(request) and request.answered_at is None:
            uow.emit(request.requested())
    await reassess(uow, deps, relationship)


@set_wise(on_meetings_closed, resources=_relationship_and_meeting)
async def on_meeting_missed(event: ev.MeetingMissed, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    await _record_meeting(event, uow)
    now = uow.now()
    if not await uow.outcomes.add(
        MeetingOutcome(event.meeting_id, event.relationship_id, held=False, recorded_at=now, starts_at=event.start)
    ):
        return
    streak = await uow.outcomes.streak(event.relationship_id)
    nudge = relationship.missed_in_a_row(streak)
    if nudge is not None and await uow.outcomes.announce_streak(event.relationship_id, streak, now):
        uow.emit(nudge)  # once per streak: a third miss in a row is the same streak
    await reassess(uow, deps, relationship)


def _answer(event: ev.FeedbackSubmitted, comment: str | None, now: datetime) -> Feedback:
    return Feedback(
        feedback_id=event.feedback_id,
        relationship_id=event.relationship_id,
        participant_id=event.participant_id,
        meeting_id=event.meeting_id,
        rating=event.rating,
        progress=event.progress,
        comment=comment,
        goals_achieved=tuple(event.goals_achieved),
        submitted_at=now,
        kind=event.kind,
        request_id=event.request_id,
        fit=event.fit,
    )


async def on_feedback_submissions(wave: Sequence[Applied], uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """`on_feedback_submitted` and `lifecycle.on_goal_progress_recorded` for a wave of both (each
    relationship, answer and request once, shared.waves): the same rows and events in the same order,
    in about a dozen statements for the whole wave. An answer or progress refused (PermanentError) is
    refused as it would be alone: the wave fails, and the batch is applied one event at a time,
    where it is dead-lettered."""
    relationships = await uow.relationships.require_many([applied.data.relationship_id for applied in wave])
    now = uow.now()
    told = await _take_answers(uow, relationships, [a for a in wave if isinstance(a.data, ev.FeedbackSubmitted)], now)
    for applied in wave:
        if isinstance(applied.data, ev.GoalProgressRecorded):
            progress = applied.data
            told[id(applied)] = relationships[progress.relationship_id].record_progress(
                progress.participant_id, progress.goal, progress.progress, now=now
            )
    changed = [applied for applied in wave if id(applied) in told]  # answers stored before change nothing
    health = await reassess_many(uow, deps, [relationships[a.data.relationship_id] for a in changed], now)
    for applied, health_events in zip(changed, health, strict=True):
        uow.cause = applied.envelope  # what each event emits is caused by it, as one at a time
        for event in (*told[id(applied)], *health_events):
            uow.emit(event)


async def _take_answers(
    uow: FeedbackUnitOfWork, relationships: dict[str, Relationship], wave: Sequence[Applied], now: datetime
) -> dict[int, list[ev.EventData]]:
    """The answers of a wave, stored: by `id` of each stored, what it tells before its relationship's health."""
    if not wave:
        return {}
    events: list[ev.FeedbackSubmitted] = [applied.data for applied in wave]
    speaking = {
        p
        for e in events
        if e.comment is not None
        for p in (e.participant_id, *relationships[e.relationship_id].pair.members)
    }
    erased = await uow.participants.erased_among(speaking) if speaking else set()
    requests = await uow.requests.get_many([e.request_id for e in events if e.request_id is not None])
    answers = []
    for event in events:
        relationship = relationships[event.relationship_id]
        comment = event.comment
        if comment is not None and erased & {event.participant_id, *relationship.pair.members}:
            comment = None  # words by or about someone forgotten on request are not kept; the rating counts
        answer = _answer(event, comment, now)
        relationship.accept(answer, None if event.request_id is None else requests.get(event.request_id))
        answers.append(answer)
    stored = await uow.feedback.add_many(answers)
    kept = [(applied, answer) for applied, answer in zip(wave, answers, strict=True) if answer.feedback_id in stored]
    if not kept:
        return {}
    new = await uow.feedback.add_milestones_many(
        [(answer, {g.goal for g in relationships[answer.relationship_id].goals}) for _, answer in kept]
    )
    reached, questioned = [], []
    for _, answer in kept:
        relationship = relationships[answer.relationship_id]
        reached.append(relationship.reach_milestones(answer, new[answer.feedback_id], now=now))
        questioned.append(relationship.question_fit(answer, now=now))
    first_time = await uow.feedback.question_fit_many(
        [(q.relationship_id, q.participant_id) for q in questioned if q is not None], now
    )
    return {
        id(applied): [
            *milestones,
            *([fit] if fit is not None and (fit.relationship_id, fit.participant_id) in first_time else []),
        ]  # fit questioned once per relationship and person
        for (applied, _), milestones, fit in zip(kept, reached, questioned, strict=True)
    }


def _relationship_answer_and_request(event: ev.FeedbackSubmitted | ev.GoalProgressRecorded) -> tuple[Hashable, ...]:
    """What an answer or progress locks or writes that another of its wave must not: the relationship's
    rows (pair, health, goals, milestones, fit, its requests), an answer's own row and the request it names."""
    if isinstance(event, ev.GoalProgressRecorded):
        return (("relationship", event.relationship_id),)
    named = () if event.request_id is None else (("request", event.request_id),)
    return ("relationship", event.relationship_id), ("feedback", event.feedback_id), *named


# Progress on a goal joins the answers' waves (the same topic); lifecycle.py cannot import this module.
set_wise(on_feedback_submissions, resources=_relationship_answer_and_request)(lifecycle.on_goal_progress_recorded)


@set_wise(on_feedback_submissions, resources=_relationship_answer_and_request)
async def on_feedback_submitted(event: ev.FeedbackSubmitted, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    now = uow.now()
    comment = event.comment
    if comment is not None and await uow.participants.erased_among({event.participant_id, *relationship.pair.members}):
        comment = None  # words by or about someone forgotten on request are not kept; the rating counts
    feedback = _answer(event, comment, now)
    request = None if event.request_id is None else await uow.requests.get(event.request_id)
    relationship.accept(feedback, request)
    if not await uow.feedback.add(feedback):
        return
    new = await uow.feedback.add_milestones(feedback, {g.goal for g in relationship.goals})
    for reached in relationship.reach_milestones(feedback, new, now=now):
        uow.emit(reached)
    questioned = relationship.question_fit(feedback, now=now)
    if questioned is not None and await uow.feedback.question_fit(event.relationship_id, event.participant_id, now):
        uow.emit(questioned)  # once per relationship and person
    await reassess(uow, deps, relationship)


async def on_relationship_agreement_recorded(
    event: ev.RelationshipAgreementRecorded, uow: FeedbackUnitOfWork, deps: FeedbackDeps
) -> None:
    """The mentee's goals in their agreement become the relationship's (domain: `agree_goals`); a
    relationship already assessed is assessed again with them (goal progress weighs in its health)."""
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    if not relationship.agree_goals(event.participant_id, list(event.goals), recorded_at=event.recorded_at):
        return
    if relationship.health_state is None:
        await uow.relationships.save(relationship, at=uow.now())
    else:
        await reassess(uow, deps, relationship)


SUBSCRIPTIONS = subscriptions(
    on(ev.ProgramConfigured, lifecycle.on_program_configured),
    # Onboardings are also counted for the program's analytics: feedback's own handler, not the replica's.
    except_for(replica.PARTICIPANT_SUBSCRIPTIONS, ev.ParticipantOnboarded),
    on(ev.ParticipantErased, erasure.on_participant_erased),
    on(ev.ParticipantOnboarded, on_participant_onboarded),
    on(ev.MatchProposed, on_match_proposed),
    on(ev.MatchDeclined, on_match_declined),
    on(ev.MatchExpired, on_match_expired),
    on(ev.MatchEstablished, on_match_established),
    on(ev.MatchEnded, lifecycle.on_match_ended),
    on(ev.MeetingScheduled, on_meeting_placed),
    on(ev.MeetingRescheduled, on_meeting_placed),
    on(ev.MeetingCancelled, on_meeting_placed),
    on(ev.MeetingCompleted, on_meeting_completed),
    on(ev.MeetingMissed, on_meeting_missed),
    on(ev.MeetingUnplaceable, on_meeting_unplaceable),
    on(ev.RelationshipUnschedulable, on_relationship_unschedulable),
    handle(ev.FeedbackSubmitted, on_feedback_submitted),
    handle(ev.GoalProgressRecorded, lifecycle.on_goal_progress_recorded),
    handle(ev.RelationshipAgreementRecorded, on_relationship_agreement_recorded),
    on(ev.NotificationDelivered, on_notification_delivered),
    on(ev.NotificationFailed, on_notification_failed),
    on_dead_letters(on_dead_letter),
)
