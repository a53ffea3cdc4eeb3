"""A relationship's life-cycle as feedback follows it: its goals and their progress, its check-ins,
and a good ending (the closure survey and what it achieved). The subscription table is in
handlers.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.feedback.domain.checkins import CheckinCadence, CheckinSchedule
from services.feedback.service_layer.assessment import reassess
from services.feedback.service_layer.deps import FeedbackDeps
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared import programs
from shared.contracts import events as ev
from shared.people import Pair


async def plan_checkins(uow: FeedbackUnitOfWork, deps: FeedbackDeps, pair: Pair) -> None:
    """A new relationship's first check-in, with its program's settings in force now."""
    program = await uow.program_settings.get(pair.program_id, deps.settings)
    schedule = CheckinSchedule(pair.relationship_id, pair.established_at)
    schedule.plan(CheckinCadence.of(program))
    await uow.checkins.start(schedule)
    uow.after_commit(deps.wake_checkins.set)


async def plan_checkins_many(uow: FeedbackUnitOfWork, deps: FeedbackDeps, pairs: Sequence[Pair]) -> None:
    """`plan_checkins` for several new relationships (each once), in two statements."""
    programs = await uow.program_settings.get_many({pair.program_id for pair in pairs}, deps.settings)
    schedules = []
    for pair in pairs:
        schedule = CheckinSchedule(pair.relationship_id, pair.established_at)
        schedule.plan(CheckinCadence.of(programs[pair.program_id]))
        schedules.append(schedule)
    await uow.checkins.start_many(schedules)
    uow.after_commit(deps.wake_checkins.set)


async def on_program_configured(event: ev.ProgramConfigured, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """New settings; the next check-in of every active relationship of the program follows them."""
    await programs.on_program_configured(event, uow, deps)
    cadence = CheckinCadence.of(await uow.program_settings.get(event.program_id, deps.settings))
    for schedule in await uow.checkins.of_program(event.program_id):
        schedule.plan(cadence)
        await uow.checkins.save(schedule)
    uow.after_commit(deps.wake_checkins.set)


async def on_goal_progress_recorded(
    event: ev.GoalProgressRecorded, uow: FeedbackUnitOfWork, deps: FeedbackDeps
) -> None:
    """Progress on one of the relationship's goals; a goal reaching 100 is celebrated (once)."""
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    for achieved in relationship.record_progress(event.participant_id, event.goal, event.progress, now=uow.now()):
        uow.emit(achieved)
    await reassess(uow, deps, relationship)


async def on_match_ended(event: ev.MatchEnded, uow: FeedbackUnitOfWork, deps: FeedbackDeps) -> None:
    """However it ended: both are asked to look back (closure), and what it achieved is told."""
    relationship = await uow.relationships.require(event.relationship_id, lock=True)
    now = uow.now()
    program = await uow.program_settings.get(relationship.pair.program_id, deps.settings)
    conclusion = relationship.conclude(
        event,
        now=now,
        due_days=deps.settings.feedback_due_days,
        term_days=program.term_days,
        meetings_held=await uow.outcomes.held(event.relationship_id),
        milestones=await uow.feedback.milestones(event.relationship_id),
    )
    if conclusion is None:
        return  # it had ended here before
    await uow.pairs.end(event.relationship_id, reason=event.reason, at=event.ended_at)
    for request in conclusion.requests:
        if await uow.requests.add(request):
            uow.emit(request.requested())
    uow.emit(conclusion.concluded)
    await uow.conclusions.add(conclusion.concluded, now)
