"""Benchmark: events per second through each service, alone and as two replicas, and the time from
a mentee's onboarding to the meeting invite in their inbox with all four services running.

1. One instance of a service, as its own OS process (as `tandem up` starts it), on PostgreSQL and
   Apache Kafka run locally. Its database is seeded directly (migrations, COPY of the people or pairs
   it needs) and N input events with distinct keys are on its topic before it starts. Measured: from
   its first inbox row until all N are in its inbox and its outbox has nothing pending (consume,
   validate, dedupe, handle, commit, relay to Kafka). Notifications' handlers only write the
   delivery log; its mail rate (the delivery loop over real SMTP) is measured on its own.
2. The same with two processes in one consumer group.
3. End to end: the four services, a mail server and a driver that, at R pairs a second, onboards a
   mentor and a mentee who fit each other, asks for a match, accepts every proposal, and times each
   mentee from the publish of their onboarding to the arrival of their invite mail. The highest of
   the tried rates that the system sustains (every invite arrives, latency does not grow) is reported.

    .venv/bin/python -m benchmarks.throughput [--events 4000] [--only SERVICE... e2e]
                                              [--rates 200 100 50 25 10 5 2] [--seconds 30] [--drain 20]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import asyncpg
import httpx
import psutil

from benchmarks.infra import local_infrastructure
from benchmarks.report import write_section
from services.feedback.entrypoints.app import build_service as build_feedback
from services.feedback.settings import FeedbackSettings
from services.matching.entrypoints.app import build_service as build_matching
from services.matching.settings import MatchingSettings
from services.notifications.entrypoints.app import build_service as build_notifications
from services.notifications.settings import NotificationSettings
from services.scheduling.domain.invites import build_invite, meeting_for_pair
from services.scheduling.domain.outcomes import Slot
from services.scheduling.entrypoints.app import build_service as build_scheduling
from services.scheduling.settings import SchedulingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.profile import ParticipantProfile
from shared.db import create_database, create_pool, migrate
from shared.kafka import all_topic_names, ensure_topics
from shared.people import Participant
from shared.replica import PARTICIPANT_COLUMNS, participant_values
from tandem.client import Observed, Publisher, Watcher
from tandem.local.stack import (
    REPO,
    Infrastructure,
    ServiceProcess,
    Services,
    free_http_ports,
    free_port,
    service_env,
)
from tandem.population import FIRST, LAST, PLACES, SECTORS, SKILLS, WORKDAYS

SERVICES = ("matching", "scheduling", "notifications", "feedback")
PROGRAMS = 8
TARGET_EVENTS_PER_SECOND = 3000
TARGET_SCALING = 1.6
TARGET_P95_SECONDS = 2.0
POLL_SECONDS = 0.1
MAIL_WINDOW_SECONDS = 20.0  # notifications: how long mail sending is watched at most
OVERDUE_SECONDS = 15.0  # e2e: an invite this late means a backlog is building
STATEMENT_COUNT_EVENTS = 400  # events of the in-process pass that counts SQL round trips


# --- people who fit each other ----------------------------------------------------------------------

def pair_profiles(count: int, *, tag: str = "", capacity: int = 2, seed: int = 5) -> list[tuple[dict, dict]]:
    """`count` (mentor, mentee) onboarding profiles. Each pair fits: same zone and languages, weekday
    office hours, a more senior mentor whose skills cover the mentee's goals, no quiet hours (mail
    goes out at once). Pair k belongs to program k % PROGRAMS and lives in zone k % 19."""
    rng = random.Random(seed)
    pairs = []
    for k in range(count):
        place = PLACES[k % len(PLACES)]
        skills = rng.sample(SKILLS, 4)
        program_id = f"program-{k % PROGRAMS}"
        mentor = _profile(rng, f"{tag}m-{k:06d}", program_id, place, role="mentor", seniority=rng.randint(7, 10),
                          skills=skills, goals=[], capacity=capacity)
        mentee = _profile(rng, f"{tag}e-{k:06d}", program_id, place, role="mentee", seniority=rng.randint(1, 5),
                          skills=[], goals=rng.sample(skills, 2), capacity=0)
        pairs.append((mentor, mentee))
    return pairs


def _profile(rng: random.Random, pid: str, program_id: str, place: tuple, *, role: str, seniority: int,
             skills: list[str], goals: list[str], capacity: int) -> dict:
    zone, country, region, locale, languages = place
    return {
        "participant_id": pid, "program_id": program_id, "roles": [role],
        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "email": f"{pid}@example.com",
        "locale": locale, "languages": list(languages), "timezone": zone, "country": country, "region": region,
        "sector": rng.choice(SECTORS), "seniority": seniority, "skills": skills, "goals": goals,
        "mentor_capacity": capacity, "availability": [{"days": list(WORKDAYS), "start": "08:00", "end": "18:00"}],
        "communication": {"channel": "email", "style": "direct"},
    }


def as_participant(profile: dict) -> Participant:
    return Participant.from_profile(ParticipantProfile.model_validate(profile))


def relationship_id(mentee: dict) -> str:
    return "r-" + mentee["participant_id"]


async def copy_people(conn: asyncpg.Connection, profiles: list[dict]) -> None:
    await conn.copy_records_to_table("participants", columns=PARTICIPANT_COLUMNS,
                                     records=[participant_values(as_participant(p)) for p in profiles])


async def copy_pairs(conn: asyncpg.Connection, pairs: list[tuple[dict, dict]]) -> None:
    established = datetime.now(UTC) - timedelta(days=30)
    await conn.copy_records_to_table(
        "pairs", columns=["relationship_id", "program_id", "mentor_id", "mentee_id", "established_at", "goals"],
        records=[(relationship_id(e), e["program_id"], m["participant_id"], e["participant_id"], established,
                  e["goals"]) for m, e in pairs])


# --- what each service is given -----------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """One service's input: what it is seeded with, the events it is given, and what they cause."""

    service: str
    build: Callable
    settings: type
    consumes: str
    causes: str
    seed: Callable[[asyncpg.Connection, list[tuple[dict, dict]]], Awaitable[None]]
    inputs: Callable[[list[tuple[dict, dict]]], list[ev.EventData]]
    sends_mail: bool = False


