"""The end-to-end verdict of benchmarks/throughput.py and the reading of its mail sink's index:
what "sustained" means is enforced by code, so it is tested like code."""

from __future__ import annotations

import os

import pytest

from benchmarks.mail_sink import INDEX
from benchmarks.throughput import TARGET_P95_SECONDS, Drive, MailIndex, _p95_index, pct


def drive(latencies: list[float | None], *, planned: int | None = None, waiting: int = 0) -> Drive:
    """A finished run: mentee k published at time k, its invite after latencies[k] (None: never)."""
    d = Drive(rate=1, planned=len(latencies) if planned is None else planned, warmed_up=True)
    for k, latency in enumerate(latencies):
        d.onboarded_at[f"e{k}"] = float(k)
        if latency is not None:
            d.invited_at[f"e{k}"] = k + latency
    d.waiting = {"deliveries due": waiting}
    return d


def test_a_run_whose_p95_is_within_the_bound_with_nothing_left_is_sustained():
    d = drive([0.5] * 95 + [5.0] * 5)
    assert d.p95 == 0.5
    assert d.sustained


def test_a_p95_over_the_bound_is_not_sustained_even_when_every_invite_came():
    d = drive([0.5] * 90 + [2.5] * 10)
    assert d.p95 == 2.5
    assert not d.sustained
    assert f"p95 > {TARGET_P95_SECONDS:.0f} s" in d.verdict()


def test_a_missing_invite_counts_as_infinitely_late():
    d = drive([0.5] * 94 + [None] * 6)
    assert d.p95 == float("inf")
    assert not d.sustained
    assert "6 invites missing" in d.verdict()


def test_work_left_waiting_at_the_end_is_not_sustained():
    d = drive([0.5] * 100, waiting=3)
    assert not d.sustained
    assert "work left waiting" in d.verdict()


def test_a_run_that_published_less_than_planned_is_not_sustained():
    assert not drive([0.5] * 50, planned=60).sustained


@pytest.mark.parametrize("n", [1, 2, 20, 60, 61, 75, 300, 12_000])
def test_stopping_early_is_right_exactly_when_p95_can_no_longer_hold(n: int):
    """With `late` known-late mentees of n planned, the driver stops once late ≥ n − index; from then on
    p95 exceeds the bound whatever the others do, and one fewer late mentee still leaves it possible."""
    stop_at = n - _p95_index(n)
    best_case = [0.0] * (n - stop_at) + [TARGET_P95_SECONDS + 1] * stop_at
    assert pct(best_case, .95) > TARGET_P95_SECONDS
    if stop_at > 1:
        one_fewer = [0.0] * (n - stop_at + 1) + [TARGET_P95_SECONDS + 1] * (stop_at - 1)
        assert pct(one_fewer, .95) <= TARGET_P95_SECONDS


def test_the_mail_index_is_read_line_by_line_never_half_a_line(tmp_path):
    index = MailIndex(tmp_path)
    assert index.read() == []
    with open(tmp_path / INDEX, "ab") as f:
        f.write(b"1000000000\ta@example.com\t1\t0000001.eml\n2000000000\tb@example.com,c@example.com\t0\t-\n3000")
        f.flush()
        os.fsync(f.fileno())
    first = index.read()
    assert [(a.at, a.recipients, a.calendar, a.file) for a in first] == [
        (1.0, ("a@example.com",), True, "0000001.eml"), (2.0, ("b@example.com", "c@example.com"), False, None)]
    with open(tmp_path / INDEX, "ab") as f:
        f.write(b"000000\td@example.com\t1\t0000002.eml\n")
    second = index.read()
    assert [(a.at, a.recipients) for a in second] == [(3.0, ("d@example.com",))]
    assert index.between(1.5, 3.0) == 2
