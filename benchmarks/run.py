"""`make bench`: every benchmark, one after the other; each writes its own section of docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["benchmarks.matching", "benchmarks.cohort_versus", "benchmarks.matching_service",
              "benchmarks.scheduling_planner", "benchmarks.reminders",
              "benchmarks.consumer_path", "benchmarks.limits", "benchmarks.throughput", "benchmarks.cohort_delivery", "benchmarks.mail", "benchmarks.rejection", "benchmarks.pages", "benchmarks.retention_purge"]


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module, *sys.argv[1:]]).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
