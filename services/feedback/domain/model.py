"""Feedback's aggregate: one mentoring relationship as the feedback service follows it, with its
goals, the feedback requests it gets and the answers to them.

Methods guard the rules and return the events a change causes; handlers load, call, save and emit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from shared.contracts import events as ev
from shared.contracts.types import Reason
from shared.errors import PermanentError
from shared.people import Pair

from .attendance import Streak
from .closure import earns_certificate, term_served
from .goals import Goal, goal_terms, normalise
from .health import Health, Signals, assess

NAMESPACE = uuid.UUID("6f1f7a8e-4b0c-4d1e-9a57-0c3f5e2b9d11")
Kind = Literal["meeting", "checkin", "closure"]


# Deterministic request ids, so asking twice for the same thing is the same request.
def request_id(meeting_id: str, participant_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{meeting_id}/{participant_id}"))


def checkin_request_id(relationship_id: str, number: int, participant_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{relationship_id}/checkin/{number}/{participant_id}"))


def closure_request_id(relationship_id: str, participant_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{relationship_id}/closure/{participant_id}"))


@dataclass
class FeedbackRequest:
    request_id: str
    relationship_id: str
    participant_id: str
    role: str
    requested_at: datetime
    due_at: datetime
    kind: Kind = "meeting"
    meeting_id: str | None = None
    checkin: int | None = None  # the check-in's number (1, 2, ...)
    answered_at: datetime | None = None
    reminded_at: datetime | None = None
    counted_at: datetime | None = None  # unanswered after the reminder: counted against health

    def requested(self, *, reminder: bool = False) -> ev.FeedbackRequested:
        return ev.FeedbackRequested(request_id=self.request_id, relationship_id=self.relationship_id,
                                    participant_id=self.participant_id, role=self.role,  # type: ignore[arg-type]
                                    due_at=self.due_at, kind=self.kind, meeting_id=self.meeting_id,
                                    reminder=reminder)

    def remind(self, *, now: datetime, grace_days: float) -> ev.FeedbackRequested | None:
        """An unanswered check-in that fell due is asked once more, the same request with a new due date."""
        if self.kind != "checkin" or self.answered_at is not None or self.reminded_at is not None \
                or self.due_at > now:
            return None
        self.reminded_at, self.due_at = now, now + timedelta(days=grace_days)
        return self.requested(reminder=True)

    def count_overdue(self, *, now: datetime) -> bool:
        """True the moment a reminded check-in, still unanswered, falls due again: it counts from now."""
        if self.reminded_at is None or self.answered_at is not None or self.counted_at is not None \
                or self.due_at > now:
            return False
        self.counted_at = now
        return True


@dataclass(frozen=True)
class MeetingOutcome:
    meeting_id: str
    relationship_id: str
    held: bool
    recorded_at: datetime
    starts_at: datetime | None = None


@dataclass(frozen=True)
class Feedback:
    feedback_id: str
    relationship_id: str
    participant_id: str
    meeting_id: str | None
    rating: int
    progress: int | None
    comment: str | None
    goals_achieved: tuple[str, ...]
    submitted_at: datetime
    kind: Kind = "meeting"
    request_id: str | None = None
    fit: Literal["good", "not_good", "unsure"] | None = None  # their answer to "is this a good fit?"

    @property
    def milestones(self) -> tuple[str, ...]:
        """Goals the person says they reached, in one spelling."""
        return goal_terms(self.goals_achieved)


@dataclass(frozen=True)
class Conclusion:
    """What a relationship's end tells: the closure survey for both, and what it achieved."""

    requests: list[FeedbackRequest]
    concluded: ev.RelationshipConcluded


@dataclass(frozen=True)
class AgreedGoals:
    """The goals the mentee gave in their mentoring agreement (relationship.agreement.recorded), in
    their own words and order; they stand over the goals of the profile from then on."""

    goals: tuple[str, ...]
    participant_id: str
    recorded_at: datetime


