"""The price of each criterion: what the cohort round's assignment would gain if it were dropped.

The round follows a lexicographic order (`objective`): coverage, goal fit, a diverse perspective,
then the weighted score with load spread as tie-breakers. Each criterion the program team can give
up (goal fit, diversity, load spread) is dropped in turn and the round re-solved on the same pool:
the differences are what that criterion costs the others (a Pareto view; coverage is never
traded, so it stays at the maximum in every run). Dropping a criterion removes its priority level
and its weight in the score; dropping load spread sets `load_spread` to 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .objective import DIVERSE, GOAL_FIT
from .results import CohortResult
from .scoring import COMPONENTS
from .settings import MatchSettings

LOAD_SPREAD = "load_spread"
CRITERIA = (GOAL_FIT, DIVERSE, LOAD_SPREAD)
NAMES = {GOAL_FIT: "goal fit", DIVERSE: "diverse perspective", LOAD_SPREAD: "load spread"}
SMALLER = ("availability", "seniority", "language")  # the score components no criterion above owns


@dataclass(frozen=True)
class Outcome:
    """What one assignment achieves on every criterion, measured from its pairs."""

    matched: int
    goal_fit: float  # total over pairs
    asked: int  # matched mentees who asked for a diverse perspective
    diverse: int  # ... and got a mentor from another region or sector
    components: dict[str, float]  # mean value per score component
    smaller: float  # mean of the smaller criteria, weighted as the program weighs them
    mentors_used: int  # mentors given at least one new mentee
    mentors_shared: int  # mentors given two or more new mentees
    most_new: int  # the most new mentees one mentor gets

    @classmethod
    def of(cls, result: CohortResult, weights: Mapping[str, float]) -> Outcome:
        pairs = result.pairs
        n = max(1, len(pairs))
        means = {c: sum(p.explanation["components"][c]["value"] for p in pairs) / n for c in COMPONENTS}
        small_weight = sum(weights[c] for c in SMALLER)
        smaller = sum(weights[c] * means[c] for c in SMALLER) / small_weight if small_weight else \
            sum(means[c] for c in SMALLER) / len(SMALLER)
        wishes = [p.explanation["priorities"][DIVERSE] for p in pairs]
        per_mentor = Counter(p.mentor_id for p in pairs)
        return cls(
            matched=len(pairs),
            goal_fit=sum(p.explanation["components"][GOAL_FIT]["value"] for p in pairs),
            asked=sum(w["asked"] for w in wishes),
            diverse=sum(w["met"] for w in wishes),
            components=means,
            smaller=smaller,
            mentors_used=len(per_mentor),
            mentors_shared=sum(1 for k in per_mentor.values() if k >= 2),
            most_new=max(per_mentor.values(), default=0),
        )


@dataclass(frozen=True)
class PriceReport:
    settings: MatchSettings
    chosen: Outcome
    without: dict[str, Outcome]  # criterion -> the outcome when it is dropped

    def lines(self) -> list[str]:
        c = self.chosen
        out = [f"Price of each criterion: the round re-solved without it on the same pool "
               f"(coverage is never traded: {c.matched:,} pairs, the maximum, in every run).",
               f"Chosen assignment: goal fit {c.goal_fit:,.1f} in total ({_mean(c.goal_fit, c.matched)} per pair); "
               f"{_served(c)}; {_load(c)}; smaller criteria {c.smaller:.3f} on average."]
        for criterion in CRITERIA:
            if criterion in self.without:
                out.append(f"- Without {NAMES[criterion]}: " + self._drop(criterion, self.without[criterion]))
        out.append(self._fairness())
        return out

    def _drop(self, criterion: str, w: Outcome) -> str:
        lost, gained = [], []
        for name, delta, text in _changes(self.chosen, w):
            if name == criterion or (criterion == LOAD_SPREAD and name == "load") or delta < 0:
                lost.append(text)
            else:
                gained.append(text)
        if not lost and not gained:
            return "the same outcome on every criterion: it costs nothing on this pool."
        return f"worse: {'; '.join(lost) or 'nothing measurable'}. Better: {'; '.join(gained) or 'nothing'}."

    def _fairness(self) -> str:
        """The fairness criteria's cost in one line: what keeping them takes from the smaller criteria."""
        parts = []
        for criterion, what in ((DIVERSE, f"a diverse perspective for {self.chosen.diverse:,} mentees"),
                                (LOAD_SPREAD, f"spreading new mentees over {self.chosen.mentors_used:,} mentors")):
            w = self.without.get(criterion)
            if w is None or (criterion == DIVERSE and not self.chosen.asked):
                continue
            if criterion == LOAD_SPREAD and w.mentors_used != self.chosen.mentors_used:
                what += f" (instead of {w.mentors_used:,})"
            cost = w.smaller - self.chosen.smaller
            parts.append(f"{what} costs " + (f"{cost:.3f} of the smaller criteria per pair "
                                              f"({100 * cost / max(w.smaller, 1e-9):.1f} % of them)"
                                              if cost >= 0.0005 else "nothing measurable"))
        return ("Price of fairness: " + "; ".join(parts) + "; neither costs any coverage or goal fit.") if parts else ""


