"""Matching decisions: proposing a mentor on demand or for a whole cohort, and re-matching when a
proposal is declined or expires or a party leaves.

The in-memory `MatchIndex` ranks candidates in milliseconds; Postgres is the record and has the
last word on capacity (checked under a per-program lock, so concurrent handlers never oversell a
mentor). The index learns about committed changes after each commit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import timedelta

from services.matching.adapters import repository as repo
from services.matching.domain import MatchIndex, MatchSettings, PairProposal, solve_cohort
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts.profile import ParticipantProfile
from shared.unit_of_work import UnitOfWork

NAMESPACE = uuid.UUID("3d0c8e4a-1f2b-4c6d-8e9f-a0b1c2d3e4f5")


def relationship_id_for(proposal_id: str) -> str:
    # One accepted proposal makes exactly one relationship, however often the answer is delivered.
    return str(uuid.uuid5(NAMESPACE, f"relationship/{proposal_id}"))


class Matcher:
    def __init__(self, settings: MatchingSettings) -> None:
        self.settings = settings
        self.match_settings = MatchSettings(min_overlap_hours=settings.min_overlap_hours)
        self.indexes: dict[str, MatchIndex] = {}  # one per program: people are matched within their program
        self._program_of: dict[str, str] = {}

    def index(self, program_id: str) -> MatchIndex:
        if program_id not in self.indexes:
            self.indexes[program_id] = MatchIndex(self.match_settings)
        return self.indexes[program_id]

    def upsert(self, profile: ParticipantProfile) -> None:
        previous = self._program_of.get(profile.participant_id)
        if previous is not None and previous != profile.program_id:
            self.indexes[previous].remove(profile.participant_id)
        self.index(profile.program_id).upsert(profile)
        self._program_of[profile.participant_id] = profile.program_id

    def remove(self, participant_id: str) -> None:
        program_id = self._program_of.pop(participant_id, None)
        if program_id is not None:
            self.indexes[program_id].remove(participant_id)

    def set_load(self, mentor_id: str, active: int) -> None:
        program_id = self._program_of.get(mentor_id)
        if program_id is not None:
            self.indexes[program_id].set_load(mentor_id, active)

    async def load(self, uow: UnitOfWork) -> None:
        """Rebuild the indexes from the record (at start-up)."""
        self.indexes.clear()
        self._program_of.clear()
        for profile in await repo.all_participants(uow.conn):
            self.upsert(profile)
        for mentor_id, n in (await repo.mentor_loads(uow.conn)).items():
            self.set_load(mentor_id, n)

    def _sync_loads_after_commit(self, uow: UnitOfWork, loads: dict[str, int]) -> None:
        def apply() -> None:
            for mentor_id, n in loads.items():
                self.set_load(mentor_id, n)
        uow.after_commit(apply)

    async def refresh_loads(self, uow: UnitOfWork, mentor_ids: Iterable[str]) -> None:
        ids = sorted(set(mentor_ids))
        if ids:
            loads = await repo.mentor_loads(uow.conn, ids)
            self._sync_loads_after_commit(uow, {m: loads.get(m, 0) for m in ids})

    def _proposal_row(self, uow: UnitOfWork, pair: PairProposal, program_id: str, round_id: str | None) -> tuple:
        now = uow.clock.now()
        return (str(uuid.uuid4()), program_id, pair.mentee_id, pair.mentor_id, float(pair.score), pair.explanation,
                round_id, now, now + timedelta(hours=self.settings.response_window_hours))

    def _emit_proposed(self, uow: UnitOfWork, row: tuple) -> None:
        proposal_id, program_id, mentee_id, mentor_id, score, explanation, round_id, _, expires_at = row
        uow.emit(ev.MatchProposed(proposal_id=proposal_id, program_id=program_id, mentee_id=mentee_id,
                                  mentor_id=mentor_id, score=score, explanation=explanation, expires_at=expires_at,
                                  round_id=round_id))

    async def propose_next(self, uow: UnitOfWork, mentee_id: str, program_id: str,
                           also_exclude: set[str] = frozenset()) -> None:
        """Propose the best available mentor to this mentee, or say in plain words why there is none.

        The caller holds the program lock.
        """
        found = await repo.participant(uow.conn, mentee_id)
        if found is None or not found[1] or not found[0].is_mentee:
            return
        active, pending = await repo.mentee_engagements(uow.conn, mentee_id)
        if pending or active >= self.settings.max_matches_per_mentee:
            return  # already matched, or waiting for an answer
        now = uow.clock.now()
        exclude = await repo.excluded_mentors(uow.conn, mentee_id) | set(also_exclude)
        index = self.index(program_id)
        candidates = index.ranked_mentors(mentee_id, at=now, exclude=exclude, limit=10)
        loads = await repo.mentor_loads(uow.conn, [c.mentor_id for c in candidates]) if candidates else {}
        for candidate in candidates:
            mentor = await repo.participant(uow.conn, candidate.mentor_id)
            if mentor is None or not mentor[1] or loads.get(candidate.mentor_id, 0) >= mentor[0].mentor_capacity:
                continue
            row = self._proposal_row(uow, candidate, program_id, None)
            await repo.add_proposals(uow.conn, [row])
            self._emit_proposed(uow, row)
            self._sync_loads_after_commit(uow, {candidate.mentor_id: loads.get(candidate.mentor_id, 0) + 1})
            return
        outcome = index.best_mentor(mentee_id, at=now, exclude=exclude)
        if isinstance(outcome, PairProposal):  # the index was behind the record on capacity
            reason, code = "every compatible mentor is at capacity", "at_capacity"
            await self.refresh_loads(uow, [c.mentor_id for c in candidates])
        else:
            reason, code = outcome.reason, outcome.reason_code
        uow.emit(ev.MatchUnavailable(program_id=program_id, mentee_id=mentee_id, reason=reason, reason_code=code))

    async def cohort_round(self, uow: UnitOfWork, program_id: str, round_id: str | None,
                           mentee_ids: list[str] | None) -> tuple[int, int]:
        """One global optimisation over the program's free mentees and mentors; (proposed, unmatched)."""
        people = await repo.program_participants(uow.conn, program_id)
        busy = await repo.busy_mentees(uow.conn, program_id, self.settings.max_matches_per_mentee)
        wanted = set(mentee_ids) if mentee_ids is not None else None
        mentees = [p for p in people if p.is_mentee and p.participant_id not in busy
                   and (wanted is None or p.participant_id in wanted)]
        mentors = [p for p in people if p.is_mentor]
        if not mentees:
            return 0, 0
        loads = await repo.mentor_loads(uow.conn)
        # A large round takes seconds of CPU: off the event loop, so Kafka heartbeats and other
        # handlers keep going meanwhile.
        result = await asyncio.to_thread(
            solve_cohort, mentees, mentors, at=uow.clock.now(), settings=self.match_settings,
            load={m.participant_id: loads.get(m.participant_id, 0) for m in mentors},
            excluded_pairs=await repo.excluded_pairs(uow.conn, program_id),
            directory={p.participant_id: p.manager_id for p in people},
        )
        rows = [self._proposal_row(uow, pair, program_id, round_id) for pair in result.pairs]
        if rows:
            await repo.add_proposals(uow.conn, rows)
        for row in rows:
            self._emit_proposed(uow, row)
        for miss in result.unmatched:
            uow.emit(ev.MatchUnavailable(program_id=program_id, mentee_id=miss.mentee_id, reason=miss.reason,
                                         reason_code=miss.reason_code))
        await self.refresh_loads(uow, [pair.mentor_id for pair in result.pairs])
        return len(rows), len(result.unmatched)