async def seed_matching(conn: asyncpg.Connection, pairs: list[tuple[dict, dict]]) -> None:
    # One mentor per ten mentees, each able to take 50: capacity is never what stops a proposal.
    mentors = [dict(m, mentor_capacity=50) for m, _ in pairs[: max(PROGRAMS * 19, len(pairs) // 10)]]
    await copy_people(conn, mentors + [e for _, e in pairs])


async def seed_people(conn: asyncpg.Connection, pairs: list[tuple[dict, dict]]) -> None:
    await copy_people(conn, [p for pair in pairs for p in pair])


async def seed_pairs(conn: asyncpg.Connection, pairs: list[tuple[dict, dict]]) -> None:
    await copy_pairs(conn, pairs)


def match_requests(pairs: list[tuple[dict, dict]]) -> list[ev.EventData]:
    return [ev.MatchRequested(mentee_id=e["participant_id"], program_id=e["program_id"]) for _, e in pairs]


def matches_established(pairs: list[tuple[dict, dict]]) -> list[ev.EventData]:
    now = datetime.now(UTC)
    return [ev.MatchEstablished(relationship_id=relationship_id(e), proposal_id="p-" + e["participant_id"],
                                program_id=e["program_id"], mentor_id=m["participant_id"],
                                mentee_id=e["participant_id"], established_at=now, goals=e["goals"])
            for m, e in pairs]


def meetings_scheduled(pairs: list[tuple[dict, dict]]) -> list[ev.EventData]:
    """Kickoffs three days ahead, each with the iCalendar invite scheduling would attach."""
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    slot = Slot(start, start + timedelta(minutes=45))
    events = []
    for m, e in pairs:
        meeting_id = relationship_id(e) + "/1"
        ics = build_invite(meeting_for_pair(meeting_id, slot, as_participant(m), as_participant(e), occurrence=1))
        events.append(ev.MeetingScheduled(meeting_id=meeting_id, relationship_id=relationship_id(e),
                                          program_id=e["program_id"], mentor_id=m["participant_id"],
                                          mentee_id=e["participant_id"], occurrence=1, start=slot.start,
                                          end=slot.end, kind="kickoff", sequence=0, ics=ics))
    return events


def meetings_completed(pairs: list[tuple[dict, dict]]) -> list[ev.EventData]:
    start = datetime.now(UTC) - timedelta(hours=2)
    return [ev.MeetingCompleted(meeting_id=relationship_id(e) + "/1", relationship_id=relationship_id(e),
                                program_id=e["program_id"], mentor_id=m["participant_id"],
                                mentee_id=e["participant_id"], occurrence=1, start=start,
                                end=start + timedelta(minutes=45))
            for m, e in pairs]


WORKLOADS = {
    "matching": Workload("matching", build_matching, MatchingSettings, "match.requested",
                         "rank the program's mentors, proposal row → match.proposed (or match.unavailable)",
                         seed_matching, match_requests),
    "scheduling": Workload("scheduling", build_scheduling, SchedulingSettings, "match.established",
                           "pair, series, kickoff placed in both people's hours, bookings, 2 reminders → "
                           "meeting.scheduled with an iCalendar invite", seed_people, matches_established),
    "notifications": Workload("notifications", build_notifications, NotificationSettings, "meeting.scheduled",
                              "2 deliveries rendered in each person's language, with the invite "
                              "(then the delivery loop sends them over SMTP)", seed_people, meetings_scheduled,
                              sends_mail=True),
    "feedback": Workload("feedback", build_feedback, FeedbackSettings, "meeting.completed",
                         "meeting outcome, 2 feedback requests, health → feedback.requested ×2 "
                         "(+ relationship.health.changed)", seed_pairs, meetings_completed),
}


# Where a process's time goes per event, from development profiles (cProfile, in-process) of each service.
LIMITS = {
    "matching": "the program's advisory lock; the index stamp, and a re-read of the people the previous "
                "request changed (every proposal changes a mentor's load, so every request refreshes the index); "
                "the mentee's checks; ranking the program's mentors (numpy) and explaining the best; the proposal "
                "row and a new stamp. In the profile about 30 % of the handler was ranking and explaining, 40 % "
                "sending statements.",
    "scheduling": "about half of the handler's CPU is building the iCalendar invite (`icalendar`, ~1.4 ms "
                  "each here); the rest is placing the kickoff in both people's hours and its statements "
                  "(series, both people, advisory locks, busy times, meeting, bookings under the GiST "
                  "no-double-booking constraint, 2 reminders).",
    "notifications": "rendering two messages (templates in each reader's language and tone, the invite attached) "
                     "and writing them to the delivery log. Its mail rate is the delivery loop: one message at a "
                     "time, built with Python's `email` package (over half of the loop's CPU in the profile), a "
                     "new SMTP connection each, a transaction to claim it before and one to record it after.",
    "feedback": "little domain work: the time is its statements (the pair's row lock, health, the outcome, "
                "2 requests, 3 reads for the health signals, the health upsert) and the per-event plumbing "
                "(OpenTelemetry span, envelope validation, 3 outbox events).",
}


# --- processes and what they cost -----------------------------------------------------------------

# The mail server runs until its stdin closes.
_MAIL_SERVER = ("import pathlib, sys; from tandem.local.mailbox import LocalMailbox; "
                "box = LocalMailbox(pathlib.Path(sys.argv[1]), int(sys.argv[2])); box.start(); sys.stdin.read(); "
                "box.stop()")


@contextmanager
def mail_server(directory: Path) -> Iterator[tuple[int, int]]:
    """The local SMTP server in a process of its own, as the organisation's relay would be: (port, pid)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _MAIL_SERVER, str(directory), str(port)],
                               stdin=subprocess.PIPE, cwd=REPO)
    try:
        _wait_for_port(port)
        yield port, process.pid
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def service_processes(service: str, replicas: int, *, database_url: str, bootstrap: str, prefix: str,
                      smtp_port: int, log_dir: Path) -> list[ServiceProcess]:
    """`replicas` processes of one service, configured as `tandem up` configures them."""
    ports = free_http_ports(replicas)
    return [ServiceProcess(service, k, service_env(database_url=database_url, bootstrap_servers=bootstrap,
                                                   smtp_port=smtp_port, port=ports[f"{service}#{k}"],
                                                   topic_prefix=prefix),
                           log_dir / f"{service}-{k}.log", ports[f"{service}#{k}"])
            for k in range(1, replicas + 1)]


class CpuMeter:
    """CPU seconds used by groups of processes (a service's processes, Postgres, Kafka, ...), and by
    everything else on the machine, between two samples."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def sample(self) -> dict[str, float]:
        used = {name: sum(_process_cpu(pid) for pid in pids) for name, pids in self.groups.items()}
        t = psutil.cpu_times()  # guest time is already in user; steal is not ours to count
        used["machine"] = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        return used

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        spent = {name: after[name] - before[name] for name in before}
        spent["others"] = max(0.0, spent.pop("machine") - sum(spent.values()))
        return spent


def _process_cpu(pid: int) -> float:
    """CPU seconds of a process; for Postgres (a tree) also its backends, live and reaped."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        if pid == os.getpid():  # the benchmark's children are the services: counted on their own
            return t.user + t.system
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def infrastructure_pids(infra: Infrastructure) -> dict[str, list[int]]:
    groups = {}
    if infra.postgres is not None and infra.postgres.process is not None:
        groups["postgres"] = [infra.postgres.process.pid]
    if infra.kafka is not None and infra.kafka.process is not None:
        groups["kafka"] = [infra.kafka.process.pid]
    groups["benchmark"] = [os.getpid()]
    return groups


def handler_seconds(ports: list[int], event_type: str) -> tuple[float, int]:
    """(seconds, events) of `tandem_handler_seconds` for one event type, summed over processes."""
    total, count = 0.0, 0
    pattern = re.compile(r'^tandem_handler_seconds_(sum|count)\{[^}]*type="' + re.escape(event_type) + r'"[^}]*\} (\S+)$')
    for port in ports:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if m := pattern.match(line):
                if m.group(1) == "sum":
                    total += float(m.group(2))
                else:
                    count += int(float(m.group(2)))
    return total, count


def log_problems(log_dir: Path) -> Counter[str]:
    """Error and warning lines over every log in the directory, counted by level, service and message,
    the message stripped of what differs from line to line (ids, group names, numbers)."""
    found: Counter[str] = Counter()
    for path in log_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.startswith("Traceback"):
                    found[f"error | {path.stem} | traceback"] += 1
                continue
            if entry.get("level") in ("error", "warning", "critical"):
                found[f"{entry['level']} | {entry.get('service')} | {_message_kind(entry.get('message', ''))}"] += 1
    return found


def _message_kind(message: str) -> str:
    message = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)
    message = re.sub(r"for group \S+", "for group <group>", message)
    message = re.sub(r"\d+", "N", message)
    return message[:110].replace("|", "/")


def mail_files(directory: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(directory) if e.name.endswith(".eml"))


def arrival_time(name: str) -> float:
    """The mailbox names each message after the moment it accepted it (`<time_ns>-<n>.eml`)."""
    return int(name.split("-", 1)[0]) / 1e9


# --- round trips: what a statement costs here, and how many an event takes ------------------------------

_STATEMENT_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")


@contextmanager
def counting_statements() -> Iterator[Counter[str]]:
    """Counts what this process sends to Postgres through asyncpg's public methods: each call is one
    round trip (BEGIN and COMMIT included: transactions send them with `execute`)."""
    counts: Counter[str] = Counter()
    originals = {name: getattr(asyncpg.Connection, name) for name in _STATEMENT_METHODS}

    def counted(name: str, original):
        async def call(self, *args, **kwargs):
            counts[name] += 1
            return await original(self, *args, **kwargs)
        return call

    for name, original in originals.items():
        setattr(asyncpg.Connection, name, counted(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)


async def round_trip_ms(url: str, times: int = 1000) -> float:
    """Median time of `SELECT 1` from this process: the floor under every statement a handler sends."""
    conn = await asyncpg.connect(url)
    try:
        took = []
        for _ in range(times):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            took.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return 1000 * statistics.median(took)


async def statements_per_event(infra: Infrastructure, workload: Workload, n: int) -> float:
    """The service in this process on n events, its background loops off (the outbox relay stays):
    statements sent to Postgres per event handled."""
    pairs = pair_profiles(n, tag="count-")
    url, prefix = await prepare(infra, workload, pairs, workload.inputs(pairs))
    service = workload.build(workload.settings(database_url=url, kafka_bootstrap_servers=infra.bootstrap_servers,
                                               topic_prefix=prefix, http_port=0))
    service.loops = []  # reminders, deliveries, expiry: not the event's work
    polls = 0
    with counting_statements() as counts:
        async with service.running():
            async with service.pool.acquire() as conn:
                while (await conn.fetchval("SELECT count(*) FROM inbox")) < n:
                    polls += 1
                    await asyncio.sleep(POLL_SECONDS)
                polls += 1
            await asyncio.sleep(1.5)  # the relay's last batch
    return (sum(counts.values()) - polls) / n


# --- part 1 and 2: one service, N events --------------------------------------------------------------

@dataclass
class Timeline:
    """When a service's first event was handled, when all were, when its outbox was empty, and the
    handled count polled in between."""

    first: float = 0.0
    handled: float = 0.0
    drained: float = 0.0
    samples: list[tuple[float, int]] = field(default_factory=list)  # (epoch seconds, events handled)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds from first to drained

    def steady_rate(self) -> float:
        """Events/s between 10 % and 90 % handled: without the start (group joins, rebalances) and the
        tail (one partition left)."""
        n = self.samples[-1][1]
        t10, c10 = next((t, c) for t, c in self.samples if c >= 0.1 * n)
        t90, c90 = next((t, c) for t, c in self.samples if c >= 0.9 * n)
        return (c90 - c10) / (t90 - t10) if t90 > t10 else float("nan")


@dataclass
class Throughput:
    service: str
    replicas: int
    events: int
    timeline: Timeline
    handler_ms: float  # mean time per event inside the handler's transaction (tandem_handler_seconds)
    outcomes: dict[str, int] = field(default_factory=dict)  # outbox events by type
    mails: int = 0
    mail_seconds: float = 0.0
    problems: Counter[str] = field(default_factory=Counter)
    statements: float = float("nan")  # SQL round trips per event (counted in-process)

    @property
    def deadlocks(self) -> int:
        return sum(n for message, n in self.problems.items() if "Deadlock" in message)

    @property
    def seconds(self) -> float:
        return self.timeline.drained - self.timeline.first

    @property
    def rate(self) -> float:
        """First inbox row → all handled and the outbox drained."""
        return self.events / self.seconds

    @property
    def handled_rate(self) -> float:
        return self.events / (self.timeline.handled - self.timeline.first)

    @property
    def headline_rate(self) -> float:
        """What the service's events/s is: with the outbox drained, or handled for one that emits nothing."""
        return self.handled_rate if WORKLOADS[self.service].sends_mail else self.rate

    @property
    def mail_rate(self) -> float:
        return self.mails / self.mail_seconds if self.mail_seconds else 0.0


_PROGRESS = """SELECT (SELECT count(*) FROM {schema}.inbox) AS handled,
                      (SELECT extract(epoch FROM min(received_at)) FROM {schema}.inbox) AS first,
                      (SELECT count(*) FROM {schema}.outbox WHERE state = 'pending') AS pending"""


async def prepare(infra: Infrastructure, workload: Workload, pairs: list[tuple[dict, dict]],
                  events: list[ev.EventData]) -> tuple[str, str]:
    """A fresh database and topic prefix, the service's tables seeded, its input on Kafka: (url, prefix)."""
    url = await create_database(infra.database_url, "tp")
    prefix = f"tp{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.bootstrap_servers, all_topic_names(prefix))
    service = workload.build(workload.settings(database_url=url, kafka_bootstrap_servers=infra.bootstrap_servers,
                                               topic_prefix=prefix))
    pool = await create_pool(url, service.schema, size=2)
    try:
        await migrate(pool, service.schema, service.migrations, service.replicas)
        async with pool.acquire() as conn:
            await workload.seed(conn, pairs)
            await conn.execute("ANALYZE")
    finally:
        await pool.close()
    async with Publisher(infra.bootstrap_servers, topic_prefix=prefix) as publisher:
        await publisher.publish_many(events)
    return url, prefix


async def watch_handling(url: str, schema: str, n: int, processes: list[ServiceProcess], meter: CpuMeter, *,
                         wait_for_outbox: bool, timeout: float) -> Timeline:
    """Poll until all N events are handled (and, if asked, the outbox drained)."""
    conn = await asyncpg.connect(url)
    timeline = Timeline()
    cpu_before: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            row = await conn.fetchrow(_PROGRESS.format(schema=schema))
            now = time.time()
            if row["handled"]:
                if not timeline.first:
                    timeline.first, cpu_before = float(row["first"]), meter.sample()
                timeline.samples.append((now, row["handled"]))
            if not timeline.handled and row["handled"] >= n:
                timeline.handled = now
            if timeline.handled and (not wait_for_outbox or row["pending"] == 0):
                timeline.drained = now
                timeline.cpu = CpuMeter.spent(cpu_before, meter.sample())
                return timeline
            _check_alive(processes)
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"{schema}: {row['handled']} of {n} events handled, {row['pending']} outbox rows "
                           f"pending after {timeout:.0f}s")
    finally:
        await conn.close()


def _check_alive(processes: list[ServiceProcess]) -> None:
    for proc in processes:
        if not proc.alive():
            tail = proc.log_file.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{tail}")


async def watch_mail(directory: Path, expected: int) -> tuple[int, float]:
    """(mails arrived, seconds from the first to the last) once all arrived or the window is over."""
    started = time.monotonic()
    while True:
        names = mail_files(directory)
        if len(names) >= expected or time.monotonic() - started > MAIL_WINDOW_SECONDS:
            break
        await asyncio.sleep(0.5)
    if len(names) < 2:
        return len(names), 0.0
    return len(names), arrival_time(names[-1]) - arrival_time(names[0])


async def outbox_outcomes(url: str, schema: str) -> dict[str, int]:
    """Events the service wrote to its outbox, by type."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(f"SELECT headers->>'ce_type' AS type, count(*) AS n FROM {schema}.outbox GROUP BY 1")
    finally:
        await conn.close()
    return {r["type"]: r["n"] for r in rows}


def measure_service(infra: Infrastructure, workload: Workload, pairs: list[tuple[dict, dict]],
                    events: list[ev.EventData], replicas: int, log_root: Path) -> Throughput:
    n = len(events)
    url, prefix = asyncio.run(prepare(infra, workload, pairs, events))
    log_dir = log_root / f"{workload.service}-x{replicas}"
    mail_dir = log_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    with mail_server(mail_dir) as (smtp_port, mail_pid):
        processes = service_processes(workload.service, replicas, database_url=url,
                                      bootstrap=infra.bootstrap_servers, prefix=prefix, smtp_port=smtp_port,
                                      log_dir=log_dir)
        groups = {"service": [], **infrastructure_pids(infra), "mail server": [mail_pid]}
        for proc in processes:
            proc.start()
            groups["service"].append(proc.pid)
        try:
            timeline = asyncio.run(watch_handling(
                url, workload.service, n, processes, CpuMeter(groups),
                wait_for_outbox=not workload.sends_mail, timeout=max(180.0, n / 50)))
            spent, counted = handler_seconds([p.port for p in processes], workload.consumes)
            mails, mail_seconds = asyncio.run(watch_mail(mail_dir, 2 * n)) if workload.sends_mail else (0, 0.0)
        finally:
            for proc in processes:
                proc.stop()
    outcomes = asyncio.run(outbox_outcomes(url, workload.service))
    return Throughput(workload.service, replicas, n, timeline, 1000 * spent / counted if counted else float("nan"),
                      outcomes=outcomes, mails=mails, mail_seconds=mail_seconds, problems=log_problems(log_dir))


# --- part 3: end to end -------------------------------------------------------------------------------

def invite_recipient(raw: bytes) -> str | None:
    """The address a meeting invite (a text/calendar METHOD:REQUEST attachment) was sent to, else None."""
    if b"text/calendar" not in raw:
        return None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar" and "METHOD:REQUEST" in part.get_content():
            return parseaddr(message["To"])[1]
    return None


class InviteInbox:
    """The invites that have reached mentees, read from the mail directory as messages arrive."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mentees: dict[str, str] = {}  # address -> mentee id
        self.arrived: dict[str, float] = {}  # mentee id -> arrival (epoch seconds)
        self._read: set[str] = set()

    def scan(self) -> None:
        for entry in os.scandir(self.directory):
            if not entry.name.endswith(".eml") or entry.name in self._read:
                continue
            self._read.add(entry.name)
            mentee = self.mentees.get(invite_recipient(Path(entry.path).read_bytes()) or "")
            if mentee is not None:
                self.arrived.setdefault(mentee, arrival_time(entry.name))


@dataclass
class Drive:
    rate: int
    onboarded_at: dict[str, float] = field(default_factory=dict)  # mentee id -> onboarding published
    invited_at: dict[str, float] = field(default_factory=dict)
    re_requests: int = 0
    stopped_early: bool = False
    publish_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    deliveries_waiting: int = 0  # notifications' pending deliveries when publishing stopped
    problems: Counter[str] = field(default_factory=Counter)

    def latencies(self) -> list[float]:
        """Onboarding → invite, in publish order, for the mentees whose invite arrived."""
        order = sorted(self.onboarded_at, key=self.onboarded_at.get)
        return [self.invited_at[m] - self.onboarded_at[m] for m in order if m in self.invited_at]

    @property
    def published(self) -> int:
        return len(self.onboarded_at)

    @property
    def sustained(self) -> bool:
        """Every invite arrived, and the last quarter waited no longer than the first (a backlog grows)."""
        if self.stopped_early or len(self.invited_at) < self.published or self.published < 8:
            return False
        lat = self.latencies()
        q = len(lat) // 4
        return statistics.median(lat[-q:]) <= 1.5 * statistics.median(lat[:q]) + 0.5


class Driver:
    """The outside world for one rate: onboards pairs, asks for matches, accepts every proposal."""

    def __init__(self, publisher: Publisher, inbox: InviteInbox, drive: Drive, tag: str) -> None:
        self.publisher = publisher
        self.inbox = inbox
        self.drive = drive
        self.tag = tag
        self.programs: dict[str, str] = {}  # our mentees -> program
        self._pending: set[asyncio.Task] = set()

    async def on_match_event(self, observed: Observed) -> None:
        data = observed.data
        if data.get("mentee_id") not in self.programs:
            return
        if observed.type == "match.proposed":
            await self.publisher.publish(ev.ProposalAccepted(proposal_id=data["proposal_id"],
                                                             participant_id=data["mentor_id"]), wait=False)
        elif observed.type == "match.unavailable":
            # Its mentor's profile may not have been applied yet: ask again, as a portal would.
            self.drive.re_requests += 1
            task = asyncio.create_task(self._request_again(data["mentee_id"]))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _request_again(self, mentee_id: str) -> None:
        await asyncio.sleep(1.0)
        await self.publisher.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=self.programs[mentee_id]),
                                     wait=False)

    async def onboard(self, mentor: dict, mentee: dict) -> None:
        mentee_id = mentee["participant_id"]
        self.programs[mentee_id] = mentee["program_id"]
        self.inbox.mentees[mentee["email"]] = mentee_id
        await self.publisher.publish(ev.ParticipantOnboarded.model_validate(mentor), wait=False)
        self.drive.onboarded_at[mentee_id] = time.time()
        await self.publisher.publish(ev.ParticipantOnboarded.model_validate(mentee), wait=False)
        await self.publisher.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=mentee["program_id"]),
                                     wait=False)

    def overdue(self) -> int:
        cutoff = time.time() - OVERDUE_SECONDS
        return sum(1 for m, t in self.drive.onboarded_at.items() if t < cutoff and m not in self.drive.invited_at)

    async def run(self, seconds: float, drain: float) -> None:
        pairs = pair_profiles(int(self.drive.rate * seconds) + 1, tag=self.tag, seed=self.drive.rate)
        started = time.monotonic()
        next_check = started + 1.0
        for k, (mentor, mentee) in enumerate(pairs):
            await _sleep_until(started + k / self.drive.rate)
            await self.onboard(mentor, mentee)
            if time.monotonic() >= next_check:  # stop early once a backlog is plainly building
                next_check += 1.0
                self._collect()
                if self.overdue() > self.drive.rate * 5:
                    self.drive.stopped_early = True
                    break
        self.drive.publish_seconds = time.monotonic() - started
        deadline = time.monotonic() + (0 if self.drive.stopped_early else drain)
        while time.monotonic() < deadline and len(self.drive.invited_at) < self.drive.published:
            await asyncio.sleep(0.25)
            self._collect()
        self._collect()

    def _collect(self) -> None:
        self.inbox.scan()
        self.drive.invited_at = self.inbox.arrived


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def pending_deliveries(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM notifications.deliveries WHERE status = 'pending'")
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def drive_rate(infra: Infrastructure, url: str, prefix: str, mail_dir: Path, drive: Drive, meter: CpuMeter,
                     processes: list[ServiceProcess], seconds: float, drain: float) -> None:
    inbox = InviteInbox(mail_dir)
    async with Publisher(infra.bootstrap_servers, topic_prefix=prefix) as publisher:
        driver = Driver(publisher, inbox, drive, tag=f"r{drive.rate}-")
        async with Watcher(infra.bootstrap_servers, [topics.MATCHES], prefix, on_message=driver.on_match_event):
            before = meter.sample()
            run = asyncio.create_task(driver.run(seconds, drain))
            while not run.done():  # the backlog of mail when publishing stops says where it piles up
                await asyncio.sleep(0.2)
                _check_alive(processes)
                if drive.publish_seconds and not drive.deliveries_waiting:
                    drive.deliveries_waiting = await pending_deliveries(url)
            await run
            drive.cpu = CpuMeter.spent(before, meter.sample())


def measure_end_to_end(infra: Infrastructure, rate: int, seconds: float, drain: float, log_root: Path) -> Drive:
    url = asyncio.run(create_database(infra.database_url, "e2e"))
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(infra.bootstrap_servers, all_topic_names(prefix)))
    log_dir = log_root / f"e2e-{rate}"
    mail_dir = log_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    drive = Drive(rate)
    with mail_server(mail_dir) as (smtp_port, mail_pid):
        services = Services.on(database_url=url, bootstrap_servers=infra.bootstrap_servers, smtp_port=smtp_port,
                               http_ports=free_http_ports(), log_dir=log_dir, topic_prefix=prefix)
        services.start()
        try:
            services.wait_ready(timeout=120)
            groups = {name: [services.replica(name).pid] for name in SERVICES}
            groups.update(infrastructure_pids(infra), **{"mail server": [mail_pid]})
            asyncio.run(drive_rate(infra, url, prefix, mail_dir, drive, CpuMeter(groups),
                                   list(services.processes.values()), seconds, drain))
        finally:
            services.stop()
    drive.problems = log_problems(log_dir)
    return drive


