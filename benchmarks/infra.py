"""Throwaway PostgreSQL + Apache Kafka for a benchmark run, started as `tandem up` starts them."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.db import create_database
from tandem.local.stack import Infrastructure, Ports


@contextmanager
def local_infrastructure() -> Iterator[tuple[Infrastructure, str]]:
    """(infrastructure with all topics created, URL of a fresh database); removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    infra = Infrastructure(home, Ports.free())
    try:
        infra.start(say=lambda line: print(line, flush=True))
        infra.create_topics()
        yield infra, asyncio.run(create_database(infra.database_url, "bench"))
    finally:
        infra.stop()
        shutil.rmtree(home, ignore_errors=True)
