"""Matching: keeps profiles, answers match requests and cohort rounds with proposals, turns answers
into relationships, and re-matches when a proposal fails or someone leaves.

Subscriptions (`SUBSCRIPTIONS` at the bottom is the source of truth):

| event                         | handler                       | changes                                | emits                                                                                        |
|-------------------------------|-------------------------------|----------------------------------------|----------------------------------------------------------------------------------------------|
| participant.onboarded/updated | on_participant_profile        | participants                           | profile.change.queued (match-work.v1, per program it is in or left)                          |
| profile.change.queued         | on_profile_change_queued      | index stamp                            | -                                                                                            |
| participant.offboarded        | on_participant_offboarded     | participants, relationships, proposals | match.ended, match.declined, match.proposed                                                  |
| participant.erased            | on_participant_erased         | as offboarded, then the profile erased | as offboarded, participant.erasure.completed                                                 |
| participant.preferences.changed | shared.replica              | participants (their choices)           | -                                                                                            |
| match.requested               | on_match_requested            | -                                      | match.request.queued (match-work.v1, keyed by program)                                       |
| match.request.queued          | on_match_request_queued       | proposals                              | match.proposed or match.unavailable (also `already_matched`, `awaiting_answer`)              |
| cohort.round.requested        | on_cohort_round_requested     | proposals                              | match.proposed, match.unavailable                                                            |
| proposal.accepted             | on_proposal_accepted          | proposals, relationships               | match.established                                                                            |
| proposal.declined             | on_proposal_declined          | proposals                              | match.declined (with the mentor's `reason_code`), then match.proposed/unavailable            |
| relationship.end.requested    | on_relationship_end_requested | relationships, kept_apart, proposals   | match.ended (ended_on_request); with `rematch` (not the mentor's) match.proposed/unavailable |

Background loops (`loops.py`): proposals unanswered within the response window expire
(match.expired) and the next mentor is asked; a week before a relationship's term (`term_days`, the
program's setting in force) ends both are told (relationship.end.scheduled, once), and at its end
the relationship is over (match.ended, reason code `term_completed`; no rematch: the mentee
completed a term) and the mentor's place is free again.

Who proposes for a program: match-requests.v1 is keyed by mentee, so with several replicas one
program's requests would arrive at all of them and wait for each other's program lock. Instead,
`on_match_requested` checks the request where it arrives (an unknown mentee is waited for on the
mentee's key, holding up nobody else; a wrong one is refused) and queues it, through the outbox, on
match-work.v1 keyed by program: one partition, so one consumer, applies a program's requests, in
order, and the replicas share out programs. A profile is stored where it arrives and its index
stamp queued the same way, so profiles take no program lock. The program lock stays, uncontended,
as the guard for a rebalance (the partition's old and new owner) and for the answers, departures
and loops of the same program that other consumers apply. A crash redelivers either hop; each is
applied once (inbox), and a queued event's id is derived from its cause's, so even a cause applied
twice would queue one event. The consumer of a program keeps its index current itself
(indexes.py): the stamp is read once per program per batch, a proposal moves its mentor's load in
memory, and only the chosen mentor is explained.

Set-wise (`shared.waves`; each one-event handler stays the reference, and a property test holds the
wave form to it): participant.onboarded/updated (who they were read at once, saved together),
match.requested (the profiles of a wave's mentees read at once), match-work.v1's
match.request.queued and profile.change.queued together, as they alternate there
(`on_match_work` and `matchmaking.propose_to_many`: standings read at once, proposals written with
one statement, a stamp read back before the requests after it), and the answers (proposal.accepted/declined: their programs
locked at once, then each applied by its handler). A wave locks every program it needs in one
statement, in the one lock order (`ProgramRepository.lock`), so a batch seldom fails on a program
another consumer holds: it waits for it instead.

Who is proposed again (`CommitmentQueries.excluded_mentors` / `excluded_pairs`, on demand and in
cohort rounds alike): never a current partner, nor a mentor who declined, let a proposal expire or
is still considering one for this mentee, nor two people the program team kept apart
(`do_not_pair_again`, in both role directions). The partner of a mentee's latest relationship is not
proposed again until the mentee has had a newer one, so a rematch (and the declines and expiries
after it) never circles back to the mentor just left; earlier partners may be proposed again, since
a relationship that ended (a term completed, someone left and came back) says nothing against them.
Ending a relationship without `do_not_pair_again` is therefore not "never again".

relationship.end.requested comes from the program team (`requested_by` "ops:<user>") or from one of
the two people (`requested_by` their participant id, from the "end early" link in a message). Either
may ask for `do_not_pair_again`; `rematch` is the team's or the mentee's to ask: from the mentor it
counts as False (a mentor cannot decide that the mentee wants a new mentor). `match.ended` carries
`requested_by` and the reason code `ended_on_request` whoever asked. Refused (dead letter, ids only):
an unknown relationship ("unknown relationship <id>"), and a participant who is not one of the two
("<participant> is not part of relationship <id>"). For a relationship that has already ended it
changes nothing (no second match.ended, no rematch), except that `do_not_pair_again` is still
recorded: "never again" stands however it ended.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from services.matching.domain.model import Proposal
from services.matching.service_layer.matchmaking import (
    MatchingDeps,
    Request,
    Stamp,
    close_and_rematch,
    cohort_round,
    propose_next,
    propose_to_many,
)
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from shared import programs, replica
from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from shared.people import Participant
from shared.subscriptions import Handler, handle, on, subscriptions
from shared.waves import Applied, set_wise

log = logging.getLogger(__name__)
QUEUED = uuid.UUID("3c0f5a52-7a4e-4b0e-9a43-0f6f2d8c1b7e")  # names what is queued on match-work.v1 after its cause


async def on_participant_profiles(wave: Sequence[Applied], uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A wave of profiles (each person once): who they were read in one statement, all saved
    together (`save_many`), then each one's stamps queued in the wave's order. An erased person
    fails the wave, and the consumer applies its events one at a time, where that one is refused."""
    people = [Participant.from_profile(applied.data) for applied in wave]
    previous = await uow.participants.many([person.participant_id for person in people])
    await uow.participants.save_many(people)
    for applied, person in zip(wave, people, strict=True):
        uow.cause = applied.envelope  # its stamps' ids are derived from it
        _queue_stamps(uow, person, previous.get(person.participant_id))


