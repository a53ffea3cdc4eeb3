"""Matching decisions: proposing a mentor on demand or for a whole cohort, and re-matching when a
proposal is declined or expires or a party leaves.

Each function runs inside the caller's unit of work and under the program's lock, which the
caller takes first. The in-memory index ranks candidates; Postgres has the last word on capacity.
Every change to a mentor's load is stamped (`uow.programs.touch`) so other replicas' indexes follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

from services.matching.domain import MatchIndex, PairProposal, solve_cohort
from services.matching.domain.model import Proposal
from services.matching.service_layer.indexes import ProgramIndexes, match_settings
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.programs import ProgramSettings


@dataclass(frozen=True)
class MatchingDeps:
    settings: MatchingSettings  # this deployment's, and the defaults of every program setting
    indexes: ProgramIndexes

    @classmethod
    def from_settings(cls, settings: MatchingSettings) -> MatchingDeps:
        return cls(settings, ProgramIndexes(settings))


def _offer(uow: MatchingUnitOfWork, program: ProgramSettings, pair: PairProposal, round_id: str | None) -> Proposal:
    return Proposal.offer(pair, program_id=program.program_id, round_id=round_id, now=uow.now(),
                          response_window_hours=program.response_window_hours)


async def propose_next(uow: MatchingUnitOfWork, deps: MatchingDeps, index: MatchIndex, mentee_id: str,
                       program_id: str, *, also_exclude: Collection[str] = ()) -> None:
    """Propose the best available mentor to this mentee, or say in plain words why there is none.

    `index` is the program's index as `ProgramIndexes.current` gave it at the start of the handler;
    `also_exclude` names people this transaction has removed that the index still holds.
    """
    mentee = await uow.participants.get(mentee_id)
    if (mentee is None or not mentee.active or mentee.erased or not mentee.is_mentee
            or mentee.program_id != program_id):
        return
    active, pending = await uow.commitments.mentee_engagements(mentee_id)
    if pending or active >= deps.settings.max_matches_per_mentee:
        return  # already matched, or waiting for an answer
    now = uow.now()
    program = await uow.program_settings.get(program_id, deps.settings)
    exclude = await uow.commitments.excluded_mentors(mentee_id) | set(also_exclude)
    candidates = index.ranked_mentors(mentee_id, at=now, exclude=exclude, limit=10)
    if candidates:
        ids = [c.mentor_id for c in candidates]
        loads = await uow.commitments.mentor_loads(ids)
        mentors = await uow.participants.many(ids)
        for candidate in candidates:
            mentor = mentors.get(candidate.mentor_id)
            # The record has the last word: this transaction may have changed what the index shows.
            if mentor is None or not mentor.active or mentor.program_id != program_id \
                    or loads.get(candidate.mentor_id, 0) >= mentor.mentor_capacity:
                continue
            proposal = _offer(uow, program, candidate, None)
            await uow.proposals.add([proposal])
            await uow.programs.touch(program_id, [candidate.mentor_id])
            uow.emit(proposal.proposed())
            return
    outcome = index.best_mentor(mentee_id, at=now, exclude=exclude)
    if isinstance(outcome, PairProposal):  # only mentors this transaction just filled were left
        reason, code, params = "every compatible mentor is at capacity", "at_capacity", {}
    else:
        reason, code, params = outcome.reason, outcome.reason_code, outcome.params
    uow.emit(ev.MatchUnavailable(program_id=program_id, mentee_id=mentee_id, reason=reason, reason_code=code,
                                 reason_params=params))


async def close_and_rematch(uow: MatchingUnitOfWork, deps: MatchingDeps, index: MatchIndex, proposal: Proposal,
                            events: list[ev.EventData]) -> None:
    """A proposal closed without a match (declined, expired): say so, free the mentor's place and
    ask the next mentor."""
    if not events:
        return
    await uow.proposals.save(proposal)
    for event in events:
        uow.emit(event)
    await uow.programs.touch(proposal.program_id, [proposal.mentor_id])
    await propose_next(uow, deps, index, proposal.mentee_id, proposal.program_id)


async def cohort_round(uow: MatchingUnitOfWork, deps: MatchingDeps, program_id: str, round_id: str | None,
                       mentee_ids: list[str] | None) -> tuple[int, int]:
    """One global optimisation over the program's free mentees and mentors; (proposed, unmatched)."""
    program = await uow.program_settings.get(program_id, deps.settings)
    people = await uow.participants.in_program(program_id)
    busy = await uow.commitments.busy_mentees(program_id, deps.settings.max_matches_per_mentee)
    wanted = set(mentee_ids) if mentee_ids is not None else None
    mentees = [p for p in people if p.is_mentee and p.participant_id not in busy
               and (wanted is None or p.participant_id in wanted)]
    mentors = [p for p in people if p.is_mentor]
    if not mentees:
        return 0, 0
    loads = await uow.commitments.mentor_loads([m.participant_id for m in mentors])
    # A large round takes seconds of CPU: off the event loop, so Kafka heartbeats and other
    # handlers keep going meanwhile.
    result = await asyncio.to_thread(
        solve_cohort, mentees, mentors, at=uow.now(), settings=match_settings(program),
        load={m.participant_id: loads.get(m.participant_id, 0) for m in mentors},
        excluded_pairs=await uow.commitments.excluded_pairs(program_id),
        directory={p.participant_id: p.manager_id for p in people},
    )
    proposals = [_offer(uow, program, pair, round_id) for pair in result.pairs]
    await uow.proposals.add(proposals)
    await uow.programs.touch(program_id, [p.mentor_id for p in proposals])
    for proposal in proposals:
        uow.emit(proposal.proposed())
    for miss in result.unmatched:
        uow.emit(ev.MatchUnavailable(program_id=program_id, mentee_id=miss.mentee_id, reason=miss.reason,
                                     reason_code=miss.reason_code, reason_params=miss.params))
    return len(proposals), len(result.unmatched)
