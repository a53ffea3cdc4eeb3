"""The soft score: five components in [0, 1], weighted per program, each one explainable.

Component functions are written with numpy so the same formula scores one pair (explanations)
and 25,000 mentors at once (candidate rows); there is no second copy of the maths to drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.people import Participant

from . import reasons
from .features import first_language
from .objective import DIVERSE, GOAL_FIT, diverse_met

if TYPE_CHECKING:
    from .settings import MatchSettings

COMPONENTS = ("goal_fit", "availability", "seniority", "perspective", "language")


class ScoreWeights(BaseModel):
    """Relative importance of each component; only ratios matter (they are normalised to sum 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    goal_fit: float = Field(0.40, ge=0)
    availability: float = Field(0.15, ge=0)
    seniority: float = Field(0.15, ge=0)
    perspective: float = Field(0.20, ge=0)
    language: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ScoreWeights:
        if sum(getattr(self, c) for c in COMPONENTS) <= 0:
            raise ValueError("at least one score weight must be positive")
        return self

    def normalised(self) -> dict[str, float]:
        total = sum(getattr(self, c) for c in COMPONENTS)
        return {c: getattr(self, c) / total for c in COMPONENTS}


# --- components (scalars or arrays) ---


def goal_fit(covered, n_goals):
    """Share of the mentee's goals found among the mentor's skills (0 when there are no goals)."""
    n = np.asarray(n_goals, dtype=np.float64)
    return np.where(n > 0, np.asarray(covered, dtype=np.float64) / np.maximum(n, 1), 0.0)


def availability_fit(hours, target_hours: float):
    """More shared time is better, up to the target (then it is enough)."""
    return np.minimum(np.asarray(hours, dtype=np.float64) / target_hours, 1.0)


def seniority_fit(gap, ideal_min: int, ideal_max: int):
    """A helpful gap: full marks from ideal_min to ideal_max levels, less when too small or too wide."""
    g = np.asarray(gap, dtype=np.float64)
    rising = np.clip(g / max(ideal_min, 1), 0.0, 1.0)
    falling = np.clip(1.0 - (g - ideal_max) * 0.25, 0.0, 1.0)
    return np.where(g <= 0, 0.0, np.where(g < ideal_min, rising, np.where(g <= ideal_max, 1.0, falling)))


def perspective_fit(wants_diverse, other_region, other_country, other_sector):
    """Diverse if asked for (another region, country or sector); otherwise a shared sector."""
    r, c, s = (np.asarray(x, dtype=np.float64) for x in (other_region, other_country, other_sector))
    return np.where(wants_diverse, 0.4 * r + 0.3 * c + 0.3 * s, 1.0 - s)


def language_ease(same_first, first_spoken):
    """Both at ease: the same first language; half when one's first language is spoken by the other."""
    return np.where(same_first, 1.0, np.where(first_spoken, 0.5, 0.0))


# --- pairs, explained ---


def explain_pairs(mentees: Sequence[Participant], mentors: Sequence[Participant],
                  overlap_seconds: Sequence[int], *, at: datetime, settings: MatchSettings,
                  free_places: Sequence[int] | None = None) -> list[tuple[float, dict]]:
    """Score and JSON-ready breakdown of each (mentees[k], mentors[k]) pair.

    Per component: raw value, normalised weight, contribution, a note (English, for tools and logs)
    and a reason (a code with parameters, for each reader's language: `reasons`). The values come from
    the component functions above, the same ones the candidate rows use (`_ComponentTable`).
    `priorities` says what the matching ranked first (`settings.priorities`, see `objective`):
    the weighted score only breaks ties among mentors equal on those.
    """
    table = _component_table(settings)
    facts = [_pair_facts(e, m) for e, m in zip(mentees, mentors)]
    hours = np.asarray(overlap_seconds, dtype=np.float64) / 3600
    # Availability is the one continuous component: one call for all pairs. The others take few
    # distinct values, each computed (and rounded) once per settings by the same functions.
    avail = availability_fit(hours, settings.overlap_target_hours).tolist()
    week = at.isoformat()
    hours_of = hours.tolist()
    free_of = np.asarray(free_places).tolist() if free_places is not None else None
    weight, shown = table.weight, table.shown
    out = []
    for k, (e, m, f) in enumerate(zip(mentees, mentors, facts)):
        parts = table.parts(f, avail[k])
        f["met"] = parts[5]
        h = hours_of[k]
        notes = _notes(e, m, f, h, week, settings)
        why = _reasons(m, f, h, settings)
        score = sum(wc * vc for wc, (vc, _, _) in zip(weight, parts[:5]))
        explanation = {
            "score": round(score, 4),
            "components": {
                c: {"value": value, "weight": shown[c], "contribution": contribution,
                    "note": notes[c], "reason": why[c]}
                for c, (_, value, contribution) in zip(COMPONENTS, parts)
            },
            "facts": {
                "overlap_hours": round(h, 4),
                "min_overlap_hours": settings.min_overlap_hours,
                "seniority_gap": f["gap"],
                "shared_languages": f["shared"],
                "goals_covered": f["covered"],
                **({"mentor_free_places": int(free_of[k])} if free_of is not None else {}),
            },
        }
        explanation["priorities"] = _priorities(settings.priorities, parts[0][0], notes["goal_fit"], f, m, score)
        out.append((score, explanation))
    return out


Shown = tuple[float, float, float]  # a component's value, round(value, 4), round(weight * value, 4)


class _ComponentTable:
    """Per settings: each component's value for a pair's discrete facts, computed once by the
    component functions above (on a 0-d array they give bit for bit what they give element-wise)."""

    def __init__(self, settings: MatchSettings) -> None:
        w = settings.weights.normalised()
        self.settings = settings
        self.weight = [w[c] for c in COMPONENTS]
        self.shown = {c: round(w[c], 4) for c in COMPONENTS}
        self._memo: dict[tuple, Shown | bool] = {}

    def _shown(self, c: int, value) -> Shown:
        v = np.asarray(value, dtype=np.float64).tolist()
        return v, round(v, 4), round(self.weight[c] * v, 4)

    def parts(self, f: dict, avail: float) -> tuple:
        """(goal_fit, availability, seniority, perspective, language) as `Shown`, then `diverse_met`."""
        keys = (("g", f["n_covered"], f["n_goals"]), ("s", f["gap"]),
                ("p", f["diverse"], f["other_region"], f["other_country"], f["other_sector"]),
                ("l", f["same_first"], f["first_spoken"]), ("d", f["diverse"], f["other_region"], f["other_sector"]))
        memo = self._memo
        found = [memo.get(k) for k in keys]
        if None in found:
            if len(memo) > 4096:  # facts are few in practice; bounded all the same
                memo.clear()
            found = [v if v is not None else memo.setdefault(k, self._compute(k)) for v, k in zip(found, keys)]
        goal, sen, persp, lang, met = found
        return goal, (avail, round(avail, 4), round(self.weight[1] * avail, 4)), sen, persp, lang, met

    def _compute(self, key: tuple) -> Shown | bool:
        kind, *facts = key
        if kind == "g":
            return self._shown(0, goal_fit(*facts))
        if kind == "s":
            return self._shown(2, seniority_fit(facts[0], *self.settings.ideal_gap))
        if kind == "p":
            return self._shown(3, perspective_fit(*facts))
        if kind == "l":
            return self._shown(4, language_ease(*facts))
        return diverse_met(*facts).tolist()


_TABLES: dict[int, _ComponentTable] = {}


def _component_table(settings: MatchSettings) -> _ComponentTable:
    # By identity (a program's index keeps one settings object; the table holds it, so its id stays its own).
    table = _TABLES.get(id(settings))
    if table is None or table.settings is not settings:
        if len(_TABLES) > 64:
            _TABLES.clear()
        table = _TABLES[id(settings)] = _ComponentTable(settings)
    return table


def _priorities(order: Sequence[str], fit: float, goal_note: str, f: dict, mentor: Participant, score: float) -> dict:
    """What the matching ranked before the score, with the pair's standing on each, in plain words."""
    met = f["met"]
    if not f["diverse"]:
        diverse_note = "not asked for"
    elif met:
        ways = [f"another region ({mentor.region})"] * f["other_region"] + \
            [f"another sector ({mentor.sector})"] * f["other_sector"]
        diverse_note = "asked for and met: " + " and ".join(ways)
    else:
        diverse_note = f"asked for but not met: same region ({mentor.region}) and sector ({mentor.sector})"
    goals = f"{f['n_covered']} of {f['n_goals']} goals covered" if f["n_goals"] else "no goals listed"
    wish = "not asked for" if not f["diverse"] else "asked for and met" if met else "asked for, not met"
    said = {GOAL_FIT: f"goal fit ({goals})", DIVERSE: f"a mentor from another region or sector ({wish})"}
    steps = [said[level] for level in order] + [f"the weighted score ({score:.2f}) to break ties"]
    return {
        "order": ["coverage", *order, "score"],
        GOAL_FIT: {"value": round(fit, 4), "note": goal_note},
        DIVERSE: {"asked": bool(f["diverse"]), "met": met, "note": diverse_note},
        "note": "ranked by " + ", then ".join(steps),
    }


def _pair_facts(e: Participant, m: Participant) -> dict:
    skills = set(m.skills)
    covered = [g for g in e.goals if g in skills]
    e_first, m_first = first_language(e), first_language(m)
    return {
        "covered": covered, "n_covered": len(covered), "n_goals": len(e.goals),
        "missing": [g for g in e.goals if g not in skills],
        "gap": m.seniority - e.seniority,
        "diverse": e.diverse_perspective,
        "other_region": m.region != e.region, "other_country": m.country != e.country,
        "other_sector": m.sector != e.sector,
        "e_first": e_first, "m_first": m_first, "same_first": e_first == m_first,
        "first_spoken": e_first in m.languages or m_first in e.languages,
        "shared": sorted(set(e.languages) & set(m.languages)), "e_languages": e.languages,
    }


def _notes(e: Participant, m: Participant, f: dict, hours: float, week: str,
           settings: MatchSettings) -> dict[str, str]:
    lo, hi = settings.ideal_gap
    if not f["n_goals"]:
        goals = "the mentee listed no goals"
    else:
        goals = f"mentor's skills cover {f['n_covered']} of {f['n_goals']} goals"
        goals += f" ({', '.join(f['covered'])})" if f["covered"] else ""
        goals += f"; not covered: {', '.join(f['missing'])}" if f["missing"] else ""
    if f["same_first"]:
        language = f"both are most at ease in {f['e_first']}"
    elif f["e_first"] in m.languages:
        language = f"the mentor speaks the mentee's first language ({f['e_first']})"
    elif f["first_spoken"]:
        language = f"the mentee speaks the mentor's first language ({f['m_first']})"
    else:
        language = f"they share only a second language ({', '.join(f['shared'])})"
    gap = f["gap"]
    return {
        "goal_fit": goals,
        "availability": f"{hours:g} h overlap in the week from {week} (enough at {settings.overlap_target_hours:g} h)",
        "seniority": f"mentor is {gap} level{'s' if gap != 1 else ''} more senior "
                     f"({m.seniority} vs {e.seniority}; ideal gap {lo}-{hi})",
        "perspective": _perspective_note(e, m, f["other_region"], f["other_country"], f["other_sector"]),
        "language": language,
    }


def _reasons(m: Participant, f: dict, hours: float, settings: MatchSettings) -> dict[str, dict]:
    """The same facts as `_notes`, as codes with parameters (`reasons`)."""
    return {
        "goal_fit": reasons.goal_reason(f["covered"], f["missing"]),
        "availability": reasons.overlap_reason(hours, settings.overlap_target_hours),
        "seniority": reasons.seniority_reason(f["gap"], settings.ideal_gap),
        "perspective": reasons.perspective_reason(
            asked=bool(f["diverse"]), met=f["met"],
            other_region=bool(f["other_region"]), other_country=bool(f["other_country"]),
            other_sector=bool(f["other_sector"]), region=m.region, country=m.country, sector=m.sector),
        "language": reasons.language_reason(f["e_first"], f["m_first"], mentee_languages=f["e_languages"],
                                            mentor_languages=m.languages, shared=f["shared"]),
    }


def _perspective_note(mentee, mentor, other_region, other_country, other_sector) -> str:
    facts = [
        f"{'other' if other_region else 'same'} region ({mentor.region})",
        f"{'other' if other_country else 'same'} country ({mentor.country})",
        f"{'other' if other_sector else 'same'} sector ({mentor.sector})",
    ]
    if mentee.diverse_perspective:
        return "mentee asked for a diverse perspective: " + ", ".join(facts)
    return "mentee did not ask for a diverse perspective, so a shared sector counts: " + facts[2]
