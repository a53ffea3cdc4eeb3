"""What matching hands back: proposed pairs, unmatched mentees with a reason, round statistics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PairProposal:
    mentee_id: str
    mentor_id: str
    score: float
    explanation: dict  # JSON-serialisable breakdown, see scoring.explain


@dataclass(frozen=True)
class Unmatched:
    mentee_id: str
    reason: str  # plain words, e.g. "no mentor shares a language"
    reason_code: str  # stable identifier, e.g. "no_shared_language"
    # The reason's parameters, so each reader can word it in their own language (`match.unavailable`
    # carries them as `reason_params`); see `reasons` for each code's.
    params: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CohortResult:
    pairs: list[PairProposal]
    unmatched: list[Unmatched]
    stats: dict
