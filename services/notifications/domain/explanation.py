"""Why a mentor is proposed, in one or two sentences a person would say: what the mentor brings to
the mentee's goals, and the time they share each week (and the different perspective, when the
mentee asked for one and gets it).

Read from the `explanation` a `match.proposed` carries: each component's `reason` (matching's
codes, `services/matching/domain/reasons.py`), or the `facts` of an older explanation without them.
Scores, weights and the engine's English notes stay out of the text.
"""

from __future__ import annotations

from typing import Any

from services.notifications.i18n.values import Listing, Phrase, Sentences
from shared.people import Participant

from .messages.phrases import EXPLANATION


def why(explanation: dict[str, Any], mentee: Participant) -> Sentences:
    components = explanation.get("components") or {}
    facts = explanation.get("facts") or {}

    def reason_params(component: str, code: str) -> dict[str, Any] | None:
        found = (components.get(component) or {}).get("reason") or {}
        return found.get("params") or {} if found.get("code") == code else None

    goals = reason_params("goal_fit", "goals_covered")
    covered = list(goals["covered"]) if goals else list(facts.get("goals_covered") or [])
    total = int(goals["total"]) if goals else len(mentee.goals)
    overlap = reason_params("availability", "weekly_overlap")
    hours = float(overlap["hours"]) if overlap else float(facts.get("overlap_hours") or 0)
    perspective = reason_params("perspective", "diverse_perspective") or {}

    said = {"mentee_name": mentee.name}
    sentences = []
    if covered:
        sentences.append(_goals(covered, max(total, len(covered)), said))
    if hours > 0:
        key = "overlap_and_perspective" if perspective.get("asked") and perspective.get("met") else "overlap"
        sentences.append(Phrase(EXPLANATION[key], {**said, "count": max(1, round(hours))}))
    return Sentences(tuple(sentences) or (Phrase(EXPLANATION["good_fit"], said),))


def _goals(covered: list[str], total: int, said: dict[str, Any]) -> Phrase:
    if len(covered) < total:
        return Phrase(EXPLANATION["some_goals"], {**said, "goals": Listing(tuple(covered)), "count": len(covered),
                                                  "total": total})
    if total == 1:
        return Phrase(EXPLANATION["one_goal"], {**said, "goal": covered[0]})
    if total == 2:
        return Phrase(EXPLANATION["both_goals"], said)
    return Phrase(EXPLANATION["all_goals"], {**said, "count": total})
