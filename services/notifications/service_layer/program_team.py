"""The program team's side of notifications: an alert when a relationship falls at risk, and the
items their daily digest gathers (sent by `digests.DigestSchedule`).

One alert per change of state: a relationship's stretch at risk is alerted once (`risk_alerts`),
however often `relationship.at_risk` is told, until its health leaves `at_risk` again. A redelivered
event is skipped by the inbox, and its deliveries' ids derive from it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.notifications.admins import ADMINS, UNROUTED
from services.notifications.domain import program_team
from services.notifications.domain.digest import DigestItem
from services.notifications.service_layer import enqueue, waiting
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared import programs
from shared.contracts import events as ev
from shared.dead_letters import DeadLetter
from shared.replica import require_all
from shared.subscriptions import on, on_dead_letters, subscriptions
from shared.waves import Applied, set_wise

log = logging.getLogger(__name__)


async def on_program_configured(
    event: ev.ProgramConfigured, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """The settings are kept as every service keeps them; the digest loop then looks again at when
    each program's 08:00 is (a new program, another time zone)."""
    await programs.on_program_configured(event, uow, deps)
    uow.after_commit(deps.wake_digests.set)


async def on_relationship_health_changed(
    event: ev.RelationshipHealthChanged, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    if event.current != "at_risk":
        await uow.risk_alerts.close(event.relationship_id)


async def on_relationship_at_risk(
    event: ev.RelationshipAtRisk, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    pair = await uow.pairs.require(event.relationship_id)
    if not pair.active:
        return  # it ended meanwhile: nothing left for the team to act on
    people = {p.participant_id: p for p in await uow.participants.require(pair.mentor_id, pair.mentee_id)}
    assert uow.cause is not None, "handlers run for a consumed event"
    if not await uow.risk_alerts.open(event.relationship_id, cause_event_id=uow.cause.id, at=uow.now()):
        return  # this stretch at risk was alerted already
    program = await uow.program_settings.get(pair.program_id, deps.settings)
    alerts = program_team.at_risk_alert(event, pair, people, program, dashboard_url=deps.settings.dashboard_url)
    await enqueue.for_team(uow, deps, alerts, program)


async def on_matches_unavailable(
    wave: Sequence[Applied], uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """`on_match_unavailable` for a wave (shared.waves), each mentee named once in it: the mentees
    read in one statement, the digest items written in one, the stretches of waiting told in one and
    the mentees' messages in one. A mentee not known yet stops the wave as the reference stops."""
    unmatched = [a for a in wave if waiting.unmatched(a.data)]
    if not unmatched:
        return
    people = await uow.participants.many(sorted({a.data.mentee_id for a in unmatched}))
    mentees = [require_all(people, (a.data.mentee_id,))[0] for a in unmatched]
    await uow.digests.add_many([DigestItem.unmatched(a.envelope.id, a.data, at=uow.now()) for a in unmatched])
    await waiting.tell_mentees(list(zip(unmatched, mentees, strict=True)), uow, deps)


@set_wise(on_matches_unavailable)  # by its key, the mentee: one stretch of waiting is told once per wave
async def on_match_unavailable(
    event: ev.MatchUnavailable, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """An unmatched mentee goes into the digest, and is told themselves once per stretch of waiting
    (waiting.py). A mentee who already has a mentor or awaits a mentor's answer is not unmatched:
    neither the digest nor the mentee hears of it."""
    if not waiting.unmatched(event):
        return
    assert uow.cause is not None, "handlers run for a consumed event"
    await uow.digests.add(DigestItem.unmatched(uow.cause.id, event, at=uow.now()))
    await waiting.tell_mentee(event, uow, deps)


async def on_relationship_unschedulable(
    event: ev.RelationshipUnschedulable, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    assert uow.cause is not None, "handlers run for a consumed event"
    await uow.digests.add(DigestItem.unschedulable(uow.cause.id, event, at=uow.now()))


async def on_dead_letter(letter: DeadLetter, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """Into the digest of the program the letter names. One that names none is no program team's:
    it goes into the administrators' digest only (admins.py), or, without administrators, is only
    counted and logged by its id (`tandem dlq list` shows it)."""
    if letter.program_id is not None and letter.program_id != ADMINS:
        await uow.digests.add(DigestItem.dead_letter(letter, letter.program_id, at=uow.now()))
    elif deps.admins:
        await uow.digests.add(DigestItem.dead_letter(letter, ADMINS, at=uow.now()))
    else:
        UNROUTED.labels(letter.topic).inc()
        log.warning(
            "dead letter %s (%s, %s) names no program and TANDEM_ADMIN_CONTACTS is not set: see `tandem dlq list`",
            letter.id,
            letter.event_type or "not an event",
            letter.error_type,
        )


SUBSCRIPTIONS = subscriptions(
    on(ev.ProgramConfigured, on_program_configured),
    on(ev.RelationshipHealthChanged, on_relationship_health_changed),
    on(ev.RelationshipAtRisk, on_relationship_at_risk),
    on(ev.MatchUnavailable, on_match_unavailable),
    on(ev.RelationshipUnschedulable, on_relationship_unschedulable),
    on_dead_letters(on_dead_letter),
)
