"""The program KPIs as Prometheus gauges, `tandem_program_<kpi>{program, region}`.

Each feedback replica recomputes them from its read model every few seconds in a background loop
and serves the last snapshot on /metrics, so a scrape never waits on the database. Every replica
exports the same numbers: dashboards take `max without (instance, job)` before summing regions.

Counts are per region only (sum them for the program). Shares, averages and percentiles, which do
not add up over regions, come per region and once more for the whole program with `region=""`,
as do dead letters (they belong to no region).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.feedback.domain.analytics import COUNTS
from services.feedback.service_layer import views
from shared.loops import Pass, run_loop

log = logging.getLogger(__name__)
PREFIX = "tandem_program_"
RATES = {"attendance_rate": "attendance_ratio", "response_rate": "feedback_response_ratio",
         "average_rating": "average_rating", "acceptance_rate": "proposal_acceptance_ratio"}
DESCRIPTIONS = {
    "dead_letters": "Dead letters whose event named the program.",
    "time_to_match_p50_hours": "Median hours from a mentee's onboarding to their first match.",
    "time_to_match_p90_hours": "90th percentile hours from a mentee's onboarding to their first match.",
}

Sample = tuple[str, str, str, float]  # (metric name without prefix, program, region, value)


def samples(kpis: dict[str, Any]) -> list[Sample]:
    program = kpis["program_id"]
    out: list[Sample] = [("dead_letters", program, "", float(kpis["dead_letters"]))]
    out += _shares(program, "", kpis)
    for region, values in kpis["by_region"].items():
        out += [(name, program, region, float(values[name])) for name in COUNTS]
        out += _shares(program, region, values)
    return out


def _shares(program: str, region: str, values: dict[str, Any]) -> list[Sample]:
    out = [(metric, program, region, float(values[key])) for key, metric in RATES.items() if values[key] is not None]
    ttm = values["time_to_match_hours"]
    return out + [(f"time_to_match_{p}_hours", program, region, float(ttm[p])) for p in ("p50", "p90")
                  if ttm[p] is not None]


def metric_names() -> list[str]:
    """Every gauge name this module can export."""
    return sorted(PREFIX + n for n in (*COUNTS, *RATES.values(), "dead_letters", "time_to_match_p50_hours",
                                       "time_to_match_p90_hours"))


class ProgramGauges(Collector):
    """Serves the last snapshot; families are always listed, so each name shows even before data."""

    def __init__(self) -> None:
        self.snapshot: list[Sample] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, DESCRIPTIONS.get(name.removeprefix(PREFIX),
                                                                   f"Program KPI {name.removeprefix(PREFIX)}."),
                                            labels=["program", "region"]) for name in metric_names()}
        for name, program, region, value in self.snapshot:
            families[PREFIX + name].add_metric([program, region], value)
        yield from families.values()


GAUGES = ProgramGauges()
REGISTRY.register(GAUGES)


async def refresh_program_metrics(service) -> None:
    """Background loop (Service(loops=...)): recompute every program's gauges."""

    async def step() -> Pass:
        assert service.pool is not None
        fresh: list[Sample] = []
        async with service.pool.acquire() as conn:
            for found in await views.programs(conn, service.settings):
                fresh += samples(await views.kpis(conn, found["program_id"], service.settings, service.clock.now()))
        GAUGES.snapshot = fresh
        return Pass()

    await run_loop("program_metrics", step, poll=service.settings.metrics_refresh_seconds)
