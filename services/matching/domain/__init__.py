"""Matching domain: hard rules, explainable scores, the cohort round and the on-demand index.

Pure logic, no I/O: the matching service feeds it profiles, loads and exclusions from events.
"""

from .cohort import solve_cohort
from .on_demand import MatchIndex
from .results import CohortResult, PairProposal, Unmatched
from .rules import ManagementGraph
from .scoring import ScoreWeights
from .settings import MatchSettings

__all__ = [
    "CohortResult",
    "ManagementGraph",
    "MatchIndex",
    "MatchSettings",
    "PairProposal",
    "ScoreWeights",
    "Unmatched",
    "solve_cohort",
]
