"""A mentee for whom no mentor fits right now hears it themselves, once per stretch of waiting.

Matching says `match.unavailable` after a cohort round, a declined or expired proposal, a rematch
or a request: several can come in one stretch of waiting. The first one tells the mentee (in their
language, tone and quiet hours, like every mail); the next ones do not, until a mentor has been
proposed to them or they have been paired (`match.proposed`, `match.established`: `no_longer_waiting`),
after which a new stretch of waiting is told again. Same topic and key (the mentee) for the proposal
and the unavailability, so they arrive in matching's order.

`already_matched` and `awaiting_answer` are not "unmatched": they answer a request for a mentee who
has a mentor, or is waiting for a mentor's answer. Nobody is told, and the program team's digest
does not list them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.notifications.domain import compose
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.enqueue import Messages, for_people, for_wave
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.contracts import events as ev
from shared.people import Participant
from shared.waves import Applied

# matching's codes for a request answered without looking for a mentor (services/matching, `_busy`).
NOT_UNMATCHED = frozenset({"already_matched", "awaiting_answer"})


def unmatched(event: ev.MatchUnavailable) -> bool:
    """Is the mentee really without a mentor to propose (rather than matched, or awaiting an answer)?"""
    return event.reason_code not in NOT_UNMATCHED


async def tell_mentee(event: ev.MatchUnavailable, uow: NotificationsUnitOfWork, deps: NotificationsDeps) -> None:
    """The first unavailability of a stretch of waiting is told to the mentee; the rest are not."""
    (mentee,) = await uow.participants.require(event.mentee_id)
    if not mentee.active:
        return  # left the program: nothing more, and no stretch of waiting begins
    assert uow.cause is not None, "handlers run for a consumed event"
    if await uow.waiting.tell(event.mentee_id, event.program_id, cause_event_id=uow.cause.id, at=uow.now()):
        await for_people(uow, deps, compose.match_unavailable(event, mentee), mentee)


async def tell_mentees(
    wave: Sequence[tuple[Applied, Participant]], uow: NotificationsUnitOfWork, deps: NotificationsDeps
) -> None:
    """`tell_mentee` for a wave's unavailabilities, each with its (known) mentee, named once: one
    statement marks the stretches told, one writes the mentees' messages."""
    active = [(applied, mentee) for applied, mentee in wave if mentee.active]
    told = await uow.waiting.tell_many(
        [(m.participant_id, a.data.program_id, a.envelope.id) for a, m in active], at=uow.now()
    )
    messages = [
        Messages(applied.envelope, compose.match_unavailable(applied.data, mentee), (mentee,))
        for applied, mentee in active
        if mentee.participant_id in told
    ]
    if messages:
        await for_wave(uow, deps, messages)


async def no_longer_waiting(uow: NotificationsUnitOfWork, mentee_ids: Iterable[str]) -> None:
    """A mentor was proposed to them, or they were paired: their stretch of waiting is over."""
    await uow.waiting.no_longer_waiting(sorted(set(mentee_ids)))
