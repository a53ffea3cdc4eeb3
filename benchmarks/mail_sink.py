"""The benchmarks' mail server: an SMTP sink in a process of its own, at a lower priority (nice), so
that taking the mail does not compete with the measured services for the CPU.

It does not parse what it takes. For each message it appends one line to `index.tsv`:

    <arrival time, ns since the epoch> TAB <envelope recipients, comma-separated> TAB <1 if the raw
    bytes hold a text/calendar part, else 0> TAB <file name or ->

and keeps the bytes (`<n>.eml`) only of messages with a calendar part, to be read fully after the run.

    python -m benchmarks.mail_sink DIRECTORY PORT [NICENESS]      (runs until its stdin closes)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import uvloop
from aiosmtpd.controller import Controller

INDEX = "index.tsv"
NICENESS = 5


class _Sink:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.index = os.open(directory / INDEX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        arrived = time.time_ns()
        raw = envelope.original_content or envelope.content
        calendar = b"text/calendar" in raw
        with self.lock:
            self.count += 1
            name = f"{self.count:07d}.eml" if calendar else "-"
        if calendar:
            (self.directory / name).write_bytes(raw)
        # One write per line on an O_APPEND descriptor: a reader never sees half a line of another.
        os.write(self.index, f"{arrived}\t{','.join(envelope.rcpt_tos)}\t{int(calendar)}\t{name}\n".encode())
        return "250 Message accepted for delivery"


def main() -> None:
    directory, port = Path(sys.argv[1]), int(sys.argv[2])
    os.nice(int(sys.argv[3]) if len(sys.argv) > 3 else NICENESS)
    directory.mkdir(parents=True, exist_ok=True)
    # uvloop, as the services run on: the sink takes less of the CPU it shares with them.
    controller = Controller(_Sink(directory), hostname="127.0.0.1", port=port, loop=uvloop.new_event_loop())
    controller.start()
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
