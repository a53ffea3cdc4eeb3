"""Per-program matching settings: the hard-rule threshold, score weights and solver knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .objective import PRIORITIES
from .scoring import ScoreWeights


class MatchSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Hard rule: hours both are available in [at, at + 7 days), each in their own zone.
    min_overlap_hours: float = Field(2.0, ge=0, le=168)
    # Hard rule too: in that week, one stretch both are available long enough for a whole meeting of
    # the program's length, starting on a `slot_minutes` step in UTC (as scheduling places meetings).
    # Hours spread over many short stretches cannot hold a kickoff.
    meeting_minutes: int = Field(45, ge=1, le=24 * 60)
    slot_minutes: int = Field(15, ge=1, le=60)
    # After coverage (always first), these criteria in this order, each never traded for any amount
    # of the ones after it; the weighted score (and load spread) only breaks the remaining ties.
    # A criterion left out still counts through its score weight.
    priorities: tuple[Literal["goal_fit", "diverse_perspective"], ...] = PRIORITIES
    weights: ScoreWeights = ScoreWeights()
    # Overlap beyond this many hours a week adds nothing to the availability component.
    overlap_target_hours: float = Field(6.0, gt=0, le=168)
    # Seniority gaps in [ideal_gap_min, ideal_gap_max] get full marks.
    ideal_gap_min: int = Field(2, ge=1, le=9)
    ideal_gap_max: int = Field(4, ge=1, le=9)
    # Fairness: each mentee a mentor already has (current load or earlier in this round) costs this
    # much score, so a 2nd mentee costs more than a 1st and load spreads across mentors.
    load_spread: float = Field(0.05, ge=0, le=1)
    # Sparse candidate graph: best-scoring feasible mentors kept per mentee before the global solve.
    # The matched count never depends on it (missing arcs are added until maximality is proven);
    # at or above the number of mentors the graph is complete and the score optimum exact.
    candidates_per_mentee: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _gap_order(self) -> MatchSettings:
        if self.ideal_gap_min > self.ideal_gap_max:
            raise ValueError("ideal_gap_min must not exceed ideal_gap_max")
        if len(set(self.priorities)) != len(self.priorities):
            raise ValueError("priorities must not repeat a criterion")
        return self

    @property
    def meeting_seconds(self) -> int:
        return self.meeting_minutes * 60

    @property
    def slot_seconds(self) -> int:
        return self.slot_minutes * 60

    @property
    def ideal_gap(self) -> tuple[int, int]:
        return (self.ideal_gap_min, self.ideal_gap_max)