def price_criteria(solve: Callable[[MatchSettings], CohortResult], settings: MatchSettings,
                   chosen: CohortResult | None = None) -> PriceReport:
    """Re-solve without each criterion; `solve` runs the round on the pool for given settings."""
    weights = settings.weights.normalised()
    chosen = chosen if chosen is not None else solve(settings)
    without = {criterion: Outcome.of(solve(settings_without(settings, criterion)), weights)
               for criterion in CRITERIA}
    return PriceReport(settings, Outcome.of(chosen, weights), without)


def settings_without(settings: MatchSettings, criterion: str) -> MatchSettings:
    """The settings with one criterion dropped: its level and its score weight gone."""
    if criterion == LOAD_SPREAD:
        return settings.model_copy(update={"load_spread": 0.0})
    weight = {GOAL_FIT: "goal_fit", DIVERSE: "perspective"}[criterion]
    weights = settings.weights
    if any(getattr(weights, c) > 0 for c in COMPONENTS if c != weight):  # at least one weight must stay
        weights = weights.model_copy(update={weight: 0.0})
    return settings.model_copy(update={"priorities": tuple(p for p in settings.priorities if p != criterion),
                                       "weights": weights})


# --- plain words ---


def _changes(c: Outcome, w: Outcome) -> list[tuple[str, float, str]]:
    """(criterion, change for the better (+) or worse (-), words) for every criterion that moved."""
    out = []
    d_goal = w.goal_fit - c.goal_fit
    if abs(d_goal) >= 0.05:
        out.append((GOAL_FIT, d_goal, f"{abs(d_goal):,.1f} {'more' if d_goal > 0 else 'less'} goal fit "
                                      f"({_pct(d_goal, c.goal_fit)}, {_mean(c.goal_fit, c.matched)} -> "
                                      f"{_mean(w.goal_fit, w.matched)} per pair)"))
    missed, w_missed = c.asked - c.diverse, w.asked - w.diverse  # what the diversity level minimises
    if (missed, c.diverse) != (w_missed, w.diverse):
        words = "fewer" if w_missed < missed else "more" if w_missed > missed else "as many"
        out.append((DIVERSE, missed - w_missed,
                    f"{abs(missed - w_missed):,} {words} mentees without the diverse perspective they asked for "
                    f"({missed:,} -> {w_missed:,}; served {_served(c, short=True)} -> {_served(w, short=True)})"))
    d_small = w.smaller - c.smaller
    if abs(d_small) >= 0.0005:
        moved = ", ".join(f"{x} {_signed(w.components[x] - c.components[x], 3)}" for x in SMALLER
                          if abs(w.components[x] - c.components[x]) >= 0.0005)
        out.append(("smaller", d_small, f"smaller criteria {_signed(d_small, 3)} per pair ({moved})"))
    if (w.mentors_used, w.mentors_shared) != (c.mentors_used, c.mentors_shared):
        spread = w.mentors_used - c.mentors_used
        most = f" (most for one mentor {c.most_new} -> {w.most_new})" if w.most_new != c.most_new else ""
        out.append(("load", spread, f"load spread {c.mentors_used:,} -> {w.mentors_used:,} mentors take new mentees, "
                                    f"{c.mentors_shared:,} -> {w.mentors_shared:,} take two or more{most}"))
    return out


def _served(o: Outcome, short: bool = False) -> str:
    share = f"{100 * o.diverse / o.asked:.1f} %" if o.asked else "-"
    if short:
        return f"{o.diverse:,} of {o.asked:,}"
    return f"{o.diverse:,} of {o.asked:,} matched mentees who asked for a diverse perspective got one ({share})"


def _load(o: Outcome) -> str:
    return f"{o.mentors_used:,} mentors take new mentees, {o.mentors_shared:,} of them two or more"


def _mean(total: float, n: int) -> str:
    return f"{total / n:.3f}" if n else "-"


def _pct(delta: float, base: float) -> str:
    return f"{100 * delta / base:+.1f} %" if base else "-"


def _signed(x: float, digits: int) -> str:
    return f"{x:+.{digits}f}"
