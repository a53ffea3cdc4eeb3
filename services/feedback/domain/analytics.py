"""The program team's numbers: what each KPI means and how the pieces add up. Pure logic.

The read model keeps one row per fact taken from the events (adapters/analytics.py); these
functions turn the per-region counts it reads into the KPI object the API, the dashboard, the CSV
export and the Prometheus gauges all share, so every view shows the same numbers.

Definitions where the issue leaves a choice:
- people counts are the active participants; a person's region and zone are their current ones;
- pair-level numbers (proposals, relationships, meetings, feedback, health) count under the
  mentee's region and zone; a pair whose mentee has no profile here yet counts under "unknown";
- `mentees_waiting`: active mentees with no active relationship and no open proposal;
- `meetings_scheduled`: every meeting scheduling ever placed (whatever became of it);
  `meetings_upcoming` those still to happen;
- attendance rate: completed / (completed + missed); response rate: feedback requests answered /
  asked; average rating: over every answer received;
- time to match: hours from a mentee's onboarding to their first established relationship;
- `at_risk` and the other health counts cover active relationships only;
- `goals_set`: the goals of every relationship (the mentee's goals when it was established, or
  those of their mentoring agreement once they gave one);
  `goals_achieved` those that reached 100; `certificates_earned`: ended relationships whose term
  was completed or mostly served (domain/closure.py);
- notifications count under the recipient's program and region; dead letters under the program
  their event named (deployment-wide when it named none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

PEOPLE = ("participants", "mentors", "mentees", "mentees_waiting")
PROPOSALS = ("proposals_pending", "proposals_accepted", "proposals_declined", "proposals_expired")
RELATIONSHIPS = ("matches_established", "relationships_active", "relationships_ended")
MEETINGS = ("meetings_scheduled", "meetings_upcoming", "meetings_completed", "meetings_missed",
            "meetings_cancelled", "meetings_unplaceable")
FEEDBACK = ("feedback_requested", "feedback_answered", "feedback_received")
HEALTH = ("relationships_healthy", "relationships_watch", "at_risk", "relationships_unassessed")
GOALS = ("goals_set", "goals_achieved", "certificates_earned")
NOTIFICATIONS = ("notifications_delivered", "notifications_failed")
# Every integer KPI that is kept per region (dead letters are per program and topic only).
COUNTS = PEOPLE + PROPOSALS + RELATIONSHIPS + MEETINGS + FEEDBACK + HEALTH + GOALS + NOTIFICATIONS
HEALTH_STATES = ("healthy", "watch", "at_risk", "unassessed")
RELATIONSHIP_FILTERS = ("at_risk", "watch", "healthy", "new", "ended")
UNKNOWN_REGION = "unknown"

# Daily series, in the order the dashboard draws them.
SERIES = ("onboarded", "proposed", "matches_established", "relationships_ended", "meetings_completed",
          "meetings_missed", "meetings_cancelled", "feedback_received", "at_risk_alerts",
          "notifications_delivered", "notifications_failed", "dead_letters")
SERIES_DAYS = 60  # the most recent days shown

# The funnel: mentees at each step, each step a subset of the one before it in practice.
FUNNEL = (("onboarded", "Onboarded"), ("proposed", "Proposed"), ("established", "Established"),
          ("first_meeting_held", "First meeting held"), ("feedback_given", "Feedback given"))


@dataclass(frozen=True)
class TimeToMatch:
    p50: float | None = None
    p90: float | None = None
    matched: int = 0  # mentees the figures are over

    def as_dict(self) -> dict[str, Any]:
        return {"p50": _round(self.p50), "p90": _round(self.p90), "mentees": self.matched}


def rate(part: int, whole: int) -> float | None:
    """A share in [0, 1], or None when there is nothing to divide by yet."""
    return None if whole <= 0 else round(part / whole, 4)


def rates(counts: Mapping[str, int], rating_sum: int) -> dict[str, float | None]:
    held = counts.get("meetings_completed", 0) + counts.get("meetings_missed", 0)
    received = counts.get("feedback_received", 0)
    return {
        "attendance_rate": rate(counts.get("meetings_completed", 0), held),
        "response_rate": rate(counts.get("feedback_answered", 0), counts.get("feedback_requested", 0)),
        "average_rating": None if received == 0 else round(rating_sum / received, 2),
        "acceptance_rate": rate(counts.get("proposals_accepted", 0),
                                sum(counts.get(k, 0) for k in ("proposals_accepted", "proposals_declined",
                                                               "proposals_expired"))),
    }


def merge_counts(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """region -> counts from several readings (people, meetings, ...), every KPI present."""
    merged: dict[str, dict[str, int]] = {}
    for part in parts:
        for region, counts in part.items():
            row = merged.setdefault(region or UNKNOWN_REGION, dict.fromkeys(COUNTS, 0))
            for name, value in counts.items():
                if name in row:
                    row[name] += int(value or 0)
    return dict(sorted(merged.items()))


def total(by_region: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out = dict.fromkeys(COUNTS, 0)
    for counts in by_region.values():
        for name in COUNTS:
            out[name] += counts.get(name, 0)
    return out


def daily(counts: Iterable[tuple[str, date, int]], *, today: date, days: int = SERIES_DAYS) -> dict[str, Any]:
    """Per-day series over the last `days` days up to `today` (the program's own date), zeros filled."""
    first = today - timedelta(days=days - 1)
    index = {first + timedelta(days=i): i for i in range(days)}
    series = {name: [0] * days for name in SERIES}
    for name, day, n in counts:
        if name in series and day in index:
            series[name][index[day]] += int(n)
    return {"days": [d.isoformat() for d in index], **series}


def funnel(steps: Mapping[str, int]) -> list[dict[str, Any]]:
    """The funnel's steps with their share of the first."""
    first = steps.get(FUNNEL[0][0], 0)
    return [{"step": key, "label": label, "mentees": steps.get(key, 0), "share": rate(steps.get(key, 0), first)}
            for key, label in FUNNEL]


def health_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {"healthy": counts.get("relationships_healthy", 0), "watch": counts.get("relationships_watch", 0),
            "at_risk": counts.get("at_risk", 0), "unassessed": counts.get("relationships_unassessed", 0)}


def program_kpis(*, program: Mapping[str, Any], by_region: Mapping[str, Mapping[str, int]],
                 rating_sums: Mapping[str, int], time_to_match: Mapping[str | None, TimeToMatch],
                 by_timezone: Mapping[str, Mapping[str, int]], dead_letters: Mapping[str, int],
                 funnel_steps: Mapping[str, int], series: Mapping[str, Any], as_of: str) -> dict[str, Any]:
    """The one KPI object (`GET /api/programs/{id}/kpis`): integers at the top level, then the
    rates, time to match, health, the funnel, the breakdowns and the daily series."""
    totals = total(by_region)
    regions = {}
    for region, counts in by_region.items():
        regions[region] = {
            **{name: counts.get(name, 0) for name in COUNTS},
            **rates(counts, rating_sums.get(region, 0)),
            "time_to_match_hours": time_to_match.get(region, TimeToMatch()).as_dict(),
        }
    return {
        "program_id": program["program_id"],
        "name": program["name"],
        "timezone": program["timezone"],
        "as_of": as_of,
        **totals,
        "dead_letters": sum(dead_letters.values()),
        **rates(totals, sum(rating_sums.values())),
        "time_to_match_hours": time_to_match.get(None, TimeToMatch()).as_dict(),
        "health": health_counts(totals),
        "dead_letters_by_topic": dict(sorted(dead_letters.items())),
        "funnel": funnel(funnel_steps),
        "by_region": regions,
        "by_timezone": dict(sorted(by_timezone.items())),
        "series": dict(series),
    }


def csv_rows(kpis: Mapping[str, Any]) -> list[list[Any]]:
    """The export: one row per (scope, name, value); scope is `program`, `region:<name>`, `timezone:<zone>`,
    `topic:<name>` or `day:<date>`."""
    rows: list[list[Any]] = [["program_id", "scope", "kpi", "value"]]
    pid = kpis["program_id"]

    def flat(scope: str, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name == "time_to_match_hours":
                rows.extend([[pid, scope, "time_to_match_p50_hours", _blank(value["p50"])],
                             [pid, scope, "time_to_match_p90_hours", _blank(value["p90"])]])
            elif isinstance(value, (int, float)) or value is None:
                rows.append([pid, scope, name, _blank(value)])

    flat("program", {k: v for k, v in kpis.items() if k not in ("by_region", "by_timezone", "series")})
    for region, values in kpis["by_region"].items():
        flat(f"region:{region}", values)
    for zone, values in kpis["by_timezone"].items():
        flat(f"timezone:{zone}", values)
    for topic, n in kpis["dead_letters_by_topic"].items():
        rows.append([pid, f"topic:{topic}", "dead_letters", n])
    for step in kpis["funnel"]:
        rows.append([pid, "funnel", step["step"], step["mentees"]])
    series = kpis["series"]
    for i, day in enumerate(series["days"]):
        for name in SERIES:
            if series[name][i]:
                rows.append([pid, f"day:{day}", name, series[name][i]])
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _blank(value: Any) -> Any:
    return "" if value is None else value
