"""benchmarks.cohort_versus renders the round's CPU seconds per stage for engines that record them."""

from benchmarks.cohort_versus import render

STAGES = ("prepare", "candidates", "prove_maximum", "min_cost_flow", "explain", "total")


def run(wall: float, cpu_stages: dict | None) -> dict:
    stages = dict(zip(STAGES, (1.0, 5.0, 0.5, 3.0, 1.0, 10.5)))
    return {"wall_s": wall, "cpu_s": wall * 0.8, "peak_gib": 1.2, "cli_total_s": wall, "reading_s": 3.0,
            "matching_s": wall - 5, "stages": stages, "cpu_stages": cpu_stages,
            "flow_proof": {"proof": "potentials", "exchange_bound": 4}}


def case(head_cpu: list[dict | None]) -> dict:
    quality = {"pairs": 10, "total_goal_fit": 9.5, "asked": 4, "served": 4, "mean_score": 0.9, "broken": 0}
    return {"kind": "default", "mentees": 100, "mentors": 25, "input_mib": 1.0,
            "baseline": {"runs": [run(50.0, None)], "quality": quality, "same_pairs_every_run": True},
            "head": {"runs": [run(30.0, c) for c in head_cpu], "quality": quality, "same_pairs_every_run": True}}


def test_cpu_stages_are_medians_of_the_runs():
    cpu = [dict(zip(STAGES, values)) for values in ((1.0, 8.0, 0.5, 4.0, 2.0, 15.5), (3.0, 10.0, 0.7, 5.0, 2.0, 20.7),
                                                     (2.0, 9.0, 0.6, 6.0, 2.0, 19.6))]
    text = render([case(cpu)], "abc", "def", 3, (1.0, 1.0), "", [])
    assert "| default | 2.0 s | 9.0 s | 0.6 s | 5.0 s | 2.0 s | **19.6 s** | 24.0 s |" in text


def test_no_cpu_table_when_a_run_has_no_cpu_stages():
    text = render([case([None])], "abc", "def", 1, (1.0, 1.0), "", [])
    assert "CPU seconds (process time" not in text and "Targets for this checkout" in text
