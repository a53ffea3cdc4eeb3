"""benchmarks/profiles.py reads py-spy's collapsed stacks into self time by function and by package."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.profiles import NO_FRAME, REPO, Profile, module_path, package_of, parse_collapsed, render

# Stacks from `py-spy record --gil --format raw --full-filenames` of a feedback process handling
# meeting.completed, the commonest and a few more, cut to their last frames; @REPO@ stands for the
# checkout they were sampled in.
SAMPLE = Path(__file__).parent / "py_spy_sample.txt"


def sample() -> str:
    return SAMPLE.read_text().replace("@REPO@", str(REPO))


@pytest.fixture(scope="module")
def profile() -> Profile:
    return parse_collapsed(sample())


def test_every_sample_counts_once_at_its_leaf(profile: Profile):
    counts = [int(line.rsplit(" ", 1)[1]) for line in sample().splitlines() if line.strip()]
    assert profile.samples == sum(counts)
    assert sum(profile.leaves.values()) == profile.samples
    assert sum(share for _, share in profile.by_package()) == pytest.approx(1.0)


def test_functions_are_named_by_module_path_and_ordered_by_self_time(profile: Profile):
    top = profile.top_functions(3)
    assert [share for _, share in top] == sorted((share for _, share in top), reverse=True)
    names = [name for name, _ in profile.top_functions(50)]
    assert all(":" in name and not name.startswith("/") for name in names)
    assert "asyncpg/connection.py:_do_execute" in names


def test_shares_by_package_keep_our_modules_apart(profile: Profile):
    shares = dict(profile.by_package())
    assert shares["asyncpg"] > 0
    assert shares["event loop (asyncio, uvloop, selectors)"] > 0
    assert any(name.startswith("shared/") for name in shares)
    assert any(name.startswith("services/feedback/") for name in shares)


@pytest.mark.parametrize(
    ("file", "module"),
    [
        ("asyncpg/connection.py", "asyncpg/connection.py"),
        ("/work/main/.venv/lib/python3.11/site-packages/aiokafka/consumer/fetcher.py", "aiokafka/consumer/fetcher.py"),
        ("/usr/local/lib/python3.11/asyncio/events.py", "asyncio/events.py"),
        (f"{REPO}/shared/consumer.py", "shared/consumer.py"),
    ],
)
def test_files_become_module_paths_however_py_spy_wrote_them(file: str, module: str):
    assert module_path(file) == module


@pytest.mark.parametrize(
    ("module", "package"),
    [
        ("pydantic_core/core_schema.py", "pydantic / pydantic_core"),
        ("selectors.py", "event loop (asyncio, uvloop, selectors)"),
        ("asyncio/streams.py", "socket writes (asyncio streams)"),
        ("asyncio/base_events.py", "event loop (asyncio, uvloop, selectors)"),
        ("uvloop/__init__.py", "event loop (asyncio, uvloop, selectors)"),
        ("kafka/record/util.py", "kafka (python lib)"),
        ("aiokafka/producer/producer.py", "aiokafka"),
        ("services/feedback/service_layer/handlers.py", "services/feedback/service_layer/handlers.py"),
        ("logging/__init__.py", "other: logging"),
    ],
)
def test_packages(module: str, package: str):
    assert package_of(module) == package


def test_a_running_thread_without_a_python_frame_is_counted_apart(profile: Profile):
    assert profile.leaves[("", NO_FRAME)] == 1
    assert dict(profile.other_parts(10))["no file"] == pytest.approx(1 / profile.samples)


def test_text_left_without_a_count_is_refused():
    with pytest.raises(ValueError, match="Sampling process"):
        parse_collapsed("run (asyncio/runners.py:118) 3\nSampling process 100 times a second\n")


def test_a_frame_name_with_a_line_break_goes_on_in_the_next_line():
    # A code object named by its docstring (seen in matching's process): the name spans two lines.
    profile = parse_collapsed("run (asyncio/runners.py:118);The soft score: five parts.\n"
                              "Weighted per program. (services/matching/domain/score.py:12) 4\n"
                              "run (asyncio/runners.py:118) 3\n")
    assert profile.samples == 7
    assert profile.leaves[("services/matching/domain/score.py", "The soft score: five parts. Weighted per program.")] == 4


def test_the_report_shows_both_tables(profile: Profile):
    text = render("feedback ×1", profile, cpu_seconds=12.5)
    assert f"{profile.samples:,} samples at 200/s" in text and "12.5 s of CPU used in the window" in text
    assert "| `asyncpg/connection.py:_do_execute` |" in text
    assert "| asyncpg |" in text
    small = [
        (name, share)
        for name, share in profile.by_package()
        if name.startswith(("shared/", "services/")) and share < 0.01
    ]
    assert small and all(f"| {name} |" not in text for name, _ in small)
    assert f"| {len(small)} more modules of ours, each under 1% | {sum(s for _, s in small):.1%} |" in text
    assert render("idle", Profile()).endswith("No samples (no thread held the GIL while sampled).")
