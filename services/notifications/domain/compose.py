"""What each event tells whom: the messages an event causes, with their template's parameters.

Pure logic, and no language: people come in as `shared.people.Participant` (from the participants
replica), messages go out as `Outgoing`s whose parameters say *what* to tell (a moment on someone's
clock, a length of time, a reason as a phrase); `delivery.plan` renders them in each reader's
language and tone (`render`), and routes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifications.i18n.values import (
    Day,
    LanguageNames,
    Moment,
    Percent,
    Phrase,
    Span,
    Zone,
)
from shared.contracts import events as ev
from shared.people import Participant

from . import explanation, reasons
from .certificate import Certificate
from .forgotten import name_of, without_the_forgotten
from .messages import actions, participants, phrases
from .messages.structure import DIRECT
from .outgoing import Action, Attachment, Outgoing

__all__ = ["Attachment", "Outgoing"]

# How long after its due date a feedback request can still be answered from its link.
ANSWER_GRACE = timedelta(days=30)


def _change_meeting(meeting_id: str, start: datetime, *, sequence: int | None = None) -> Action:
    """The meeting's page: one link per version of the meeting, so a moved meeting can be moved again."""
    return Action(actions.CANNOT_MAKE_IT, "meeting", meeting_id, "change", expires_at=start,
                  in_invite=sequence is not None, variant="" if sequence is None else str(sequence))


def _end_early(relationship_id: str, choice: str | None = None) -> Action:
    label = actions.REMATCH if choice == "rematch" else actions.END_EARLY
    return Action(label, "relationship", relationship_id, "end", choice=choice)


def _pairwise(mentor: Participant, mentee: Participant):
    """(reader, the other, the other's role) for both people of a pair."""
    return ((mentor, mentee, "mentee"), (mentee, mentor, "mentor"))


def _offset(moment: datetime, zone: str) -> timedelta | None:
    return moment.astimezone(ZoneInfo(zone)).utcoffset()


