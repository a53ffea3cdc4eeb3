"""benchmarks/limits.py: the "what this means" figures are computed from the measured steps."""

from __future__ import annotations

from benchmarks.limits import CONSUMER_BATCH, CORES, OUTBOX_BATCH, Limits, Run, quantile, render


def run(
    what: str,
    *,
    client: float = 0.0,
    postgres: float = 0.0,
    kafka: float = 0.0,
    per_second: float = 1000.0,
    latencies_ms: tuple[float, ...] = (),
) -> Run:
    """A step of a million operations costing the given CPU µs each."""
    n = 1_000_000
    return Run(
        what,
        n,
        seconds=n / per_second,
        cpu={"client": client * n / 1e6, "postgres": postgres * n / 1e6, "kafka": kafka * n / 1e6, "others": 0.0},
        latencies=[ms / 1000 for ms in latencies_ms],
    )


def words(text: str) -> str:
    """The text with its line breaks as spaces: the figures are checked, not how lines wrap."""
    return " ".join(text.split())


def limits() -> Limits:
    return Limits(
        idle={"postgres": 0.01, "kafka": 0.02},
        inserts=[
            run("INSERT ... unnest, 100 rows a transaction", client=9, postgres=30),
            run(f"INSERT ... unnest, {CONSUMER_BATCH} rows a transaction", client=5, postgres=15),
            run("COPY, 1000 rows a transaction", client=2, postgres=8),
        ],
        commits=[
            run("one-row insert + COMMIT, one connection", client=50, postgres=80, latencies_ms=(2.0,) * 10),
            run("the same with synchronous_commit = off", client=50, postgres=70, latencies_ms=(0.5,) * 10),
            run("commits a second, 1 connection at once", per_second=400),
            run("commits a second, 8 connections at once", per_second=2000),
        ],
        kafka=[
            run("produce, send_and_wait one message at a time", client=300, kafka=200, per_second=150),
            run(f"produce, {OUTBOX_BATCH} sends then wait for them all", client=20, kafka=6, per_second=40000),
            run("consume, getmany of up to 200", client=10, kafka=4, per_second=90000),
            run("produce → consume round trip, linger 5 ms (ours)", latencies_ms=(7.0,) * 10),
            run("the same, linger 0 ms", latencies_ms=(2.0,) * 10),
        ],
        envelope_bytes=612,
        linger_ms=5,
    )


def test_the_floor_is_one_consume_one_produce_and_one_share_of_a_batch_insert():
    text = words(render(limits(), "load average: 0.50", "load average: 0.60"))
    # consume 10 + 4, produce 20 + 6, insert at the consumer's batch 5 + 15
    assert "costs at the least **60 µs of CPU**: 35 µs in the service's process" in text
    assert f"a ceiling of **{CORES * 1e6 / 60:,.0f} events/s**" in text
    assert f"at most {1e6 / 35:,.0f} events/s" in text
    assert "their floor is at least 80 µs" in text  # a second row (the outbox's) at the same batch cost


def test_waiting_figures_come_from_the_latencies():
    text = words(render(limits(), "", ""))
    assert "The wait for the WAL flush is 1.50 ms of the 2.00 ms p50" in text
    assert "achieve 5.0× the commits of one" in text
    assert "(200 µs for a message sent alone, 6 µs for one in a batch)" in text
    assert "could not pass 500 events/s" in text
    assert "at least 7.0 ms (p50, produce → consume; 2.0 ms" in text


def test_quantiles_read_the_sorted_values():
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile(list(range(101)), 0.99) == 99
    assert quantile([], 0.5) != quantile([], 0.5)  # nan for no values
