"""Where a service process's CPU goes: py-spy samples it from outside while a benchmark window is open.

py-spy reads the process's memory (root, or ptrace rights) `RATE` times a second without pausing it
(`--nonblocking`) and keeps the samples of the thread holding the GIL (`--gil`): the one running
Python, or C code called from Python. A thread woken from its wait for I/O holds no GIL until it
runs, so the wait does not count; on a busy machine a thread holding the GIL may wait for a core
too, so the samples add up to more than the CPU time, in the same proportions. `--format raw` writes
collapsed stacks, one line per distinct stack: `frame;frame;...;leaf COUNT`, each frame
`function (file:line)`. A function's self time is the samples in which it is the leaf. Time in C code
(asyncpg's protocol, uvloop, orjson, pydantic-core, a socket's send) has no Python frame of its own
and counts in the Python function below it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RATE = 200  # samples a second
FLAGS = ("--nonblocking", "--gil", "--format", "raw")

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?P<rest>.*)$")

# Shares by package, in this order: the first whose prefix matches a frame's file (module path) wins.
PACKAGES = (
    ("asyncpg", ("asyncpg/",)),
    ("aiokafka", ("aiokafka/",)),
    ("kafka (python lib)", ("kafka/",)),
    ("pydantic / pydantic_core", ("pydantic/", "pydantic_core/")),
    ("orjson", ("orjson/",)),
    ("opentelemetry", ("opentelemetry/",)),
    ("faststream", ("faststream/",)),
    # aiokafka (and aiosmtplib) write through asyncio streams: the send to the socket, in C under it.
    ("socket writes (asyncio streams)", ("asyncio/streams.py",)),
    ("event loop (asyncio, uvloop, selectors)", ("asyncio/", "uvloop/", "selectors.py")),
)
OURS = ("shared/", "services/")
NO_FRAME = "(no Python frame)"
SMALL = 0.01  # the report folds modules of ours below this share into one row


def module_path(file: str) -> str:
    """A frame's file as a module path: `asyncpg/connection.py`, `asyncio/events.py`, `shared/consumer.py`,
    whether py-spy gave it short (relative to sys.path) or absolute."""
    file = file.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in file:
            return file.split(marker, 1)[1]
    if (stdlib := _STDLIB.search(file)) is not None:
        return stdlib.group("rest")
    root = str(REPO) + "/"
    return file[len(root) :] if file.startswith(root) else file


def package_of(module: str) -> str:
    """The share a module path counts in: a library, the event loop, one of our modules, or `other: <top>`."""
    for name, prefixes in PACKAGES:
        if module.startswith(prefixes) or module in prefixes:
            return name
    if module.startswith(OURS):
        return module
    top = module.lstrip("/").split("/", 1)[0]
    return f"other: {top or 'no file'}"


@dataclass
class Profile:
    """Samples of one or more processes: in all, and by leaf function (module path, function name)."""

    samples: int = 0
    leaves: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, other: Profile) -> None:
        self.samples += other.samples
        self.leaves.update(other.leaves)

    def top_functions(self, most: int = 12) -> list[tuple[str, float]]:
        """(`file:function`, share of samples), the most self time first."""
        return [(f"{module}:{function}", n / self.samples) for (module, function), n in self.leaves.most_common(most)]

    def by_package(self) -> list[tuple[str, float]]:
        """(package or module of ours, share of samples), largest first; everything else as one "other"."""
        shares: Counter[str] = Counter()
        for (module, _), n in self.leaves.items():
            package = package_of(module)
            shares["other" if package.startswith("other: ") else package] += n
        return [(name, n / self.samples) for name, n in shares.most_common()] if self.samples else []

    def other_parts(self, most: int = 4) -> list[tuple[str, float]]:
        """What "other" is made of: (top-level module, share of samples)."""
        parts: Counter[str] = Counter()
        for (module, _), n in self.leaves.items():
            package = package_of(module)
            if package.startswith("other: "):
                parts[package.removeprefix("other: ")] += n
        return [(name, n / self.samples) for name, n in parts.most_common(most)]


def parse_collapsed(text: str) -> Profile:
    """py-spy's `--format raw` output (collapsed stacks) as a Profile. A line without a count goes on in
    the next (a frame's name may hold a line break); text left without a count is refused: a format
    py-spy changed must not pass for an empty profile."""
    profile = Profile()
    pending = ""  # a frame whose name holds a line break (a code object named by its docstring) goes on
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, space, count = (pending + line).rstrip().rpartition(" ")
        if not space or not count.isdigit():
            pending += line + " "
            continue
        pending = ""
        frames = [f for f in stack.split(";") if f]
        if not frames:  # a running thread caught with no Python frame (starting, ending, or in C only)
            module, function = "", NO_FRAME
        elif (match := _FRAME.match(frames[-1])) is not None:
            module, function = module_path(match["file"]), match["function"]
        else:
            module, function = "", frames[-1]
        profile.samples += int(count)
        profile.leaves[(module, function)] += int(count)
    if pending:
        raise ValueError(f"the profile ends in lines that are not `stack count`: {pending[:120]!r}")
    return profile


def py_spy() -> str:
    found = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        raise RuntimeError("py-spy is missing: `make install` brings it (the dev extra)")
    return found


class Sampler:
    """py-spy recording each of some processes, from `start` to `stop`; `collect` merges what they wrote."""

    def __init__(self, pids: list[int], directory: Path, *, rate: int = RATE) -> None:
        self.pids = pids
        self.directory = directory
        self.rate = rate
        self.recorders: list[tuple[subprocess.Popen, Path, Path]] = []

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for pid in self.pids:
            output, log = self.directory / f"py-spy-{pid}.txt", self.directory / f"py-spy-{pid}.log"
            command = [
                py_spy(),
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(self.rate),
                *FLAGS,
                "--full-filenames",  # shortened names can lose their package (shared/contracts/events.py -> events.py)
                "--output",
                str(output),
            ]
            with open(log, "wb") as out:
                self.recorders.append((subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT), output, log))

    def stop(self) -> None:
        """Ask every recorder to stop sampling and write its file (py-spy does so on SIGINT)."""
        for process, _, _ in self.recorders:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

    def collect(self, timeout: float = 60.0) -> Profile:
        self.stop()
        profile = Profile()
        for process, output, log in self.recorders:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if not output.exists():
                tail = log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"py-spy wrote no profile (exit {process.returncode}):\n{tail}")
            profile.add(parse_collapsed(output.read_text(errors="replace")))
        return profile


def render(label: str, profile: Profile, *, cpu_seconds: float | None = None, rate: int = RATE, most: int = 12) -> str:
    """One process group's profile as two Markdown tables: functions by self time, shares by package."""
    if not profile.samples:
        return f"##### {label}\n\nNo samples (no thread held the GIL while sampled)."
    seen = f"{profile.samples:,} samples at {rate}/s ({profile.samples / rate:.1f} s holding the GIL"
    if cpu_seconds is not None:
        seen += f"; {cpu_seconds:.1f} s of CPU used in the window"
    seen += ")"
    functions = ["| function (file:function) | self |", "|---|---|"]
    functions += [f"| `{name}` | {share:.1%} |" for name, share in profile.top_functions(most)]
    packages = ["| package | self |", "|---|---|"]
    small = [(name, share) for name, share in profile.by_package() if name.startswith(OURS) and share < SMALL]
    for name, share in profile.by_package():
        if (name, share) in small:
            continue
        if name == "other":
            parts = ", ".join(f"{part} {s:.1%}" for part, s in profile.other_parts())
            name = f"other ({parts})" if parts else name
        packages.append(f"| {name} | {share:.1%} |")
    if small:
        packages.append(
            f"| {len(small)} more modules of ours, each under {SMALL:.0%} | {sum(s for _, s in small):.1%} |"
        )
    return f"##### {label}\n\n{seen}\n\n" + "\n".join(functions) + "\n\n" + "\n".join(packages)