def recurrence(cadence_days: int) -> Phrase:
    """How often a pair meets, as the reader's language says it: "every week", "every 2 weeks",
    "every 10 days" (weeks when the days make whole weeks)."""
    unit, count = ("week", cadence_days // 7) if cadence_days % 7 == 0 else ("day", cadence_days)
    texts = phrases.RECURRENCE[unit]
    return Phrase({DIRECT: texts[1] if count == 1 else texts[None]}, {"count": count})


def commitment(*, cadence_days: int, duration_minutes: int, term_days: int) -> dict[str, Span | Phrase]:
    """What mentoring asks of a mentor, from the program's settings: how often, how long, for how long."""
    return {"recurrence": recurrence(cadence_days), "duration": Span(timedelta(minutes=duration_minutes)),
            "term": Span(timedelta(days=term_days))}


def match_proposed(data: ev.MatchProposed, mentor: Participant, mentee: Participant, *, cadence_days: int,
                   duration_minutes: int, term_days: int) -> list[Outgoing]:
    return [Outgoing(mentor.participant_id, "match_proposed", {
        "recipient_name": mentor.name, "mentee_name": name_of(mentee), "mentee_region": mentee.region,
        "mentee_sector": mentee.sector, "goals": list(mentee.goals),
        "why": explanation.why(data.explanation, mentee), "deadline": Moment(data.expires_at, mentor.timezone),
        **commitment(cadence_days=cadence_days, duration_minutes=duration_minutes, term_days=term_days),
    }, actions=(Action(actions.ACCEPT, "proposal", data.proposal_id, "answer", "accept", data.expires_at),
                Action(actions.DECLINE, "proposal", data.proposal_id, "answer", "decline", data.expires_at)))]


def match_unavailable(data: ev.MatchUnavailable, mentee: Participant) -> list[Outgoing]:
    """The mentee hears that no mentor fits right now, why where it helps them, and what happens next."""
    return [Outgoing(mentee.participant_id, "match_unavailable", {
        "recipient_name": mentee.name, "reason": reasons.unmatched_for_mentee(data.reason_code),
    })]


def match_established(data: ev.MatchEstablished, mentor: Participant, mentee: Participant, *, cadence_days: int,
                      duration_minutes: int) -> list[Outgoing]:
    reply_within = max(mentor.communication.response_time_hours, mentee.communication.response_time_hours)
    return [Outgoing(me.participant_id, "match_established", {
        "recipient_name": me.name, "other_name": name_of(other), "other_role": other_role,
        "other_zone": Zone(other.timezone), "other_languages": LanguageNames(other.languages or (other.language,)),
        "goals": list(data.goals), "recurrence": recurrence(cadence_days),
        "duration": Span(timedelta(minutes=duration_minutes)), "response_time": Span(timedelta(hours=reply_within)),
    }, actions=(Action(actions.AGREEMENT, "relationship", data.relationship_id, "agreement"),))
        for me, other, other_role in _pairwise(mentor, mentee)]


def _meeting(template: str, data, mentor: Participant, mentee: Participant, *, method: str,
             extra=None) -> list[Outgoing]:
    out = []
    for me, other, _ in _pairwise(mentor, mentee):
        # The other person's clock only when it shows another time than the reader's.
        other_clock = None
        if _offset(data.start, other.timezone) != _offset(data.start, me.timezone):
            other_clock = Moment(data.start, other.timezone)
        out.append(Outgoing(me.participant_id, template, {
            "recipient_name": me.name, "other_name": name_of(other), "kind": getattr(data, "kind", "recurring"),
            "start": Moment(data.start, me.timezone), "start_short": Moment(data.start, me.timezone, short=True),
            "start_other": other_clock, "duration": Span(data.end - data.start),
            "location": getattr(data, "location", None),
            **(extra(me, other) if extra else {}),
        }, Attachment("invite.ics", without_the_forgotten(data.ics, me.email) if other.erased else data.ics,
                      f"text/calendar; method={method}"),
            useful_until=data.start if template != "meeting_cancelled" else None,
            actions=() if template == "meeting_cancelled" else (
                _change_meeting(data.meeting_id, data.start, sequence=data.sequence),),
            # An invite about a forgotten person keeps its neutral words (forgotten.py).
            invite_title=None if other.erased else participants.INVITE_TITLE[data.occurrence == 1]))
    return out


def meeting_scheduled(data: ev.MeetingScheduled, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    return _meeting("meeting_scheduled", data, mentor, mentee, method="REQUEST")


def meeting_rescheduled(data: ev.MeetingRescheduled, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """Both are told the new time and who moved it (`requested_by`): the other by name, a confirmation
    to the one who asked, or the program team. Not said when not known: a move scheduling made
    itself, an older producer, or someone outside the pair who is not the team."""

    def who(me: Participant, other: Participant) -> dict:
        return {"moved_by": moved_by(data.requested_by, me, other)}

    return _meeting("meeting_rescheduled", data, mentor, mentee, method="REQUEST", extra=who)


# How the program team is named in a command's `requested_by` ("ops:<user>", the dashboard's users).
_TEAM_PREFIX = "ops:"


def moved_by(requested_by: str | None, me: Participant, other: Participant) -> str:
    """Who moved a meeting, as its reader's message says it: "you", "partner", "team" or "unknown"."""
    if requested_by is None:
        return "unknown"
    if requested_by == me.participant_id:
        return "you"
    if requested_by == other.participant_id:
        return "partner"
    return "team" if requested_by.startswith(_TEAM_PREFIX) else "unknown"


def meeting_cancelled(data: ev.MeetingCancelled, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """Both are told why, from the cancellation's code: who cancelled (with their note for the other
    to read), or that the relationship is over. The free-text `reason` is not repeated."""

    def why(me: Participant, other: Participant) -> dict:
        name, note = reasons.canceller_note(data.reason_code, me, other)
        return {"reason": reasons.cancellation(data.reason_code, me, other), "canceller_name": name, "note": note}

    return _meeting("meeting_cancelled", data, mentor, mentee, method="CANCEL", extra=why)


def reminder_due(data: ev.ReminderDue, people: dict[str, Participant]) -> list[Outgoing]:
    out = []
    for pid in data.participant_ids:
        me = people[pid]
        others = [people[o] for o in data.participant_ids if o != pid]
        other = others[0] if others else me
        out.append(Outgoing(pid, "reminder_due", {
            "recipient_name": me.name, "other_name": name_of(other), "start": Moment(data.meeting_start, me.timezone),
            "lead": Span(timedelta(minutes=data.minutes_before)),
        }, useful_until=data.meeting_start, actions=(_change_meeting(data.meeting_id, data.meeting_start),)))
    return out


def feedback_template(data: ev.FeedbackRequested) -> str:
    """A meeting's feedback request, a check-in (or its one reminder), or the closing survey."""
    if data.kind == "checkin":
        return "checkin_reminder" if data.reminder else "checkin_requested"
    if data.kind == "closure":
        return "closure_requested"
    return "feedback_requested"


def feedback_requested(data: ev.FeedbackRequested, me: Participant, other: Participant) -> list[Outgoing]:
    """The form's link."""
    until = data.due_at + ANSWER_GRACE
    return [Outgoing(me.participant_id, feedback_template(data), {
        "recipient_name": me.name, "other_name": name_of(other), "due": Day(data.due_at, me.timezone),
    }, useful_until=data.due_at, actions=(Action(actions.ANSWER, "request", data.request_id, "feedback",
                                                 expires_at=until),))]


def attendance_requested(meeting_id: str, start: datetime, ended: datetime, mentor: Participant,
                         mentee: Participant) -> list[Outgoing]:
    """Once a meeting is over, both are asked whether it took place; the first answer counts for both."""
    until = ended + ANSWER_GRACE
    return [Outgoing(me.participant_id, "attendance_requested", {
        "recipient_name": me.name, "other_name": name_of(other), "start": Moment(start, me.timezone),
    }, actions=(Action(actions.IT_HAPPENED, "meeting", meeting_id, "attendance", "held", until),
                Action(actions.IT_DID_NOT, "meeting", meeting_id, "attendance", "not_held", until)))
        for me, other, _ in _pairwise(mentor, mentee)]


def milestone_achieved(data: ev.MilestoneAchieved, achiever: Participant, other: Participant) -> list[Outgoing]:
    return [Outgoing(p.participant_id, "milestone_achieved", {
        "recipient_name": p.name, "reader": "achiever" if p is achiever else "partner",
        "achiever_name": name_of(achiever), "milestone": data.milestone, "goal": data.goal,
    }) for p in (achiever, other)]


def goal_achieved(data: ev.GoalAchieved, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """Both celebrate the goal they reached together."""
    return [Outgoing(me.participant_id, "goal_achieved", {
        "recipient_name": me.name, "other_name": name_of(other), "goal": data.goal,
    }) for me, other, _ in _pairwise(mentor, mentee)]


def end_scheduled(data: ev.RelationshipEndScheduled, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """A heads-up, a week ahead, that the term ends: time to look back on the goals together."""
    return [Outgoing(me.participant_id, "end_scheduled", {
        "recipient_name": me.name, "other_name": name_of(other), "end_day": Day(data.ends_at, me.timezone),
    }, useful_until=data.ends_at) for me, other, _ in _pairwise(mentor, mentee)]


def _goal_item(goal: ev.GoalProgress) -> Phrase:
    if goal.progress >= 100:
        return Phrase({DIRECT: phrases.GOAL_ACHIEVED_ITEM}, {"goal": goal.goal})
    if goal.progress <= 0:
        return Phrase({DIRECT: phrases.GOAL_NOT_STARTED_ITEM}, {"goal": goal.goal})
    return Phrase({DIRECT: phrases.GOAL_PROGRESS_ITEM}, {"goal": goal.goal, "progress": Percent(goal.progress / 100)})


def relationship_concluded(data: ev.RelationshipConcluded, mentor: Participant, mentee: Participant, *,
                           program_name: str) -> list[Outgoing]:
    """A celebration for both: meetings held, each goal and how far it came, the milestones, and (when
    earned) a certificate of completion in each reader's language. None when there is nothing to look
    back on yet (ended before a meeting took place or any goal moved): both were already told kindly
    that it ended (`match_ended`), and congratulations on goals not started would contradict it."""
    if not (data.meetings_held or data.milestones or data.certificate or any(g.progress > 0 for g in data.goals)):
        return []
    achieved = tuple(g.goal for g in data.goals if g.progress >= 100)
    out = []
    for me, other, other_role in _pairwise(mentor, mentee):
        role = "mentee" if other_role == "mentor" else "mentor"
        certificate = Certificate(me.name, role, program_name, data.established_at, data.ended_at, me.timezone,
                                  data.meetings_held, achieved) if data.certificate else None
        out.append(Outgoing(me.participant_id, "relationship_concluded", {
            "recipient_name": me.name, "other_name": name_of(other), "meetings": data.meetings_held or None,
            "goals": [_goal_item(g) for g in data.goals], "milestones": list(data.milestones),
            "certificate": data.certificate,
        }, certificate=certificate))
    return out


def match_ended(data: ev.MatchEnded, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """Both are told, kindly, that the program team ended it, or that its term is complete (a short
    thank-you: the celebration follows with `relationship.concluded`). The end's own `reason` (the
    team's words) is not repeated: it is not for the other person to read."""
    template = "match_ended_on_request" if data.reason_code == "ended_on_request" else "match_ended_term_completed"
    return [Outgoing(me.participant_id, template, {"recipient_name": me.name, "other_name": name_of(other)})
            for me, other, _ in _pairwise(mentor, mentee)]


def partner_left(remaining: Participant, leaver: Participant, *, remaining_role: str) -> list[Outgoing]:
    """Only the one who stays is told: a mentee hears a new mentor is being looked for, a mentor that
    their place is free again."""
    return [Outgoing(remaining.participant_id, f"match_ended_partner_left_{remaining_role}",
                     {"recipient_name": remaining.name, "other_name": name_of(leaver)})]


@dataclass(frozen=True)
class PairState:
    """Where a pair stands, for a nudge's ways forward: who recorded their agreement last (None: no
    agreement recorded), who has answered their own agreement link, and the next planned meeting
    (id, start, sequence)."""

    agreed_by: str | None = None
    answered: frozenset[str] = frozenset()
    next_meeting: tuple[str, datetime, int] | None = None


def ways_forward(relationship_id: str, me: Participant, state: PairState) -> tuple[list[Action], dict]:
    """What a pair can do before ending early (the program's guide: clear expectations first, then a
    rhythm of meetings): the reader's links, in order, and what their message says of them. Agree on
    how to work together when nothing is recorded and the reader has not answered, confirm what the
    other proposed, move the next planned meeting rather than let it lapse."""
    pid = me.participant_id
    to_agree = state.agreed_by is None and pid not in state.answered
    to_confirm = state.agreed_by not in (None, pid) and pid not in state.answered
    ways: list[Action] = []
    if to_agree or to_confirm:
        label = actions.AGREEMENT if to_agree else actions.CONFIRM_AGREEMENT
        ways.append(Action(label, "relationship", relationship_id, "agreement"))
    next_meeting = None
    if state.next_meeting is not None:
        meeting_id, start, sequence = state.next_meeting
        next_meeting = Moment(start, me.timezone)
        ways.append(Action(actions.MOVE_NEXT_MEETING, "meeting", meeting_id, "change", expires_at=start,
                           variant=str(sequence)))
    return ways, {"no_agreement": to_agree, "confirm_agreement": to_confirm, "next_meeting": next_meeting}


def relationship_nudge(data: ev.RelationshipNudgeRequested, mentor: Participant,
                       mentee: Participant, state: PairState = PairState()) -> list[Outgoing]:
    """A friendly nudge to both, with the program team's note quoted when there is one, and ways
    forward before a way out (`ways_forward`); only then end early."""
    note = (data.note or "").strip() or None
    out = []
    for me, other, _ in _pairwise(mentor, mentee):
        ways, said = ways_forward(data.relationship_id, me, state)
        out.append(Outgoing(me.participant_id, "relationship_nudge", {
            "recipient_name": me.name, "other_name": name_of(other), "note": note, **said,
        }, actions=(*ways, _end_early(data.relationship_id))))
    return out


def meetings_missed(data: ev.RelationshipMeetingsMissed, mentor: Participant, mentee: Participant,
                    state: PairState = PairState()) -> list[Outgoing]:
    """A kind nudge to both, the same words for each: nobody is blamed for meetings that did not happen.
    Ways forward before a way out, as in the team's nudge (`ways_forward`): agree on how to work
    together, confirm what the other proposed, move the next planned meeting (its time named on the
    reader's clock); only then end early."""
    out = []
    for me, other, _ in _pairwise(mentor, mentee):
        ways, said = ways_forward(data.relationship_id, me, state)
        out.append(Outgoing(me.participant_id, "meetings_missed", {
            "recipient_name": me.name, "other_name": name_of(other), "count": data.consecutive, **said,
            "no_next_meeting": said["next_meeting"] is None,
        }, actions=(*ways, _end_early(data.relationship_id))))
    return out


def fit_questioned(data: ev.RelationshipFitQuestioned, mentor: Participant, mentee: Participant) -> list[Outgoing]:
    """The mentee is offered a new mentor, whoever of the two said it is not a good fit; nothing is
    ended until they ask."""
    return [Outgoing(mentee.participant_id, "fit_questioned", {
        "recipient_name": mentee.name, "other_name": name_of(mentor),
    }, actions=(_end_early(data.relationship_id, "rematch"),))]
