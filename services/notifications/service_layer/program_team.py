"""The program team's side of notifications: an alert when a relationship falls at risk, and the
items their daily digest gathers (sent by `digests.DigestSchedule`).

One alert per change of state: a relationship's stretch at risk is alerted once (`risk_alerts`),
however often `relationship.at_risk` is told, until its health leaves `at_risk` again. A redelivered
event is skipped by the inbox, and its deliveries' ids derive from it anyway.

An alert for a program whose team has no contacts here (its settings travel on programs.v1, another
topic, and may come later, or name nobody) is held, not lost: the stretch is opened untold, with its
ids, score and reasons' codes. The program's next `program.configured` with contacts sends each held
alert whose pair is still active and still at risk, once, as it would have been sent, and marks it
told, in the transaction that saves the settings; a stretch that closed meanwhile sends nothing.
Both sides take the program's lock (`risk_alerts.lock_program`), so with N replicas an alert held
while the contacts are being saved is not left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.notifications.adapters.repository import HeldAlert
from services.notifications.admins import ADMINS, UNROUTED
from services.notifications.domain import program_team
from services.notifications.domain.digest import DigestItem
from services.notifications.service_layer import enqueue, waiting
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared import programs
from shared.contracts import events as ev
from shared.contracts.types import Reason
from shared.dead_letters import DeadLetter
from shared.replica import require_all
from shared.subscriptions import on, on_dead_letters, subscriptions
from shared.waves import Applied, set_wise

log = logging.getLogger(__name__)
AT_RISK = ev.type_of(ev.RelationshipAtRisk)


async def on_program_configured(
    event: ev.ProgramConfigured, uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """The settings are kept as every service keeps them; the digest loop then looks again at when
    each program's 08:00 is (a new program, another time zone)."""
    await uow.risk_alerts.lock_program(event.program_id)
    await programs.on_program_configured(event, uow, deps)
    uow.after_commit(deps.wake_digests.set)
    await tell_held_alerts(event.program_id, uow, deps)


async def tell_held_alerts(program_id: str, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """The program's held alerts, to its contacts now that it has some (module docstring): each as
    `on_relationship_at_risk` would have sent it, its deliveries derived from the event held."""
    program = await uow.program_settings.get(program_id, deps.settings)
    if not program.ops_contacts:
        return
    held = await uow.risk_alerts.held(program_id)
    told, ended = [], []
    for alert in held:
        pair = await uow.pairs.get(alert.relationship_id)
        if pair is None or not pair.active:
            ended.append(alert.relationship_id)
            continue
        people = await uow.participants.many([pair.mentor_id, pair.mentee_id])
        if len(people) < 2:
            continue  # someone is not readable (erased): kept held, as nothing can be written
        event = ev.RelationshipAtRisk(
            relationship_id=alert.relationship_id,
            score=alert.score,
            reasons=[],
            reason_codes=[Reason.model_validate(c) for c in alert.reason_codes],
        )
        messages = program_team.at_risk_alert(event, pair, people, program, dashboard_url=deps.settings.dashboard_url)
        await enqueue.for_team(uow, deps, messages, program, cause_id=alert.cause_event_id, cause_type=AT_RISK)
        told.append(alert.relationship_id)
    await uow.risk_alerts.mark_told(told, at=uow.now())
    await uow.risk_alerts.drop_held(ended)
    if held:
        log.info("program %s: %d held at-risk alerts told, %d dropped (pair ended)", program_id, len(told), len(ended))


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
    await uow.risk_alerts.lock_program(pair.program_id)
    program = await uow.program_settings.get(pair.program_id, deps.settings)
    if not program.ops_contacts:  # no team to tell yet: held until contacts arrive (module docstring)
        held = HeldAlert(
            event.relationship_id,
            pair.program_id,
            uow.cause.id,
            event.score,
            tuple(r.model_dump(mode="json") for r in event.reason_codes),
        )
        if await uow.risk_alerts.hold(held, at=uow.now()):
            log.info(
                "at-risk alert for relationship %s held: program %s has no ops contacts yet",
                event.relationship_id,
                pair.program_id,
            )
        return
    if not await uow.risk_alerts.open(event.relationship_id, cause_event_id=uow.cause.id, at=uow.now()):
        return  # this stretch at risk was alerted (or held) already
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
