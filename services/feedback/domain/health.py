"""Relationship health: how a mentoring pair is doing, from what they tell us and what they do.

Pure logic. The score (0-100) blends the feedback both people give (rating and felt progress),
whether meetings happen, and whether feedback requests are answered. It is deliberately simple and
explainable: every state comes with its reasons in plain words, for the program team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["healthy", "watch", "at_risk"]

HEALTHY_FROM = 65.0
WATCH_FROM = 45.0
RECENT = 6  # the last few answers count; a relationship can recover


@dataclass(frozen=True)
class Signals:
    ratings: tuple[int, ...] = ()          # 1-5, most recent last
    progress: tuple[int, ...] = ()         # 1-5, most recent last
    meetings_completed: int = 0
    meetings_missed: int = 0
    requests_overdue: int = 0


@dataclass(frozen=True)
class Health:
    score: float
    state: State
    reasons: tuple[str, ...]


def _scale(values: tuple[int, ...]) -> float | None:
    recent = values[-RECENT:]
    return None if not recent else (sum(recent) / len(recent) - 1) / 4 * 100


def assess(signals: Signals) -> Health:
    reasons: list[str] = []
    rating = _scale(signals.ratings)
    progress = _scale(signals.progress)
    held = signals.meetings_completed + signals.meetings_missed
    attendance = 100.0 if held == 0 else signals.meetings_completed / held * 100

    parts = [(attendance, 0.35)]
    if rating is not None:
        parts.append((rating, 0.45))
    if progress is not None:
        parts.append((progress, 0.20))
    score = sum(v * w for v, w in parts) / sum(w for _, w in parts)
    score -= min(signals.requests_overdue, 4) * 5

    if rating is not None and rating < 50:
        reasons.append(f"recent ratings are low (average {1 + rating / 25:.1f} of 5)")
    if progress is not None and progress < 50:
        reasons.append("they report little progress towards the goals")
    if signals.meetings_missed:
        reasons.append(f"{signals.meetings_missed} of {held} meetings missed")
    if signals.requests_overdue:
        reasons.append(f"{signals.requests_overdue} feedback requests unanswered")
    score = max(0.0, min(100.0, score))
    state: State = "healthy" if score >= HEALTHY_FROM else "watch" if score >= WATCH_FROM else "at_risk"
    if state == "healthy" and not reasons:
        reasons.append("meetings happen and feedback is positive")
    return Health(round(score, 1), state, tuple(reasons))
