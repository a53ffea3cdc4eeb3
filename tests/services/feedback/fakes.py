"""Feedback's repositories in memory, for handler unit tests (the same rules as the SQL ones)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.feedback.domain.attendance import Streak, trailing_misses
from services.feedback.domain.checkins import CheckinSchedule
from services.feedback.domain.goals import Goal
from services.feedback.domain.health import Signals
from services.feedback.domain.model import (
    AgreedGoals,
    Feedback,
    FeedbackRequest,
    MeetingOutcome,
    Relationship,
)
from shared.contracts.types import Reason
from shared.dead_letters import DeadLetter
from shared.errors import NotYetKnown
from tests.support.fakes import FakePairDirectory, FakeUnitOfWork


@dataclass
class FeedbackTables:
    health: dict[str, tuple[float, str, tuple[str, ...]]] = field(default_factory=dict)
    health_codes: dict[str, tuple[Reason, ...]] = field(default_factory=dict)
    goals: dict[tuple[str, str], Goal] = field(default_factory=dict)
    outcomes: dict[str, MeetingOutcome] = field(default_factory=dict)
    requests: dict[str, FeedbackRequest] = field(default_factory=dict)
    answered: dict[str, datetime] = field(default_factory=dict)
    feedback: dict[str, Feedback] = field(default_factory=dict)
    milestones: dict[tuple[str, str], str] = field(default_factory=dict)
    streaks: dict[tuple[str, str], int] = field(default_factory=dict)
    schedules: dict[str, CheckinSchedule] = field(default_factory=dict)
    conclusions: dict[str, object] = field(default_factory=dict)
    agreed_goals: dict[str, AgreedGoals] = field(default_factory=dict)
    fit_questions: dict[tuple[str, str], datetime] = field(default_factory=dict)


def _in_order(outcomes) -> list[MeetingOutcome]:
    return sorted(outcomes, key=lambda o: (o.starts_at is not None, o.starts_at or o.recorded_at, o.recorded_at,
                                           o.meeting_id))


class FakeRelationships:
    def __init__(self, pairs: FakePairDirectory, tables: FeedbackTables) -> None:
        self.pairs, self.t = pairs, tables

    async def get(self, relationship_id: str, *, lock: bool = False) -> Relationship | None:
        pair = self.pairs.pairs.get(relationship_id)
        if pair is None:
            return None
        recorded = {g: replace(goal) for (rid, g), goal in self.t.goals.items() if rid == relationship_id}
        score, state, reasons = self.t.health.get(relationship_id, (None, None, ()))
        return Relationship.of(pair, recorded, self.t.agreed_goals.get(relationship_id), health_state=state, health_score=score, health_reasons=reasons,
                               health_codes=self.t.health_codes.get(relationship_id, ()))

    async def require(self, relationship_id: str, *, lock: bool = False) -> Relationship:
        found = await self.get(relationship_id)
        if found is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return found

    async def save(self, relationship: Relationship, *, at: datetime) -> None:
        if relationship.agreed_changed and relationship.agreed is not None:
            self.t.agreed_goals[relationship.relationship_id] = relationship.agreed
        for goal in relationship.changed_goals:
            self.t.goals[(relationship.relationship_id, goal.goal)] = replace(goal)
        if relationship.health_state is not None:
            self.t.health[relationship.relationship_id] = (relationship.health_score, relationship.health_state,
                                                           relationship.health_reasons)
            self.t.health_codes[relationship.relationship_id] = relationship.health_codes

    async def signals(self, relationship_id: str, now: datetime) -> Signals:
        outcomes = _in_order(o for o in self.t.outcomes.values() if o.relationship_id == relationship_id)
        answers = sorted((f for f in self.t.feedback.values() if f.relationship_id == relationship_id),
                         key=lambda f: (f.submitted_at, f.feedback_id))
        open_ = [r for r in self.t.requests.values() if r.relationship_id == relationship_id
                 and r.request_id not in self.t.answered]
        latest_fit = {f.participant_id: f.fit for f in answers if f.fit in ("good", "not_good")}
        pair = self.pairs.pairs[relationship_id]
        return Signals(ratings=tuple(f.rating for f in answers),
                       progress=tuple(f.progress for f in answers if f.progress is not None),
                       meetings_completed=sum(o.held for o in outcomes),
                       meetings_missed=sum(not o.held for o in outcomes),
                       missed_in_a_row=trailing_misses((o.meeting_id, o.held) for o in outcomes).count,
                       requests_overdue=sum(1 for r in open_ if r.kind == "meeting" and r.due_at < now),
                       checkins_overdue=sum(1 for r in open_ if r.kind == "checkin" and r.counted_at is not None),
                       not_a_good_fit=tuple(sorted(pair.role_of(p) for p, fit in latest_fit.items()
                                                   if fit == "not_good")))


class FakeOutcomes:
    def __init__(self, tables: FeedbackTables) -> None:
        self.t = tables

    async def add(self, outcome: MeetingOutcome) -> bool:
        if outcome.meeting_id in self.t.outcomes:
            return False
        self.t.outcomes[outcome.meeting_id] = outcome
        return True

    async def held(self, relationship_id: str) -> int:
        return sum(1 for o in self.t.outcomes.values() if o.relationship_id == relationship_id and o.held)

    async def streak(self, relationship_id: str) -> Streak:
        outcomes = _in_order(o for o in self.t.outcomes.values() if o.relationship_id == relationship_id)
        return trailing_misses((o.meeting_id, o.held) for o in outcomes)

    async def announce_streak(self, relationship_id: str, streak: Streak, at: datetime) -> bool:
        key = (relationship_id, streak.first_meeting_id)
        if key in self.t.streaks:
            return False
        self.t.streaks[key] = streak.count
        return True


class FakeRequests:
    def __init__(self, tables: FeedbackTables) -> None:
        self.t = tables

    async def add(self, request: FeedbackRequest) -> bool:
        if request.request_id in self.t.requests:
            return False
        self.t.requests[request.request_id] = replace(request, answered_at=None)
        if request.answered_at is not None:
            self.t.answered[request.request_id] = request.answered_at
        return True

    async def get(self, request_id: str) -> FeedbackRequest | None:
        found = self.t.requests.get(request_id)
        return None if found is None else replace(found, answered_at=self.t.answered.get(request_id))

    async def save(self, request: FeedbackRequest) -> None:
        stored = self.t.requests[request.request_id]
        self.t.requests[request.request_id] = replace(stored, due_at=request.due_at, reminded_at=request.reminded_at,
                                                      counted_at=request.counted_at)


class FakeFeedback:
    def __init__(self, tables: FeedbackTables) -> None:
        self.t = tables

    async def add(self, feedback: Feedback) -> bool:
        if feedback.feedback_id in self.t.feedback:
            return False
        self.t.feedback[feedback.feedback_id] = feedback
        for r in self.t.requests.values():
            if r.request_id in self.t.answered:
                continue
            if feedback.request_id is not None:
                answers = r.request_id == feedback.request_id
            else:
                answers = (r.relationship_id, r.participant_id, r.kind) == \
                    (feedback.relationship_id, feedback.participant_id, feedback.kind) \
                    and (feedback.meeting_id is None or r.meeting_id == feedback.meeting_id)
            if answers:
                self.t.answered[r.request_id] = feedback.submitted_at
        return True

    async def answered_about(self, request: FeedbackRequest) -> datetime | None:
        times = [f.submitted_at for f in self.t.feedback.values()
                 if request.meeting_id is not None and f.kind == "meeting" and (
                     f.relationship_id, f.participant_id, f.meeting_id) == (
                     request.relationship_id, request.participant_id, request.meeting_id)]
        return min(times, default=None)

    async def add_milestones(self, feedback: Feedback, goals: set[str]) -> list[str]:
        new = [m for m in feedback.milestones if (feedback.relationship_id, m) not in self.t.milestones]
        for m in new:
            self.t.milestones[(feedback.relationship_id, m)] = feedback.participant_id
        return new

    async def milestones(self, relationship_id: str) -> list[str]:
        return [m for (rid, m) in self.t.milestones if rid == relationship_id]

    async def question_fit(self, relationship_id: str, participant_id: str, at: datetime) -> bool:
        if (relationship_id, participant_id) in self.t.fit_questions:
            return False
        self.t.fit_questions[(relationship_id, participant_id)] = at
        return True


class FakeCheckins:
    """Schedules and claims; a single process here, so a claim takes every row that is due."""

    def __init__(self, pairs: FakePairDirectory, tables: FeedbackTables) -> None:
        self.pairs, self.t = pairs, tables

    def _active(self, relationship_id: str) -> bool:
        pair = self.pairs.pairs.get(relationship_id)
        return pair is not None and pair.active

    async def start(self, schedule: CheckinSchedule) -> None:
        self.t.schedules.setdefault(schedule.relationship_id, replace(schedule))

    async def save(self, schedule: CheckinSchedule) -> None:
        self.t.schedules[schedule.relationship_id] = replace(schedule)

    async def of_program(self, program_id: str) -> list[CheckinSchedule]:
        return [replace(s) for rid, s in sorted(self.t.schedules.items())
                if self._active(rid) and self.pairs.pairs[rid].program_id == program_id]

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[CheckinSchedule, str]]:
        due = sorted((s for s in self.t.schedules.values() if s.next_at is not None and s.next_at <= now
                      and self._active(s.relationship_id)), key=lambda s: s.next_at)
        return [(replace(s), self.pairs.pairs[s.relationship_id].program_id) for s in due[:limit]]

    def _open_checkins(self) -> list[FeedbackRequest]:
        return [replace(r) for r in self.t.requests.values() if r.kind == "checkin"
                and r.request_id not in self.t.answered and r.counted_at is None and self._active(r.relationship_id)]

    async def claim_to_remind(self, now: datetime, limit: int) -> list[FeedbackRequest]:
        return sorted((r for r in self._open_checkins() if r.reminded_at is None and r.due_at <= now),
                      key=lambda r: r.due_at)[:limit]

    async def claim_to_count(self, now: datetime, limit: int) -> list[FeedbackRequest]:
        return sorted((r for r in self._open_checkins() if r.reminded_at is not None and r.due_at <= now),
                      key=lambda r: r.due_at)[:limit]

    async def next_due(self) -> datetime | None:
        times = [s.next_at for s in self.t.schedules.values() if s.next_at is not None
                 and self._active(s.relationship_id)] + [r.due_at for r in self._open_checkins()]
        return min(times, default=None)


class FakeConclusions:
    def __init__(self, tables: FeedbackTables) -> None:
        self.t = tables

    async def add(self, concluded, at: datetime) -> None:
        self.t.conclusions.setdefault(concluded.relationship_id, concluded)


@dataclass
class AnalyticsTables:
    """The read model's facts as the SQL repository would keep them (same keys, same rules)."""

    onboarded: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    proposals: dict[str, dict] = field(default_factory=dict)
    meetings: dict[str, dict] = field(default_factory=dict)
    unplaceable: dict[tuple[str, int], str] = field(default_factory=dict)
    notifications: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    dead_letters: dict[str, DeadLetter] = field(default_factory=dict)
    health_changes: list[tuple[str, str | None, str]] = field(default_factory=list)