@set_wise(on_participant_profiles)  # the wave's resources: its people (the event's key)
async def on_participant_profile(
    event: ev.ParticipantOnboarded | ev.ParticipantUpdated, uow: MatchingUnitOfWork, deps: MatchingDeps
) -> None:
    # New availability, capacity and skills count for future matching; active pairs stay as they are.
    person = Participant.from_profile(event)
    previous = await uow.participants.get(person.participant_id)
    await uow.participants.save(person)
    _queue_stamps(uow, person, previous)


def _queue_stamps(uow: MatchingUnitOfWork, person: Participant, previous: Participant | None) -> None:
    programs = {person.program_id} | ({previous.program_id} if previous else set())
    for program_id in sorted(programs):  # a move between programs leaves the old program's index too
        # Stamped by the program's consumer (match-work.v1): no program lock here, so a batch of
        # profiles of many programs never waits for, nor holds up, anyone's program. Until the
        # stamp, a proposal sees the change anyway where it matters: the record has the last word on
        # a mentor's place and on who may be matched.
        uow.emit(
            ev.ProfileChangeQueued(program_id=program_id, participant_id=person.participant_id),
            event_id=_derived(uow, f"profile/{program_id}"),
        )


async def on_match_work(wave: Sequence[Applied], uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A wave of match-work.v1, requests and profile stamps as they came (a program's profiles and
    requests alternate there): every program locked at once (one statement, in the lock order),
    then `propose_to_many`, which answers the requests in turn, each after the stamps before it."""
    await uow.programs.lock(*(applied.data.program_id for applied in wave))
    work = [_work(applied) for applied in wave]
    if any(isinstance(item, Request) for item in work):
        await propose_to_many(uow, deps, work)
        return
    for item in work:
        uow.programs.touch(item.program_id, [item.participant_id])  # type: ignore[union-attr]


def _work(applied: Applied) -> Request | Stamp:
    data = applied.data
    if isinstance(data, ev.ProfileChangeQueued):
        return Stamp(data.program_id, data.participant_id)
    return Request(applied.envelope, data.mentee_id, data.program_id)


def _profile(event: ev.ProfileChangeQueued) -> tuple[tuple[str, str]]:
    return ((event.program_id, event.participant_id),)


@set_wise(on_match_work, resources=_profile)
async def on_profile_change_queued(event: ev.ProfileChangeQueued, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A profile of a program this consumer owns changed: stamped for every replica's index."""
    await uow.programs.lock(event.program_id)
    uow.programs.touch(event.program_id, [event.participant_id])


async def on_participant_offboarded(
    event: ev.ParticipantOffboarded, uow: MatchingUnitOfWork, deps: MatchingDeps
) -> None:
    await uow.programs.lock(event.program_id)
    await _leave(uow, deps, event.program_id, event.participant_id, event.reason)


async def on_participant_erased(event: ev.ParticipantErased, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """Forgotten on request: they leave like anyone who goes (their partner is told and re-matched,
    with a reason that does not say why), then their profile is erased here."""
    await uow.programs.lock(event.program_id)
    await _leave(uow, deps, event.program_id, event.participant_id, "left the program")
    if await replica.forget(uow, event, "matching") is not None:
        uow.programs.touch(event.program_id, [event.participant_id])


async def _leave(uow: MatchingUnitOfWork, deps: MatchingDeps, program_id: str, leaver: str, reason: str) -> None:
    """End the leaver's relationships, withdraw their proposals and re-match whoever they leave
    behind. The caller holds the program's lock."""
    if not await uow.participants.deactivate(leaver):
        return
    now = uow.now()
    touched, to_rematch = {leaver}, set()
    for relationship in await uow.relationships.active_of(leaver):
        for change in relationship.leave(leaver, reason=reason, now=now):
            uow.emit(change)
        await uow.relationships.save(relationship)
        touched.add(relationship.mentor_id)
        if relationship.mentor_id == leaver:
            to_rematch.add(relationship.mentee_id)
    for proposal in await uow.proposals.pending_of(leaver):
        role = "mentor" if proposal.mentor_id == leaver else "mentee"
        for change in proposal.withdraw(leaver_role=role, now=now):
            uow.emit(change)
        await uow.proposals.save(proposal)
        touched.add(proposal.mentor_id)
        if role == "mentor":
            to_rematch.add(proposal.mentee_id)
    uow.programs.touch(program_id, touched)  # read back before the index is used again
    for mentee_id in sorted(to_rematch):
        await propose_next(uow, deps, mentee_id, program_id, also_exclude={leaver})


async def on_match_requests(wave: Sequence[Applied], uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A wave of requests, each mentee once: their profiles read in one statement, then each checked
    and queued in the wave's order. One that would be refused or waited for fails the wave, and the
    consumer applies its events one at a time, where that one is parked."""
    found = await uow.participants.many(sorted({applied.data.mentee_id for applied in wave}))
    for applied in wave:
        uow.cause = applied.envelope  # its queued event's id is derived from it
        _queue_request(uow, applied.data, found.get(applied.data.mentee_id))


@set_wise(on_match_requests)  # the wave's resources: its mentees (the event's key)
async def on_match_requested(event: ev.MatchRequested, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """Checked here, where it arrives keyed by its mentee (so a mentee still on their way holds up
    nobody else), then queued for its program on match-work.v1: the consumer that owns the program
    proposes (`on_match_request_queued`)."""
    _queue_request(uow, event, await uow.participants.get(event.mentee_id))


def _queue_request(uow: MatchingUnitOfWork, event: ev.MatchRequested, mentee: Participant | None) -> None:
    if mentee is None:
        raise NotYetKnown(f"no profile yet for {event.mentee_id}")
    if not mentee.is_mentee:
        raise PermanentError(f"{event.mentee_id} is not a mentee")
    if not mentee.active:
        raise PermanentError(f"{event.mentee_id} has left the program")
    if mentee.program_id != event.program_id:
        raise PermanentError(f"{event.mentee_id} belongs to program {mentee.program_id}, not {event.program_id}")
    request_id = uow.cause.id if uow.cause is not None else str(uuid.uuid4())
    uow.emit(
        ev.MatchRequestQueued(program_id=event.program_id, mentee_id=event.mentee_id, request_id=request_id),
        event_id=_derived(uow, "request"),
    )


def _derived(uow: MatchingUnitOfWork, what: str) -> str | None:
    """The id of an event queued on match-work.v1, derived from the event that caused it: applied
    twice, the cause would queue the same event, which the program's consumer takes once."""
    return None if uow.cause is None else str(uuid.uuid5(QUEUED, f"{uow.cause.id}/{what}"))


def _mentee(event: ev.MatchRequestQueued) -> tuple[str]:
    return (event.mentee_id,)


@set_wise(on_match_work, resources=_mentee)
async def on_match_request_queued(event: ev.MatchRequestQueued, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A request of a program this consumer owns: propose. A mentee already matched or waiting for
    a mentor's answer is answered so (match.unavailable, `already_matched` or `awaiting_answer`);
    one who left meanwhile is not (`propose_next` says why it stops)."""
    await uow.programs.lock(event.program_id)  # uncontended, but for a rebalance or another writer
    await propose_next(uow, deps, event.mentee_id, event.program_id, asked=True)


async def on_cohort_round_requested(
    event: ev.CohortRoundRequested, uow: MatchingUnitOfWork, deps: MatchingDeps
) -> None:
    await uow.programs.lock(event.program_id)
    round_id = event.round_id or (uow.cause.id if uow.cause else None)
    proposed, unmatched = await cohort_round(uow, deps, event.program_id, round_id, event.mentee_ids)
    log.info("cohort round %s for %s: %d proposals, %d unmatched", round_id, event.program_id, proposed, unmatched)


async def _answerable(uow: MatchingUnitOfWork, proposal_id: str) -> Proposal:
    """The proposal, locked with its program (the program lock first, as everywhere)."""
    found = await uow.proposals.get(proposal_id)
    if found is None:
        raise PermanentError(f"unknown proposal {proposal_id}")
    await uow.programs.lock(found.program_id)
    return await uow.proposals.get(proposal_id, lock=True)  # type: ignore[return-value]


async def on_proposal_answers(wave: Sequence[Applied], uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    """A wave of answers, each proposal once: the programs of all their proposals read and locked at
    once (two statements, the locks in the lock order), then each answer applied by its own handler,
    in the wave's order. So a batch of answers to many programs waits for a busy program instead of
    failing on it (`ProgramRepository.lock`)."""
    programs = await uow.proposals.programs_of(sorted({applied.data.proposal_id for applied in wave}))
    await uow.programs.lock(*programs.values())
    for applied in wave:
        uow.cause = applied.envelope
        await _ANSWERS[type(applied.data)](applied.data, uow, deps)


def _proposal(event: ev.ProposalAccepted | ev.ProposalDeclined) -> tuple[str]:
    return (event.proposal_id,)


@set_wise(on_proposal_answers, resources=_proposal)
async def on_proposal_accepted(event: ev.ProposalAccepted, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    proposal = await _answerable(uow, event.proposal_id)
    relationship = proposal.accept(event.participant_id, now=uow.now())
    if relationship is None:
        return  # the same answer again
    await uow.proposals.save(proposal)
    await uow.relationships.add(relationship)
    mentee = await uow.participants.get(proposal.mentee_id)
    uow.emit(relationship.established(mentee.goals if mentee else ()))


@set_wise(on_proposal_answers, resources=_proposal)
async def on_proposal_declined(event: ev.ProposalDeclined, uow: MatchingUnitOfWork, deps: MatchingDeps) -> None:
    proposal = await _answerable(uow, event.proposal_id)
    declined = proposal.decline(event.participant_id, now=uow.now(), reason=event.reason, reason_code=event.reason_code)
    await close_and_rematch(uow, deps, proposal, declined)


_ANSWERS: dict[type, Handler] = {ev.ProposalAccepted: on_proposal_accepted, ev.ProposalDeclined: on_proposal_declined}


async def on_relationship_end_requested(
    event: ev.RelationshipEndRequested, uow: MatchingUnitOfWork, deps: MatchingDeps
) -> None:
    """The program team, or one of the two people (from the "end early" link in a message), ends a
    relationship: the mentor's place is free again; with `do_not_pair_again` the two are kept apart
    for good, whoever asks.

    With `rematch` the mentee is proposed a new mentor, when the team or the mentee asks. A mentor
    cannot decide that for the mentee: `rematch` from the mentor counts as False (the mentee can
    still ask for a mentor). Someone who is a participant but not one of the two is refused.
    """
    found = await uow.relationships.get(event.relationship_id)
    if found is None:  # relationships are made here, so an unknown one is never on its way
        raise PermanentError(f"unknown relationship {event.relationship_id}")
    role = found.role_of(event.requested_by)
    if role is None and await uow.participants.get(event.requested_by) is not None:
        # A participant acts for themselves only; the program team is not a participant.
        raise PermanentError(f"{event.requested_by} is not part of relationship {event.relationship_id}")
    await uow.programs.lock(found.program_id)
    relationship = await uow.relationships.get(event.relationship_id, lock=True)
    assert relationship is not None  # relationships are never deleted
    now = uow.now()
    if event.do_not_pair_again:
        # "Never again" stands however the relationship ended, even if it already had.
        await uow.kept_apart.add(relationship.keep_apart(by=event.requested_by, now=now))
    ended = relationship.end_on_request(requested_by=event.requested_by, reason=event.reason, now=now)
    if not ended:
        return  # already ended: no second match.ended, no second rematch
    await deps.indexes.current(uow, relationship.program_id)
    await uow.relationships.save(relationship)
    for change in ended:
        uow.emit(change)
    deps.indexes.loads_changed(uow, relationship.program_id, {relationship.mentor_id: -1})  # the mentor's place is free
    if event.rematch and role != "mentor":
        # Still the mentee's latest relationship, so its mentor is not proposed again (module docstring).
        await propose_next(uow, deps, relationship.mentee_id, relationship.program_id)


SUBSCRIPTIONS = subscriptions(
    programs.PROGRAM_SUBSCRIPTIONS,
    on(ev.ParticipantOnboarded, on_participant_profile),
    on(ev.ParticipantUpdated, on_participant_profile),
    on(ev.ParticipantOffboarded, on_participant_offboarded),
    on(ev.ParticipantErased, on_participant_erased),
    # How a person wants to be written to: kept like every replica (matching itself writes to nobody).
    on(ev.ParticipantPreferencesChanged, replica.on_participant_preferences_changed),
    handle(ev.MatchRequested, on_match_requested),
    handle(ev.MatchRequestQueued, on_match_request_queued),
    handle(ev.ProfileChangeQueued, on_profile_change_queued),
    handle(ev.CohortRoundRequested, on_cohort_round_requested),
    handle(ev.ProposalAccepted, on_proposal_accepted),
    handle(ev.ProposalDeclined, on_proposal_declined),
    handle(ev.RelationshipEndRequested, on_relationship_end_requested),
)
