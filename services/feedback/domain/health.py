"""Relationship health: how a mentoring pair is doing, from what they tell us and what they do.

Pure logic. The score (0-100) blends the feedback both people give (rating and felt progress),
whether meetings happen, how far the pair has come on its goals for the time gone, and whether
feedback requests and check-ins are answered. It is deliberately simple and explainable: every
state comes with its reasons, both in plain English (`reasons`, for logs and tools) and as stable
codes with parameters (`codes`, `relationship.health.changed/at_risk.reason_codes`) that each reader
words in their own language.

Reason codes (stable; params in braces):
- `ratings_low{average}`: recent ratings average below 3 of 5 (`average`: 1.0-5.0, one decimal);
- `little_progress`: they report little progress towards the goals (felt progress, 1-5 answers);
- `meetings_missed{missed, held}`: `missed` of the `held` meetings that were due did not happen;
- `meetings_missed_in_a_row{count}`: the latest `count` (2 or more) meetings in a row did not
  happen; the pair is on watch at best until a meeting is held again;
- `requests_unanswered{count}`: `count` feedback requests about meetings are past their due date;
- `checkins_unanswered{count}`: `count` check-ins went unanswered, even after their reminder;
- `goals_stalled{progress, term_elapsed}`: half the term or more has gone (`term_elapsed`, percent)
  and the goals stand at `progress` percent on average (below 25);
- `not_a_good_fit{by}`: one or both of the pair answered that it is not a good fit (`by`: "mentor",
  "mentee" or "both"; each person's latest "good" or "not good" counts, "unsure" changes nothing);
  the relationship is at risk until they answer "good" again;
- `going_well`: healthy with nothing to flag: meetings happen and feedback is positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts.types import Reason

State = Literal["healthy", "watch", "at_risk"]

HEALTHY_FROM = 65.0
WATCH_FROM = 45.0
RECENT = 6  # the last few answers count; a relationship can recover
MISSED_IN_A_ROW = 2  # from this many missed meetings in a row the pair is on watch at best
GOALS_COUNT_FROM = 0.25  # share of the term gone before goal progress weighs in the score
GOALS_STALLED_FROM = 0.5  # ... and before little goal progress is a reason
GOALS_STALLED_BELOW = 25  # average goal progress (percent) that counts as stalled


@dataclass(frozen=True)
class Signals:
    ratings: tuple[int, ...] = ()          # 1-5, most recent last
    progress: tuple[int, ...] = ()         # felt progress 1-5, most recent last
    meetings_completed: int = 0
    meetings_missed: int = 0
    missed_in_a_row: int = 0               # the latest meetings (by start) that did not happen
    requests_overdue: int = 0              # meeting feedback requests past due
    checkins_overdue: int = 0              # check-ins unanswered after their reminder
    goals: tuple[int, ...] = ()            # each goal's progress 0-100; empty when the pair tracks none
    term_elapsed: float = 0.0              # share of the planned term gone
    not_a_good_fit: tuple[str, ...] = ()   # "mentor", "mentee": whose latest answer on fit is "not good"


@dataclass(frozen=True)
class Finding:
    """One reason, in English and as a code with parameters."""

    code: str
    text: str
    params: dict[str, str | int | float | bool | list[str]]

    def reason(self) -> Reason:
        return Reason(code=self.code, params=self.params)


@dataclass(frozen=True)
class Health:
    score: float
    state: State
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.text for f in self.findings)

    @property
    def codes(self) -> tuple[Reason, ...]:
        return tuple(f.reason() for f in self.findings)


def _scale(values: tuple[int, ...]) -> float | None:
    recent = values[-RECENT:]
    return None if not recent else (sum(recent) / len(recent) - 1) / 4 * 100


def _goal_part(signals: Signals) -> tuple[float | None, float | None]:
    """(average goal progress, score part) once enough of the term has gone to judge it."""
    if not signals.goals:
        return None, None
    average = sum(signals.goals) / len(signals.goals)
    if signals.term_elapsed < GOALS_COUNT_FROM:
        return average, None
    # On track when the goals are as far along as the term: half-way at half the term scores 100.
    return average, min(100.0, average / min(signals.term_elapsed, 1.0))


def assess(signals: Signals) -> Health:
    findings: list[Finding] = []
    rating = _scale(signals.ratings)
    progress = _scale(signals.progress)
    goals_average, goals = _goal_part(signals)
    held = signals.meetings_completed + signals.meetings_missed
    attendance = 100.0 if held == 0 else signals.meetings_completed / held * 100

    parts = [(attendance, 0.35)]
    if rating is not None:
        parts.append((rating, 0.45))
    if progress is not None:
        parts.append((progress, 0.20))
    if goals is not None:
        parts.append((goals, 0.20))
    score = sum(v * w for v, w in parts) / sum(w for _, w in parts)
    score -= min(signals.requests_overdue, 4) * 5 + min(signals.checkins_overdue, 2) * 10

    if rating is not None and rating < 50:
        average = round(1 + rating / 25, 1)
        findings.append(Finding("ratings_low", f"recent ratings are low (average {average:.1f} of 5)",
                                {"average": average}))
    if progress is not None and progress < 50:
        findings.append(Finding("little_progress", "they report little progress towards the goals", {}))
    if signals.meetings_missed:
        findings.append(Finding("meetings_missed", f"{signals.meetings_missed} of {held} meetings missed",
                                {"missed": signals.meetings_missed, "held": held}))
    if signals.missed_in_a_row >= MISSED_IN_A_ROW:
        findings.append(Finding("meetings_missed_in_a_row",
                                f"the last {signals.missed_in_a_row} meetings in a row did not happen",
                                {"count": signals.missed_in_a_row}))
        score = min(score, HEALTHY_FROM - 5)  # on watch at best until they meet again
    if signals.requests_overdue:
        findings.append(Finding("requests_unanswered", f"{signals.requests_overdue} feedback requests unanswered",
                                {"count": signals.requests_overdue}))
    if signals.checkins_overdue:
        findings.append(Finding("checkins_unanswered",
                                f"{signals.checkins_overdue} check-ins unanswered after a reminder",
                                {"count": signals.checkins_overdue}))
    if goals_average is not None and signals.term_elapsed >= GOALS_STALLED_FROM \
            and goals_average < GOALS_STALLED_BELOW:
        elapsed = round(min(signals.term_elapsed, 1.0) * 100)
        findings.append(Finding("goals_stalled",
                                f"the goals stand at {goals_average:.0f}% with {elapsed}% of the term gone",
                                {"progress": round(goals_average), "term_elapsed": elapsed}))
    if signals.not_a_good_fit:
        by = "both" if len(set(signals.not_a_good_fit)) > 1 else signals.not_a_good_fit[0]
        findings.append(Finding("not_a_good_fit",
                                "both say it is not a good fit" if by == "both" else
                                f"the {by} says it is not a good fit", {"by": by}))
        score = min(score, WATCH_FROM - 5)  # at risk until they say it fits after all
    score = max(0.0, min(100.0, score))
    state: State = "healthy" if score >= HEALTHY_FROM else "watch" if score >= WATCH_FROM else "at_risk"
    if state == "healthy" and not findings:
        findings.append(Finding("going_well", "meetings happen and feedback is positive", {}))
    return Health(round(score, 1), state, tuple(findings))