class FakeAnalytics:
    def __init__(self, tables: AnalyticsTables) -> None:
        self.t = tables

    async def onboarded(self, participant_id: str, program_id: str, at: datetime) -> None:
        self.t.onboarded.setdefault(participant_id, (program_id, at))

    async def proposal_opened(self, proposal_id, program_id, mentee_id, mentor_id, at) -> None:
        row = self.t.proposals.setdefault(proposal_id, {"program_id": program_id, "mentee_id": mentee_id,
                                                        "mentor_id": mentor_id, "status": "open", "proposed_at": None})
        row["proposed_at"] = row["proposed_at"] or at

    async def proposal_closed(self, proposal_id, program_id, mentee_id, mentor_id, *, status, at) -> None:
        row = self.t.proposals.setdefault(proposal_id, {"program_id": program_id, "mentee_id": mentee_id,
                                                        "mentor_id": mentor_id, "status": "open", "proposed_at": None})
        if row["status"] == "open":
            row.update(status=status, closed_at=at)

    async def meeting(self, *, meeting_id, relationship_id, program_id, mentor_id, mentee_id, occurrence, start,
                      status, at) -> None:
        row = self.t.meetings.get(meeting_id)
        if row is None or row["status"] == "scheduled":
            self.t.meetings[meeting_id] = {"relationship_id": relationship_id, "program_id": program_id,
                                           "mentee_id": mentee_id, "occurrence": occurrence, "start": start,
                                           "status": status}

    async def unplaceable(self, relationship_id: str, occurrence: int, program_id: str, at: datetime) -> None:
        self.t.unplaceable.setdefault((relationship_id, occurrence), program_id)

    async def notification(self, notification_id: str, recipient_id: str, status: str, at: datetime) -> None:
        self.t.notifications.setdefault(notification_id, (recipient_id, status, at))

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.t.dead_letters.setdefault(letter.id, letter)

    async def health_changed(self, relationship_id, previous, current, score, at) -> None:
        self.t.health_changes.append((relationship_id, previous, current))


class FakeFeedbackUnitOfWork(FakeUnitOfWork):
    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.tables = FeedbackTables()
        self.relationships = FakeRelationships(self.pairs, self.tables)
        self.outcomes = FakeOutcomes(self.tables)
        self.requests = FakeRequests(self.tables)
        self.feedback = FakeFeedback(self.tables)
        self.checkins = FakeCheckins(self.pairs, self.tables)
        self.conclusions = FakeConclusions(self.tables)
        self.analytics_tables = AnalyticsTables()
        self.analytics = FakeAnalytics(self.analytics_tables)

    def transaction(self):
        """What the check-in loop gets from the service: each call a new transaction on the same tables."""
        @asynccontextmanager
        async def begin():
            yield self
        return begin()
