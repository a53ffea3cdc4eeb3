"""How fast the door refuses junk: `parse_event` (decode, envelope, strict contract) on every kind of
message the fuzz suite sends (tests/support/junk.py), per input topic, on one core.

This is the cost each service pays per bad message before it writes the dead letter; the end-to-end
rejection rate through Kafka is in docs/reliability.md (the fuzz run).

    python -m benchmarks.rejection [--per-kind N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.report import write_section
from shared.consumer import InvalidMessage, parse_event
from tests.support import junk as j


def kinds(topic: str) -> dict:
    return {"wrong type": j.wrong_type(topic), "missing field": j.missing_field(topic),
            "mutated envelope": j.mutated_envelope(topic), "huge string": j.huge_string(topic),
            "deep nesting": j.deep_nesting(topic), "bad unicode": j.bad_unicode(topic),
            "binary garbage": j.binary_garbage, "wrong topic": j.wrong_topic(topic), "1 MB": j.megabyte(topic)}


def time_rejections(topic: str, messages: list[bytes]) -> list[float]:
    seconds = []
    for raw in messages:
        started = time.perf_counter()
        try:
            parse_event(topic, raw)
        except InvalidMessage:
            pass
        else:
            raise AssertionError(f"a junk message on {topic} was accepted")
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=300, help="messages per kind and topic (1 MB ones: a tenth)")
    args = parser.parse_args()
    rows, overall, slowest = [], [], (0.0, "", "", 0)
    for name in kinds(j.INPUT_TOPICS[0]):
        times: list[float] = []
        size_sum = 0
        for topic in j.INPUT_TOPICS:
            n = max(5, args.per_kind // 10) if name == "1 MB" else args.per_kind
            messages = j.generate(n, kinds(topic)[name])
            took = time_rejections(topic, messages)
            times += took
            size_sum += sum(len(m) for m in messages)
            worst = max(range(len(took)), key=took.__getitem__)
            if took[worst] > slowest[0]:
                slowest = (took[worst], name, topic, len(messages[worst]))
        overall += times
        q = statistics.quantiles(times, n=100)
        rows.append(f"| {name} | {len(times)} | {size_sum / len(times) / 1024:.1f} | {q[49] * 1e6:.0f} | "
                    f"{q[98] * 1e6:.0f} | {max(times) * 1e3:.2f} | {len(times) / sum(times):,.0f} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "Every kind of junk the fuzz suite sends, refused by `shared.consumer.parse_event` (bytes to a "
        "contract-checked event, or `InvalidMessage` with the reason) on one core, "
        f"{args.per_kind} per kind on each of the {len(j.INPUT_TOPICS)} input topics (`python -m benchmarks.rejection`).",
        "",
        "| kind | messages | mean size (KiB) | median (µs) | p99 (µs) | slowest (ms) | refused per second |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"All {len(overall):,}: {len(overall) / sum(overall):,.0f} refused per second on one core; the slowest was "
        f"{slowest[0] * 1e3:.1f} ms ({slowest[1]}, {slowest[3] / 1024:.0f} KiB, on {slowest[2]}).",
    ])
    write_section("rejection", "Refusing junk at the door", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
