"""Matching decisions: proposing a mentor on demand or for a whole cohort, and re-matching when a
proposal is declined or expires or a party leaves.

Each function runs inside the caller's unit of work and under the program's lock, which the
caller takes first. The in-memory index ranks candidates and explains the one chosen; Postgres has
the last word on capacity, in the statement that writes the proposal, which also holds the
explanation to the mentor's free places as the record has them (an index behind a change not yet
stamped is read back, not quoted). Every change to a mentor's load is applied to this process's
index and stamped (`ProgramIndexes.loads_changed`), so other replicas' indexes follow.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from services.matching.domain import PairProposal, Unmatched, solve_cohort
from services.matching.domain.model import Proposal
from services.matching.service_layer.indexes import ProgramIndexes, match_settings
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts.envelope import Envelope
from shared.programs import ProgramSettings

MAX_DISAGREEMENTS = 5  # mentors the record refuses (index behind) before a request is answered "at capacity"


@dataclass(frozen=True)
class MatchingDeps:
    settings: MatchingSettings  # this deployment's, and the defaults of every program setting
    indexes: ProgramIndexes

    @classmethod
    def from_settings(cls, settings: MatchingSettings) -> MatchingDeps:
        return cls(settings, ProgramIndexes(settings))


def _offer(uow: MatchingUnitOfWork, program: ProgramSettings, pair: PairProposal, round_id: str | None) -> Proposal:
    return Proposal.offer(
        pair,
        program_id=program.program_id,
        round_id=round_id,
        now=uow.now(),
        response_window_hours=program.response_window_hours,
    )


async def propose_next(
    uow: MatchingUnitOfWork,
    deps: MatchingDeps,
    mentee_id: str,
    program_id: str,
    *,
    also_exclude: Collection[str] = (),
    asked: bool = False,
) -> None:
    """Propose the best available mentor to this mentee, or say in plain words why there is none.

    The caller holds the program's lock. One read says whether the mentee may be matched and whom
    never to propose; the program's index (current for this transaction) picks and explains the best
    mentor; the proposal is written only if the record agrees that mentor has a free place, and as
    many as the explanation tells. If it does not (the index was behind), that mentor is read back
    and the index asked again.
    `also_exclude` names people this transaction has removed. `asked`: a request for this mentee
    (not a rematch), which is answered even when the mentee is already matched or waiting for a
    mentor's answer (`_busy`).
    """
    standing = await uow.commitments.mentee_standing(mentee_id, program_id)
    if not standing.eligible:
        return  # left, erased, moved or no longer a mentee since the request was taken in
    if standing.pending or standing.active >= deps.settings.max_matches_per_mentee:
        if asked:
            uow.emit(_busy(program_id, mentee_id, standing.pending))
        return  # already matched, or waiting for an answer
    now = uow.now()
    exclude = standing.excluded | set(also_exclude)
    for _ in range(MAX_DISAGREEMENTS):
        view = await deps.indexes.current(uow, program_id)
        try:
            outcome = view.index.best_mentor(mentee_id, at=now, exclude=exclude)
        except KeyError:  # eligible by the record, yet not in the index: read them back
            deps.indexes.reread(uow, program_id, [mentee_id])
            continue
        if not isinstance(outcome, PairProposal):
            uow.emit(_unavailable(program_id, mentee_id, outcome))
            return
        proposal = _offer(uow, view.program, outcome, None)
        if await uow.proposals.add_within_capacity(proposal):
            deps.indexes.loads_changed(uow, program_id, {proposal.mentor_id: 1})
            uow.emit(proposal.proposed())
            return
        deps.indexes.reread(uow, program_id, [proposal.mentor_id])
    uow.emit(_at_capacity(program_id, mentee_id))


@dataclass(frozen=True)
class Request:
    """One on-demand request of a wave: whom for, in which program, and the event it came with."""

    cause: Envelope
    mentee_id: str
    program_id: str


@dataclass(frozen=True)
class Stamp:
    """A profile change queued for its program between a wave's requests: the requests after it see
    the person as the record has them now (the index reads them back), those before it do not."""

    program_id: str
    participant_id: str


async def propose_to_many(uow: MatchingUnitOfWork, deps: MatchingDeps, work: Sequence[Request | Stamp]) -> None:
    """`propose_next` for requests one after the other (each mentee once), with the profile stamps
    between them, in a few statements for all of them: the same proposals, the same events in the
    same order. The caller holds the lock of every program named.

    The mentees' standings are read in one statement (a proposal to one mentee changes no other's,
    nor does a stamp), then the indexes of the programs some request will ask are caught up together.
    The index chooses for each request in turn, ranking mentors as if the proposals chosen so far
    were held; those are written together, each checked by the record as if those before it were
    written (`add_while_within_capacity`). Where one-at-a-time would have to read (the index lacks a
    mentee, or the record refuses a mentor), what is chosen before it is written first, the refused
    choice and everything after it is dropped, and the requests go on from there after the read,
    as `propose_next` would. A stamp's person is read back before the next request of their program
    asks the index (the people of all the stamps are read ahead, in two statements). Going back to
    a refused choice must not cross a stamp its program's requests were answered before, or they
    would be answered again seeing it: so, before such a stamp, what is chosen is written."""
    requests = [r for r in work if isinstance(r, Request)]
    standings = await uow.commitments.mentee_standings((r.mentee_id, r.program_id) for r in requests)
    limit = deps.settings.max_matches_per_mentee

    def answerable(request: Request) -> bool:  # as propose_next checks before it asks the index
        standing = standings[request.mentee_id, request.program_id]
        return standing.eligible and not standing.pending and standing.active < limit

    # Only the programs a request will ask: one at a time reads no index for a request that stops
    # at its standing, and an index read earlier than one at a time reads it may show a record
    # older than the one the reference explains its proposals by.
    await deps.indexes.prepare(uow, {r.program_id for r in requests if answerable(r)})
    stamped = [item for item in work if isinstance(item, Stamp)]
    await deps.indexes.read_ahead(uow, [s.participant_id for s in stamped if s.program_id in uow.views])
    answered: set[str] = set()  # programs of the requests answered since the last write
    tries: Counter[int] = Counter()  # request -> attempts that ended in a read (MAX_DISAGREEMENTS)
    said: list[tuple[int, ev.EventData]] = []  # (request, what it says), in order, emitted at the end
    chosen: list[tuple[int, Proposal]] = []  # proposals chosen and not written yet
    extra: Counter[tuple[str, str]] = Counter()  # (program, mentor) -> places chosen and not written

    async def write() -> int | None:
        """Write what is chosen; the request to go on from when the record refused one."""
        written = await uow.proposals.add_while_within_capacity([p for _, p in chosen])
        for _, proposal in chosen[:written]:
            deps.indexes.loads_changed(uow, proposal.program_id, {proposal.mentor_id: 1})
        for program_id, mentor_id in extra:
            deps.indexes.rank_as_if_held(uow, program_id, mentor_id, 0)
        refused = chosen[written] if written < len(chosen) else None
        chosen.clear()
        extra.clear()
        answered.clear()
        if refused is None:
            return None
        at, proposal = refused
        del said[next(n for n, (i, _) in enumerate(said) if i >= at) :]
        deps.indexes.reread(uow, proposal.program_id, [proposal.mentor_id])
        tries[at] += 1
        return at

    i = 0
    while True:
        while i < len(work):
            request = work[i]
            if isinstance(request, Stamp):
                refused = await write() if chosen and request.program_id in answered else None
                if refused is not None:
                    i = refused
                    continue
                uow.programs.touch(request.program_id, [request.participant_id])  # read back on next use
                i += 1
                continue
            if not answerable(request):
                if standings[request.mentee_id, request.program_id].eligible:  # as in propose_next
                    pending = standings[request.mentee_id, request.program_id].pending
                    said.append((i, _busy(request.program_id, request.mentee_id, pending)))
                i += 1
                continue
            if tries[i] >= MAX_DISAGREEMENTS:
                said.append((i, _at_capacity(request.program_id, request.mentee_id)))
                i += 1
                continue
            excluded = standings[request.mentee_id, request.program_id].excluded
            answered.add(request.program_id)
            view = await deps.indexes.current(uow, request.program_id)
            try:
                outcome = view.index.best_mentor(request.mentee_id, at=uow.now(), exclude=excluded)
            except KeyError:  # eligible by the record, yet not in the index: read them back
                refused = await write() if chosen else None
                if refused is None:
                    deps.indexes.reread(uow, request.program_id, [request.mentee_id])
                    tries[i] += 1
                else:
                    i = refused
                continue
            if not isinstance(outcome, PairProposal):
                said.append((i, _unavailable(request.program_id, request.mentee_id, outcome)))
                i += 1
                continue
            proposal = _offer(uow, view.program, outcome, None)
            chosen.append((i, proposal))
            said.append((i, proposal.proposed()))
            extra[request.program_id, proposal.mentor_id] += 1
            deps.indexes.rank_as_if_held(
                uow, request.program_id, proposal.mentor_id, extra[request.program_id, proposal.mentor_id]
            )
            i += 1
        refused = await write() if chosen else None
        if refused is None:
            break
        i = refused
    for i, event in said:
        uow.cause = work[i].cause  # type: ignore[union-attr]  # a request's: stamps say nothing
        uow.emit(event)
    uow.read_ahead.clear()  # this wave's only: what comes after it in the batch may change loads unseen


def _unavailable(program_id: str, mentee_id: str, outcome: Unmatched) -> ev.MatchUnavailable:
    return ev.MatchUnavailable(
        program_id=program_id,
        mentee_id=mentee_id,
        reason=outcome.reason,
        reason_code=outcome.reason_code,
        reason_params=outcome.params,
    )


def _busy(program_id: str, mentee_id: str, pending: int) -> ev.MatchUnavailable:
    """The answer to a request for a mentee who has as many mentors as they may have, or is waiting
    for a mentor's answer: nothing new is proposed. Not "unmatched": nobody is told they lack one."""
    reason_code, reason = (
        ("awaiting_answer", "a mentor is still considering a proposal for this mentee")
        if pending
        else ("already_matched", "the mentee already has a mentor")
    )
    return ev.MatchUnavailable(
        program_id=program_id, mentee_id=mentee_id, reason=reason, reason_code=reason_code, reason_params={}
    )


