"""What a benchmark window cost: CPU seconds per process group (read from /proc by psutil) and the
statements Postgres executed for each database and role (pg_stat_statements, counted by the server).

CPU per event holds on any machine where a wall-clock rate does not, and statements per event say
what a database across a network would add (each is a round trip).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import asyncpg
import psutil

# The harness's own queries carry this comment after their SELECT (Postgres 18 drops a leading comment
# from the text it keeps), so they can be left out of the services' statements.
MARK = "/* bench */"
# asyncpg resets a connection going back to its pool with one message of four statements
# (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`): one round trip, counted
# once (as its RESET ALL).
_RESET_EXTRAS = "('SELECT pg_advisory_unlock_all()', 'CLOSE ALL', 'UNLISTEN *')"


def process_cpu(pid: int) -> float:
    """utime + stime of a process in seconds, and of its whole tree (Postgres: the postmaster and every
    backend, those already reaped included through the postmaster's cutime/cstime). The harness's own
    process counts alone: its children are the measured services and the mail sink, counted apart."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        if pid == os.getpid():
            return t.user + t.system
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.NoSuchProcess:  # reaped meanwhile: now in the parent's children time
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


class CpuMeter:
    """CPU seconds used by named groups of processes, and by everything else on the machine ("others"),
    between two samples."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def sample(self) -> dict[str, float]:
        used = {name: sum(process_cpu(pid) for pid in pids) for name, pids in self.groups.items()}
        t = psutil.cpu_times()  # guest time is already in user; steal is not ours to count
        used["machine"] = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        return used

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        spent = {name: after[name] - before[name] for name in before}
        spent["others"] = max(0.0, spent.pop("machine") - sum(spent.values()))
        return spent


def postgres_cpu_by_kind(postmaster: int) -> dict[str, float]:
    """CPU seconds so far of a Postgres server's processes by kind: the backends of each role
    ("backend <role>"), each background process by its title ("walwriter", "checkpointer",
    "autovacuum launcher", "io worker", ...), and "exited" for processes already reaped (short-lived
    autovacuum workers and closed connections, in the postmaster's children time)."""
    found: dict[str, float] = {}
    try:
        root = psutil.Process(postmaster)
        t = root.cpu_times()
        found["postmaster"] = t.user + t.system
        found["exited"] = t.children_user + t.children_system
        children = root.children()
    except psutil.NoSuchProcess:
        return found
    for child in children:
        try:
            title = " ".join(child.cmdline()).removeprefix("postgres: ").split()
            c = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        # A backend's title is "<role> <database> <client> <state>"; a background process's is its name.
        kind = f"backend {title[0]}" if len(title) >= 3 and "(" in title[2] else " ".join(
            w for w in title if not w.isdigit()) or "?"
        found[kind] = found.get(kind, 0.0) + c.user + c.system
    return found


async def enable_statement_stats(owner_url: str) -> None:
    """Ask Postgres to load pg_stat_statements at its next start (the caller restarts it)."""
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 10000")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'top'")  # what clients send
    finally:
        await conn.close()


async def create_statement_view(owner_url: str) -> None:
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


@dataclass
class StatementMeter:
    """Round trips to one database, by role, as Postgres counts the statements it executes (BEGIN and
    COMMIT included; asyncpg's four-statement connection reset once; the harness's marked queries
    left out)."""

    owner_url: str
    database: str

    async def sample(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.owner_url)
        try:
            rows = await conn.fetch(
                f"""SELECT {MARK} r.rolname AS role, sum(s.calls)::bigint AS calls
                    FROM pg_stat_statements s
                    JOIN pg_database d ON d.oid = s.dbid
                    JOIN pg_roles r ON r.oid = s.userid
                    WHERE d.datname = $1 AND s.query NOT LIKE '%{MARK}%' AND s.query NOT IN {_RESET_EXTRAS}
                    GROUP BY r.rolname""", self.database)
        finally:
            await conn.close()
        return {r["role"]: int(r["calls"]) for r in rows}

    async def top(self, most: int = 6, role: str | None = None, by_time: bool = False) -> list[tuple[str, int]]:
        """The statements executed most often since the last reset (by one role, or all): (normalised
        text, calls); `by_time`: those Postgres spent the most time executing, (text, microseconds)."""
        conn = await asyncpg.connect(self.owner_url)
        try:
            rows = await conn.fetch(
                f"""SELECT {MARK} s.query,
                           {"(sum(s.total_exec_time) * 1000)::bigint" if by_time else "sum(s.calls)::bigint"} AS calls
                    FROM pg_stat_statements s
                    JOIN pg_database d ON d.oid = s.dbid
                    JOIN pg_roles r ON r.oid = s.userid
                    WHERE d.datname = $1 AND s.query NOT LIKE '%{MARK}%' AND s.query NOT IN {_RESET_EXTRAS}
                      AND ($3::text IS NULL OR r.rolname = $3)
                    GROUP BY s.query ORDER BY 2 DESC LIMIT $2""", self.database, most, role)
        finally:
            await conn.close()
        return [(" ".join(r["query"].split()), int(r["calls"])) for r in rows]

    @staticmethod
    def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        return {role: after[role] - before.get(role, 0) for role in after}