# --- report -------------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_line(cpu: dict[str, float], seconds: float) -> str:
    """CPU used meanwhile, in cores (1.0 = one core busy all the time)."""
    parts = [f"{name} {used / seconds:.2f}" for name, used in sorted(cpu.items(), key=lambda kv: -kv[1])
             if used / seconds >= 0.05]
    return ", ".join(parts)


def single_table(results: list[Throughput]) -> str:
    rows = [("| service | input → work | events | events/s, first inbox row → all handled and outbox drained | "
             "steady events/s (10 % → 90 %) | handler time / event | SQL round trips / event | CPU in cores | target |"),
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        w = WORKLOADS[r.service]
        note = " (handled; it emits nothing itself)" if w.sends_mail else ""
        rows.append(f"| {r.service} | {w.consumes}: {w.causes} | {r.events:,} | **{r.headline_rate:,.0f}**{note} | "
                    f"{r.timeline.steady_rate():,.0f} | {r.handler_ms:.2f} ms | {r.statements:.1f} | "
                    f"{cpu_line(r.timeline.cpu, r.seconds)} | "
                    f"≥ {TARGET_EVENTS_PER_SECOND:,}/s |")
    return "\n".join(rows)


def outcome_lines(results: list[Throughput]) -> str:
    lines = []
    for r in results:
        made = ", ".join(f"{n:,} {t}" for t, n in sorted(r.outcomes.items()))
        line = f"- {r.service}: {r.events:,} events → {made or 'no outbox events'}"
        if r.mails:
            line += (f"; mail: {r.mails:,} messages accepted by the mail server over {r.mail_seconds:.1f} s = "
                     f"**{r.mail_rate:,.0f} mails/s** (watched for at most {MAIL_WINDOW_SECONDS:.0f} s after the "
                     "events were handled)")
        lines.append(line)
    return "\n".join(lines)


def scaling_table(single: list[Throughput], double: list[Throughput]) -> str:
    rows = [("| service | 1 process, events/s (steady) | 2 processes, events/s (steady) | ratio, whole run (steady) | "
             "deadlocks (retried) | CPU in cores, 2 processes | target |"),
            "|---|---|---|---|---|---|---|"]
    one = {r.service: r for r in single}
    for r in double:
        base = one[r.service]
        rows.append(f"| {r.service} | {base.headline_rate:,.0f} ({base.timeline.steady_rate():,.0f}) | "
                    f"**{r.headline_rate:,.0f}** ({r.timeline.steady_rate():,.0f}) | "
                    f"**{r.headline_rate / base.headline_rate:.2f}×** "
                    f"({r.timeline.steady_rate() / base.timeline.steady_rate():.2f}×) | {r.deadlocks} | "
                    f"{cpu_line(r.timeline.cpu, r.seconds)} | ≥ {TARGET_SCALING}× |")
    return "\n".join(rows)


def budget_note(results: list[Throughput], rtt_ms: float) -> str:
    budget = 1000 / TARGET_EVENTS_PER_SECOND
    if not results:
        return ""
    fewest = min(results, key=lambda r: r.statements)
    note = (f"{TARGET_EVENTS_PER_SECOND:,} events/s leaves {budget:.2f} ms per event; the fewest round trips, "
            f"{fewest.service}'s {fewest.statements:.1f}, already take {fewest.statements * rtt_ms:.2f} ms")
    if fewest.statements * rtt_ms > budget:
        return note + ", so no service can reach the target one event at a time on this machine."
    return note + ", and Python's CPU per event comes on top."


def limits_table(results: list[Throughput], rtt_ms: float) -> str:
    rows = [("| service | wall time per event | in the handler | SQL round trips × `SELECT 1` time | "
             "service CPU per event | where the handler's time goes |"),
            "|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.service} | {1000 / r.headline_rate:.2f} ms | {r.handler_ms:.2f} ms | "
                    f"{r.statements:.1f} × {rtt_ms:.2f} ms = {r.statements * rtt_ms:.2f} ms | "
                    f"{1000 * r.timeline.cpu.get('service', 0) / r.events:.2f} ms | {LIMITS[r.service]} |")
    return "\n".join(rows)


def scaling_notes(single: list[Throughput], double: list[Throughput]) -> str:
    notes = []
    mail = [r for r in single + double if r.service == "notifications" and r.mails]
    if len(mail) == 2:
        notes.append(f"notifications' mail: {mail[0].mail_rate:,.0f} mails/s from one process, "
                     f"{mail[1].mail_rate:,.0f} from two. Both delivery loops read the same oldest due deliveries "
                     "and a conditional UPDATE gives each to one of them (the other's claim is refused, one "
                     "round trip), so they share the sending; the rate is bounded by the CPU they share.")
    matching = next((r for r in double if r.service == "matching"), None)
    if matching is not None:
        deadlocks = (f"The {matching.deadlocks} DeadlockDetectedError warnings in its logs come from the same "
                     "place: " if matching.deadlocks else "They can also deadlock: ")
        notes.append(
            "matching: a consumer applies a batch (up to 200 events) in one transaction, and each "
            "match.requested takes its program's advisory lock, held until that transaction commits. A batch "
            f"spans all {PROGRAMS} programs, so the two processes mostly wait for each other's programs. "
            + deadlocks + "each batch takes the programs' locks in the order its events come "
            "(`ProgramRepository.lock` sorts only the programs of one call), two batches that take two "
            "programs in opposite orders deadlock, Postgres cancels one after `deadlock_timeout` (1 s) and the "
            "consumer applies that batch again one event at a time.")
    return "\n".join(f"- {n}" for n in notes)


def e2e_table(drives: list[Drive]) -> str:
    rows = [("| pairs/s | pairs onboarded | invites arrived | p50 | p95 | p99 | max | re-requests | "
             "deliveries waiting when publishing stopped | verdict |"),
            "|---|---|---|---|---|---|---|---|---|---|"]
    for d in drives:
        lat = d.latencies()
        stats = [f"{pct(lat, q):.2f} s" for q in (.5, .95, .99)] + [f"{max(lat):.2f} s"] if lat else ["-"] * 4
        if d.sustained:
            stats[1] = f"**{stats[1]}**"
        verdict = "**sustained**" if d.sustained else (
            "backlog (stopped early)" if d.stopped_early else "backlog (latency grows)")
        rows.append(f"| {d.rate} | {d.published:,} in {d.publish_seconds:.0f} s | {len(d.invited_at):,} | "
                    f"{' | '.join(stats)} | {d.re_requests:,} | {d.deliveries_waiting:,} | {verdict} |")
    return "\n".join(rows)


def e2e_cpu_lines(drives: list[Drive]) -> str:
    return "\n".join(f"- {d.rate} pairs/s: {cpu_line(d.cpu, d.publish_seconds or 1)}" for d in drives)


def problem_lines(results: list[Throughput], drives: list[Drive], most: int = 4) -> str:
    """The commonest error and warning lines of the services' logs, per run."""
    runs = [(f"{r.service} ×{r.replicas}", r.problems) for r in results]
    runs += [(f"end to end {d.rate}/s", d.problems) for d in drives]
    rows = ["| run | lines | level | service | message |", "|---|---|---|---|---|"]
    for label, problems in runs:
        for kind, n in problems.most_common(most):
            rows.append(f"| {label} | {n} | {kind} |")
        rest = sum(problems.values()) - sum(n for _, n in problems.most_common(most))
        if rest:
            rows.append(f"| {label} | {rest} | | | other kinds |")
    return "\n".join(rows) if len(rows) > 2 else "None."


def load_note(load_before: tuple[float, float, float], results: list[Throughput], drives: list[Drive]) -> str:
    others = [r.timeline.cpu.get("others", 0) / r.seconds for r in results]
    others += [d.cpu.get("others", 0) / d.publish_seconds for d in drives if d.publish_seconds]
    busiest = max(others, default=0.0)
    note = (f"Load average before the run: {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
            f"(1/5/15 min); processes outside this benchmark used up to {busiest:.2f} cores during a measurement.")
    if load_before[0] >= 0.5 or busiest >= 0.25:
        note = "**Measured on a busy machine** (other work was running): " + note
    return note


# --- main ---------------------------------------------------------------------------------------------

def run_throughput(infra: Infrastructure, services: tuple[str, ...], events: int,
                   log_root: Path) -> tuple[list[Throughput], list[Throughput]]:
    single, double = [], []
    for name in services:
        workload = WORKLOADS[name]
        statements = asyncio.run(statements_per_event(infra, workload, STATEMENT_COUNT_EVENTS))
        print(f"{name}: {statements:.1f} SQL round trips per {workload.consumes}", flush=True)
        pairs = pair_profiles(events)
        inputs = workload.inputs(pairs)
        for replicas, found in ((1, single), (2, double)):
            print(f"{name}: {events:,} × {workload.consumes}, {replicas} process(es)", flush=True)
            result = measure_service(infra, workload, pairs, inputs, replicas, log_root)
            result.statements = statements
            print(f"  {result.headline_rate:,.0f} events/s (steady {result.timeline.steady_rate():,.0f}/s), handler "
                  f"{result.handler_ms:.2f} ms/event, CPU: {cpu_line(result.timeline.cpu, result.seconds)}"
                  + (f", mail {result.mail_rate:,.0f}/s" if result.mails else "")
                  + (f", {result.deadlocks} deadlocks" if result.deadlocks else ""), flush=True)
            found.append(result)
    return single, double


def run_end_to_end(infra: Infrastructure, rates: list[int], seconds: float, drain: float,
                   log_root: Path) -> list[Drive]:
    drives = []
    for rate in sorted(rates, reverse=True):
        print(f"end to end at {rate} pairs/s for {seconds:.0f} s", flush=True)
        drive = measure_end_to_end(infra, rate, seconds, drain, log_root)
        lat = drive.latencies()
        print(f"  {len(drive.invited_at):,}/{drive.published:,} invites; "
              + (f"p50 {pct(lat, .5):.2f} s, p95 {pct(lat, .95):.2f} s, max {max(lat):.2f} s; " if lat else "")
              + ("sustained" if drive.sustained else "not sustained")
              + f"; CPU: {cpu_line(drive.cpu, drive.publish_seconds or 1)}", flush=True)
        drives.append(drive)
        if drive.sustained:
            break  # the highest rate sustained among those tried
    return drives


def report(args, load_before, rtt_ms: float, single: list[Throughput], double: list[Throughput],
           drives: list[Drive]) -> str:
    return f"""
{load_note(load_before, single + double, drives)}

Every service runs as its own OS process (`python -m services.<name>`, the environment `tandem up`
gives it) against PostgreSQL (fsync on) and Apache Kafka (KRaft, 3 partitions a topic) started as
local processes on the same machine. For each measurement: a fresh database and topic prefix, the
service's tables seeded directly (migrations, COPY), then N input events with distinct keys produced
before the service starts. Timed from the first inbox row until all N are in the inbox and the
outbox has nothing pending: consumed, validated, deduplicated, handled, committed (up to 200 events
a transaction) and relayed to Kafka with acks=all. The steady rate leaves out the first and last
10 % (group joins and rebalances at the start, one partition left at the end). "Handler time" is
the mean of `tandem_handler_seconds` from the service's /metrics: the handler's work inside the
transaction, its statements included, without consuming, decoding, committing or relaying. SQL
round trips per event were counted in a separate in-process run of {STATEMENT_COUNT_EVENTS} events
(every asyncpg call; the outbox relay included, background loops off). CPU is in cores (1.00 = one
core busy all the time) per process group over the measurement; "others" is everything else on the
machine.

### 1. Events per second, one process per service

{single_table(single)}

{outcome_lines(single)}

What limits it. A process applies the events of a batch one after another on one connection in
one transaction, so each event costs its SQL round trips (from Python, `SELECT 1` takes
{rtt_ms:.2f} ms here) plus its Python CPU, and nothing overlaps them. {budget_note(single, rtt_ms)}

{limits_table(single, rtt_ms)}

### 2. Two processes in one consumer group

{scaling_table(single, double)}

The topics have 3 partitions, so one process takes 2 and the other 1, and both join the group while
the clock runs (the steady rate leaves that out). On this machine the two processes, Postgres and
Kafka share 2 cores: a second process only helps while the first leaves CPU idle, waiting for its
round trips.
{scaling_notes(single, double)}

### 3. Onboarding → meeting invite in the mentee's inbox

{e2e_section(args, single, drives)}

### Errors and warnings in the services' logs

Per run, the commonest kinds (digits shown as N; aiokafka's group-coordinator lines come from
consumer groups joining on a fresh broker and prefix):
{problem_lines(single + double, drives)}
"""


def e2e_section(args, single: list[Throughput], drives: list[Drive]) -> str:
    if not drives:
        return "Not run."
    sustained = next((d for d in drives if d.sustained), None)
    headline = (f"**{sustained.rate} pairs/s sustained**, p95 {pct(sustained.latencies(), .95):.2f} s "
                f"(target: 200 pairs/s with p95 ≤ {TARGET_P95_SECONDS:.0f} s)" if sustained
                else "none of the tried rates was sustained")
    mail = next((r for r in single if r.mails), None)
    limit = (f" Part 1 measured {mail.mail_rate:,.0f} mails/s from one notifications process and every pair "
             f"needs 5 mails, so mail alone caps the chain at about {mail.mail_rate / 5:,.0f} pairs/s; the "
             "deliveries still waiting when publishing stopped show where the backlog builds." if mail else "")
    return f"""All four services (one process each), a mail server and a driver. At R pairs a second the
driver publishes a mentor's and a mentee's `participant.onboarded` (same zone and languages,
overlapping office hours, a more senior mentor whose skills cover the mentee's goals, no quiet
hours; {PROGRAMS} programs) and the mentee's `match.requested`; it accepts every `match.proposed`
(`proposal.accepted`) and asks again a second after a `match.unavailable`. Latency: from publishing
the mentee's onboarding to the moment the mail server accepted the mail with their invite (the
`meeting_scheduled` mail: a text/calendar METHOD:REQUEST attachment, To: the mentee). On the way:
all four services apply both profiles; matching proposes and, once accepted, establishes; scheduling
places the kickoff and builds the invite; notifications sends 5 mails a pair (the proposal to the
mentor, two introductions, two invites), one at a time over SMTP. Rates are tried from the highest
down, {args.seconds:.0f} s each with a fresh database, topics and processes, until one is sustained:
every invite arrived within {args.drain:.0f} s of the last onboarding and the last quarter of mentees
waited at most 1.5× + 0.5 s as long as the first quarter. A run stops early once more than 5 s worth
of mentees have waited over {OVERDUE_SECONDS:.0f} s.

{e2e_table(drives)}

Result: {headline}.{limit}

CPU in cores while publishing:
{e2e_cpu_lines(drives)}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000, help="input events per service (parts 1 and 2)")
    parser.add_argument("--only", nargs="+", choices=(*SERVICES, "e2e"),
                        help="some services (parts 1-2) and/or e2e (part 3); the section is then not written")
    parser.add_argument("--rates", type=int, nargs="+", default=[200, 100, 50, 25, 10, 5, 2],
                        help="pairs/s to try, highest first, until one is sustained")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of publishing per rate")
    parser.add_argument("--drain", type=float, default=20.0, help="seconds to wait for the last invites")
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.monotonic()
    services = tuple(s for s in SERVICES if not args.only or s in args.only)
    log_root = Path(tempfile.mkdtemp(prefix="tandem-throughput-"))
    print(f"logs and mail in {log_root}", flush=True)
    with local_infrastructure() as (infra, _):
        rtt_ms = asyncio.run(round_trip_ms(infra.database_url))
        print(f"SELECT 1 round trip: {rtt_ms:.3f} ms", flush=True)
        single, double = run_throughput(infra, services, args.events, log_root)
        drives = run_end_to_end(infra, args.rates, args.seconds, args.drain, log_root) \
            if not args.only or "e2e" in args.only else []
    body = report(args, load_before, rtt_ms, single, double, drives)
    after = os.getloadavg()
    body += (f"\nThe whole benchmark took {(time.monotonic() - started) / 60:.1f} min; load average at the end: "
             f"{after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f}.\n")
    if args.only:
        print("(--only: docs/benchmarks.md not written)")
    else:
        write_section("throughput", "Event throughput and end-to-end latency", body)
    print(body)


if __name__ == "__main__":
    main()