def _at_capacity(program_id: str, mentee_id: str) -> ev.MatchUnavailable:
    return ev.MatchUnavailable(
        program_id=program_id,
        mentee_id=mentee_id,
        reason="every compatible mentor is at capacity",
        reason_code="at_capacity",
        reason_params={},
    )


async def close_and_rematch(
    uow: MatchingUnitOfWork, deps: MatchingDeps, proposal: Proposal, events: list[ev.EventData]
) -> None:
    """A proposal closed without a match (declined, expired): say so, free the mentor's place and
    ask the next mentor. The caller holds the program's lock."""
    if not events:
        return
    await deps.indexes.current(uow, proposal.program_id)
    await uow.proposals.save(proposal)
    for event in events:
        uow.emit(event)
    deps.indexes.loads_changed(uow, proposal.program_id, {proposal.mentor_id: -1})
    await propose_next(uow, deps, proposal.mentee_id, proposal.program_id)


async def cohort_round(
    uow: MatchingUnitOfWork, deps: MatchingDeps, program_id: str, round_id: str | None, mentee_ids: list[str] | None
) -> tuple[int, int]:
    """One global optimisation over the program's free mentees and mentors; (proposed, unmatched)."""
    program = await uow.program_settings.get(program_id, deps.settings)
    people = await uow.participants.in_program(program_id)
    busy = await uow.commitments.busy_mentees(program_id, deps.settings.max_matches_per_mentee)
    wanted = set(mentee_ids) if mentee_ids is not None else None
    mentees = [
        p
        for p in people
        if p.is_mentee and p.participant_id not in busy and (wanted is None or p.participant_id in wanted)
    ]
    mentors = [p for p in people if p.is_mentor]
    if not mentees:
        return 0, 0
    loads = await uow.commitments.mentor_loads([m.participant_id for m in mentors])
    # A large round takes seconds of CPU: off the event loop, so Kafka heartbeats and other
    # handlers keep going meanwhile.
    result = await asyncio.to_thread(
        solve_cohort,
        mentees,
        mentors,
        at=uow.now(),
        settings=match_settings(program),
        load={m.participant_id: loads.get(m.participant_id, 0) for m in mentors},
        excluded_pairs=await uow.commitments.excluded_pairs(program_id),
        directory={p.participant_id: p.manager_id for p in people},
    )
    proposals = [_offer(uow, program, pair, round_id) for pair in result.pairs]
    await uow.proposals.add(proposals)
    uow.programs.touch(program_id, [p.mentor_id for p in proposals])  # read back before the index is used
    for proposal in proposals:
        uow.emit(proposal.proposed())
    for miss in result.unmatched:
        uow.emit(
            ev.MatchUnavailable(
                program_id=program_id,
                mentee_id=miss.mentee_id,
                reason=miss.reason,
                reason_code=miss.reason_code,
                reason_params=miss.params,
            )
        )
    return len(proposals), len(result.unmatched)