@dataclass
class Relationship:
    """A pair, its goals and how it is doing."""

    pair: Pair
    health_state: str | None = None
    health_score: float | None = None
    health_reasons: tuple[str, ...] = ()
    health_codes: tuple[Reason, ...] = ()
    goals: list[Goal] = field(default_factory=list)
    agreed: AgreedGoals | None = None  # the goals of the mentee's agreement, when they gave one
    agreed_changed: bool = field(default=False, repr=False)
    _changed_goals: set[str] = field(default_factory=set, repr=False)
    _recorded: dict[str, Goal] = field(default_factory=dict, repr=False)  # progress on any goal it had

    @classmethod
    def of(cls, pair: Pair, recorded: dict[str, Goal] | None = None, agreed: AgreedGoals | None = None,
           **health) -> Relationship:
        """The pair's goals (the mentee's agreement's when they gave one, else the mentee's at
        establishment), with the progress recorded so far."""
        recorded = recorded or {}
        terms = goal_terms(agreed.goals if agreed is not None else pair.goals)
        return cls(pair, goals=[recorded.get(g) or Goal(g) for g in terms], agreed=agreed, _recorded=recorded,
                   **health)

    @property
    def relationship_id(self) -> str:
        return self.pair.relationship_id

    @property
    def changed_goals(self) -> list[Goal]:
        return [g for g in self.goals if g.goal in self._changed_goals]

    def _member(self, participant_id: str) -> None:
        if not self.pair.includes(participant_id):
            raise PermanentError(f"{participant_id} is not part of relationship {self.relationship_id}")

    def _goal(self, term: str) -> Goal | None:
        wanted = normalise(term)
        return next((g for g in self.goals if g.goal == wanted), None)

    def _both(self) -> tuple[tuple[str, str], ...]:
        return (self.pair.mentee_id, "mentee"), (self.pair.mentor_id, "mentor")

    # --- feedback requests -----------------------------------------------------------------------

    def ask_for_feedback(self, meeting_id: str, *, now: datetime, due_days: float) -> list[FeedbackRequest]:
        """Both people are asked about a meeting that was held."""
        due = now + timedelta(days=due_days)
        return [FeedbackRequest(request_id(meeting_id, pid), self.relationship_id, pid, role, now, due,
                                kind="meeting", meeting_id=meeting_id) for pid, role in self._both()]

    def ask_checkin(self, number: int, *, now: datetime, due_days: float) -> list[FeedbackRequest]:
        """Both people are asked how it goes (check-in `number`); only while the relationship lasts."""
        if not self.pair.active:
            return []
        due = now + timedelta(days=due_days)
        return [FeedbackRequest(checkin_request_id(self.relationship_id, number, pid), self.relationship_id, pid,
                                role, now, due, kind="checkin", checkin=number) for pid, role in self._both()]

    # --- answers ---------------------------------------------------------------------------------

    def accept(self, feedback: Feedback, request: FeedbackRequest | None = None) -> None:
        """Only the two people of the pair answer; a check-in is answered while the relationship lasts
        (a closure answer, and a late answer about a meeting, are welcome after the end)."""
        self._member(feedback.participant_id)
        if feedback.kind == "checkin" and not self.pair.active:
            raise PermanentError(f"relationship {self.relationship_id} has ended; "
                                 "check-in answers are no longer taken")
        if feedback.request_id is None:
            return
        if request is None:
            raise PermanentError(f"unknown feedback request {feedback.request_id}")
        if (request.relationship_id, request.participant_id) != (self.relationship_id, feedback.participant_id):
            raise PermanentError(f"feedback request {request.request_id} was not sent to {feedback.participant_id} "
                                 f"in relationship {self.relationship_id}")
        if request.kind != feedback.kind:
            raise PermanentError(f"feedback request {request.request_id} asks for a {request.kind} answer, "
                                 f"not a {feedback.kind} one")

    def reach_milestones(self, feedback: Feedback, new: list[str], *, now: datetime) -> list[ev.EventData]:
        """Milestones reached for the first time; one that is a goal of the relationship achieves it."""
        events: list[ev.EventData] = []
        for milestone in new:
            goal = self._goal(milestone)
            events.append(ev.MilestoneAchieved(relationship_id=self.relationship_id,
                                               participant_id=feedback.participant_id, milestone=milestone,
                                               goal=goal.goal if goal else None))
            if goal is not None:
                events += self._progress(goal, 100, now=now)
        return events

    # --- goals -----------------------------------------------------------------------------------

    def record_progress(self, participant_id: str, goal: str, progress: int, *, now: datetime) -> list[ev.EventData]:
        """One of the pair says how far they are on one of their goals."""
        self._member(participant_id)
        found = self._goal(goal)
        if found is None:
            # The goal's words are the person's own: the reason names the relationship only.
            raise PermanentError(f"the goal is not one of relationship {self.relationship_id}'s goals")
        return self._progress(found, progress, now=now)

    def _progress(self, goal: Goal, progress: int, *, now: datetime) -> list[ev.EventData]:
        self._changed_goals.add(goal.goal)
        if not goal.record(progress, now=now):
            return []
        pair = self.pair
        return [ev.GoalAchieved(relationship_id=pair.relationship_id, program_id=pair.program_id,
                                mentor_id=pair.mentor_id, mentee_id=pair.mentee_id, goal=goal.goal,
                                achieved_at=now)]

    def agree_goals(self, participant_id: str, goals: list[str], *, recorded_at: datetime) -> bool:
        """The mentee's agreement names their goals, most important first: they become the
        relationship's, in that order. Progress recorded on a goal of the same text stays (also on
        one that comes back); a goal left out is no longer followed. True when this changed what is
        agreed; the mentor's answer (which leaves the goals out), an agreement without goals, one
        older than the agreement in force, and one after the end change nothing."""
        self._member(participant_id)
        terms = goal_terms(goals)
        if participant_id != self.pair.mentee_id or not terms or not self.pair.active:
            return False
        if self.agreed is not None and recorded_at < self.agreed.recorded_at:
            return False
        self.agreed = AgreedGoals(tuple(goals), participant_id, recorded_at)
        self.agreed_changed = True
        for goal in self.goals:
            self._recorded.setdefault(goal.goal, goal)
        self.goals = [self._recorded.get(g) or Goal(g) for g in terms]
        return True

    # --- fit -------------------------------------------------------------------------------------

    def question_fit(self, feedback: Feedback, *, now: datetime) -> ev.RelationshipFitQuestioned | None:
        """Someone of the pair answered that it is not a good fit: the program team hears of it, and
        the mentee is offered a new mentor (the caller tells it once per person). Not once it has ended."""
        if feedback.fit != "not_good" or not self.pair.active:
            return None
        pair = self.pair
        return ev.RelationshipFitQuestioned(relationship_id=pair.relationship_id, program_id=pair.program_id,
                                            mentor_id=pair.mentor_id, mentee_id=pair.mentee_id,
                                            participant_id=feedback.participant_id, questioned_at=now)

    # --- meetings --------------------------------------------------------------------------------

    def missed_in_a_row(self, streak: Streak) -> ev.RelationshipMeetingsMissed | None:
        """A streak of missed meetings worth a kind nudge (the caller sends one per streak)."""
        if not streak.worth_a_nudge or not self.pair.active:
            return None
        pair = self.pair
        return ev.RelationshipMeetingsMissed(relationship_id=pair.relationship_id, program_id=pair.program_id,
                                             mentor_id=pair.mentor_id, mentee_id=pair.mentee_id,
                                             consecutive=streak.count)

    # --- health ----------------------------------------------------------------------------------

    def reassess(self, signals: Signals, *, now: datetime, term_days: int) -> list[ev.EventData]:
        """Take the current signals into account; a new health state is announced, at risk loudly.
        An ended relationship keeps the state it ended with."""
        if not self.pair.active:
            return []
        tracked = [g.progress for g in self.goals] if any(g.tracked for g in self.goals) else []
        elapsed = (now - self.pair.established_at) / timedelta(days=term_days)
        health: Health = assess(replace(signals, goals=tuple(tracked), term_elapsed=max(0.0, elapsed)))
        previous = self.health_state
        self.health_state, self.health_score = health.state, health.score
        self.health_reasons, self.health_codes = health.reasons, health.codes
        if health.state == previous:
            return []
        changed: list[ev.EventData] = [ev.RelationshipHealthChanged(
            relationship_id=self.relationship_id, previous=previous, current=health.state, score=health.score,
            reasons=list(health.reasons), reason_codes=list(health.codes))]
        if health.state == "at_risk":
            changed.append(ev.RelationshipAtRisk(relationship_id=self.relationship_id, score=health.score,
                                                 reasons=list(health.reasons), reason_codes=list(health.codes)))
        return changed

    # --- the end ---------------------------------------------------------------------------------

    def conclude(self, ended: ev.MatchEnded, *, now: datetime, due_days: float, term_days: int,
                 meetings_held: int, milestones: list[str]) -> Conclusion | None:
        """The relationship is over: both are asked to look back (closure), but not one who left the
        program, and what it achieved is told. None when it had ended here already."""
        if not self.pair.active:
            return None
        self.pair = replace(self.pair, status="ended", ended_at=ended.ended_at, end_reason=ended.reason)
        due = now + timedelta(days=due_days)
        requests = [FeedbackRequest(closure_request_id(self.relationship_id, pid), self.relationship_id, pid, role,
                                    now, due, kind="closure") for pid, role in self._both() if pid != ended.leaver_id]
        served = term_served(self.pair.established_at, ended.ended_at, term_days)
        pair = self.pair
        concluded = ev.RelationshipConcluded(
            relationship_id=pair.relationship_id, program_id=pair.program_id, mentor_id=pair.mentor_id,
            mentee_id=pair.mentee_id, reason_code=ended.reason_code, established_at=pair.established_at,
            ended_at=ended.ended_at, meetings_held=meetings_held,
            goals=[ev.GoalProgress(goal=g.goal, progress=g.progress) for g in self.goals],
            milestones=milestones[:50], term_served=served, certificate=earns_certificate(ended.reason_code, served))
        return Conclusion(requests, concluded)
