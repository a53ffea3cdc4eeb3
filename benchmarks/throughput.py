"""Benchmark: events per second and CPU per event through each service, alone and as two replicas,
and the time from a mentee's onboarding to the meeting invite in their inbox with all four running.

1. One instance of a service, as its own OS process (as `tandem up` starts it), on PostgreSQL and
   Apache Kafka run locally by this benchmark. Its database is seeded directly (migrations, COPY of the
   people or pairs it needs) and warm-up + 50,000 input events with distinct keys are on its topic
   before it starts. Measured in a window that opens once the warm-up events are handled and closes
   after 60 s or once every event is handled and relayed, whichever comes first: events handled,
   CPU per event of every process (service, Postgres with all its backends, Kafka, this harness, the
   mail sink), and the statements Postgres executed per event (pg_stat_statements).
2. The same with two processes in one consumer group.
3. End to end: the four services, a mail sink and a driver that, at R pairs a second for 60 s,
   onboards a mentor and a mentee who fit each other, asks for a match, accepts every proposal, and
   times each mentee from the publish of their onboarding to the arrival of their invite mail. A rate
   is sustained when every invite arrived, p95 ≤ 2 s, and nothing was left waiting at the end; the
   highest sustained rate among those tried is reported.

The mail sink (benchmarks/mail_sink.py) runs in its own process at a lower priority and only notes
each message's arrival; invites are read fully after each run.

    .venv/bin/python -m benchmarks.throughput [--quick] [--only SERVICE... e2e] [--events 50000]
                                              [--window 60] [--rates 200 100 50 20 10 5 2 1] [--seconds 60]
                                              [--profile]

--profile: each measured service process of parts 1-2 is sampled by py-spy during the window, and the
report says per service run where its CPU goes (benchmarks/profiles.py).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
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
from benchmarks.mail_sink import INDEX
from benchmarks.meters import (
    MARK,
    CpuMeter,
    StatementMeter,
    create_statement_view,
    enable_statement_stats,
    postgres_cpu_by_kind,
)
from benchmarks.profiles import FLAGS as PROFILE_FLAGS
from benchmarks.profiles import RATE as PROFILE_RATE
from benchmarks.profiles import Profile, Sampler
from benchmarks.profiles import render as render_profile
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
from shared.db import create_database, create_pool, migrate, role_of
from shared.kafka import all_topic_names, ensure_topics
from shared.outbox import events_written
from shared.people import Participant
from shared.replica import PARTICIPANT_COLUMNS, participant_values
from tandem.client import Observed, Publisher, Watcher
from tandem.local.kafka import fetch_jars
from tandem.local.postgres import find_binaries
from tandem.local.stack import REPO, Infrastructure, ServiceProcess, Services, free_http_ports, free_port, service_env
from tandem.population import FIRST, LAST, PLACES, SECTORS, SKILLS, WORKDAYS

SERVICES = ("matching", "scheduling", "notifications", "feedback")
PROGRAMS = 8
# Answers to a request that needs no new mentor (already matched, or waiting for a mentor's answer):
# nothing to ask again.
NOT_UNMATCHED = ("already_matched", "awaiting_answer")
EVENTS = 50_000  # measured events per service run, unless the window closes first
WARMUP_EVENTS = 1_000  # handled before the window opens: group joins, first batches, caches
WINDOW_SECONDS = 60.0
E2E_SECONDS = 60.0  # publishing time per rate
DRAIN_SECONDS = 20.0  # after publishing, how long the last invites may take
IDLE_SECONDS = 10.0  # e2e: the processes' own background work, measured with nothing to do, before publishing
RATES = [200, 100, 50, 20, 10, 5, 2, 1]
POLL_SECONDS = 0.5  # the harness's progress query; its cost in Postgres is reported
SINK_NICENESS = 5

# Targets of issue 17.
TARGET_RATE = {"matching": 1000, "scheduling": 2000, "notifications": 2000, "feedback": 2000}
TARGET_CPU_MS = 0.4
TARGET_STATEMENTS = 1.0
TARGET_MAILS = 1000
TARGET_PAIRS = 100
TARGET_P95_SECONDS = 2.0
NETWORK_RTT_MS = (0.3, 0.5)  # a database across a network: what each round trip would cost

# docs/benchmarks.md of 2026-12-02 (4,000 events a run, ~11-23 s each). CPU per event = the cores shown
# then ÷ that run's events/s; "statements" were asyncpg calls counted in a separate in-process run.
BEFORE = {
    "matching": {"rate": 178, "two": 177, "handler": 5.44, "statements": 16.3,
                 "cpu": {"service": 3.31, "postgres": 2.19, "kafka": 0.45}},
    "scheduling": {"rate": 180, "two": 256, "handler": 5.38, "statements": 12.1,
                   "cpu": {"service": 2.67, "postgres": 2.83}},
    "notifications": {"rate": 310, "two": 294, "handler": 3.09, "statements": 4.1,
                      "cpu": {"service": 2.77, "postgres": 0.84, "kafka": 0.32, "mail sink": 0.39}},
    "feedback": {"rate": 350, "two": 325, "handler": 2.65, "statements": 14.2,
                 "cpu": {"service": 1.97, "postgres": 0.97}},
}
BEFORE_MAILS = 77
BEFORE_E2E = {"rate": 5, "p95": 0.65, "cpu_ms_per_pair": {"notifications": 75, "feedback": 40, "postgres": 38,
                                                          "matching": 28, "kafka": 24, "scheduling": 22}}


# --- people who fit each other ----------------------------------------------------------------------

def pair_profiles(count: int, *, tag: str = "", capacity: int = 2, seed: int = 5,
                  zone_per_program: bool = False) -> list[tuple[dict, dict]]:
    """`count` (mentor, mentee) onboarding profiles. Each pair fits: same zone and languages, weekday
    office hours, a more senior mentor whose skills cover the mentee's goals, no quiet hours (mail
    goes out at once). Pair k belongs to program k % PROGRAMS and lives in zone k % 19, or, with
    `zone_per_program`, in its program's zone: where matching may pair a mentee with any mentor of
    the program, so that every pair it makes has office hours in common (a kickoff between zones
    without common hours is rightly unplaceable, and no invite would come)."""
    rng = random.Random(seed)
    pairs = []
    for k in range(count):
        place = PLACES[(k % PROGRAMS if zone_per_program else k) % len(PLACES)]
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
    # The inbox type that marks an input event done: the input's own, or the last hop's where the
    # service queues its input again for itself (matching: match.requested -> match.request.queued).
    done_as: str | None = None


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
                         seed_matching, match_requests, done_as="match.request.queued"),
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


# --- processes ------------------------------------------------------------------------------------

@dataclass
class Sink:
    port: int
    pid: int
    directory: Path


@contextmanager
def mail_sink(directory: Path) -> Iterator[Sink]:
    """benchmarks.mail_sink in a process of its own, niced, as the organisation's relay would be."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.mail_sink", str(directory), str(port),
                                str(SINK_NICENESS)], stdin=subprocess.PIPE, cwd=REPO)
    try:
        _wait_for_port(port)
        yield Sink(port, process.pid, directory)
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


@dataclass(frozen=True)
class Arrival:
    at: float  # epoch seconds
    recipients: tuple[str, ...]
    calendar: bool
    file: str | None


class MailIndex:
    """Reads the sink's index as it grows: only complete lines, each once."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / INDEX
        self.offset = 0
        self.arrivals: list[Arrival] = []

    def read(self) -> list[Arrival]:
        """The arrivals noted since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        new = []
        for line in chunk[:end].decode().splitlines():
            at, recipients, calendar, name = line.split("\t")
            new.append(Arrival(int(at) / 1e9, tuple(recipients.split(",")), calendar == "1",
                               None if name == "-" else name))
        self.arrivals.extend(new)
        return new

    def between(self, start: float, end: float) -> int:
        return sum(1 for a in self.arrivals if start <= a.at <= end)


def service_processes(service: str, replicas: int, *, database_url: str, bootstrap: str, prefix: str,
                      smtp_port: int, log_dir: Path) -> list[ServiceProcess]:
    """`replicas` processes of one service, configured as `tandem up` configures them."""
    ports = free_http_ports(replicas)
    return [ServiceProcess(service, k, service_env(database_url=database_url, bootstrap_servers=bootstrap,
                                                   smtp_port=smtp_port, port=ports[f"{service}#{k}"],
                                                   topic_prefix=prefix),
                           log_dir / f"{service}-{k}.log", ports[f"{service}#{k}"])
            for k in range(1, replicas + 1)]


def infrastructure_pids(infra: Infrastructure) -> dict[str, list[int]]:
    return {"postgres": [infra.postgres.process.pid], "kafka": [infra.kafka.process.pid], "harness": [os.getpid()]}


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


def handler_retries(ports: dict[str, int]) -> Counter[str]:
    """`tandem_handler_retries_total` by "service topic kind", from each service's /metrics: events
    that failed and were parked for another try (not_yet_known: data still on its way)."""
    found: Counter[str] = Counter()
    pattern = re.compile(r'^tandem_handler_retries_total\{([^}]*)\} (\S+)$')
    for service, port in ports.items():
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if (m := pattern.match(line)) and float(m.group(2)):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                found[f"{service} {labels.get('topic', '?')} {labels.get('kind', '?')}"] += int(float(m.group(2)))
    return found


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
            if isinstance(entry, dict) and entry.get("level") in ("error", "warning", "critical"):
                found[f"{entry['level']} | {entry.get('service')} | {_message_kind(entry.get('message', ''))}"] += 1
    return found


def _message_kind(message: str) -> str:
    message = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)
    message = re.sub(r"for group \S+", "for group <group>", message)
    message = re.sub(r"\d+", "N", message)
    return message[:110].replace("|", "/")


def _check_alive(processes: list[ServiceProcess]) -> None:
    for proc in processes:
        if not proc.alive():
            tail = proc.log_file.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{tail}")


def database_of(url: str) -> str:
    return url.rpartition("/")[2].split("?")[0]


async def harness_query_ms(owner_url: str, database: str) -> float:
    """Postgres time spent on this harness's own (marked) queries in a database, in ms."""
    conn = await asyncpg.connect(owner_url)
    try:
        return float(await conn.fetchval(
            f"""SELECT {MARK} coalesce(sum(s.total_exec_time), 0) FROM pg_stat_statements s
                JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 AND s.query LIKE '%{MARK}%'""", database))
    finally:
        await conn.close()


# --- parts 1 and 2: one service, a window of events ---------------------------------------------------

@dataclass
class Window:
    """What one service run did and cost between the window's opening and closing."""

    opened: float = 0.0  # epoch seconds
    closed: float = 0.0
    handled: int = 0  # events handled in the window
    all_handled: bool = False  # the window closed because every event was handled (and relayed)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per group
    statements: int = 0  # executed by Postgres for this database, the harness's own left out
    handler_seconds: float = 0.0
    handler_events: int = 0
    outbox_pending: tuple[int, int] = (0, 0)  # at opening, at closing
    deliveries_due: tuple[int, int] = (0, 0)  # notifications: deliveries due and not yet sent
    mails: int = 0  # accepted by the sink in the window
    harness_pg_ms: float = 0.0  # Postgres time of the harness's progress queries (in "postgres")
    top_statements: list[tuple[str, int]] = field(default_factory=list)  # since the run's start, warm-up included
    handled_total: int = 0  # events handled from the start to the window's closing

    @property
    def seconds(self) -> float:
        return self.closed - self.opened

    @property
    def rate(self) -> float:
        return self.handled / self.seconds if self.seconds else float("nan")

    def cpu_ms(self, group: str) -> float:
        """CPU milliseconds per event handled."""
        return 1000 * self.cpu.get(group, 0.0) / self.handled if self.handled else float("nan")

    def cpu_ms_above(self, group: str, idle_cores: float | None) -> float:
        """CPU milliseconds per event above what the process uses with nothing to do."""
        if idle_cores is None or not self.handled:
            return float("nan")
        return 1000 * max(0.0, self.cpu.get(group, 0.0) - idle_cores * self.seconds) / self.handled

    def cores(self, group: str) -> float:
        return self.cpu.get(group, 0.0) / self.seconds if self.seconds else 0.0

    @property
    def statements_per_event(self) -> float:
        return self.statements / self.handled if self.handled else float("nan")

    @property
    def handler_ms(self) -> float:
        return 1000 * self.handler_seconds / self.handler_events if self.handler_events else float("nan")

    @property
    def mail_rate(self) -> float:
        return self.mails / self.seconds if self.seconds else 0.0


@dataclass
class Throughput:
    service: str
    replicas: int
    published: int
    window: Window
    outcomes: dict[str, int] = field(default_factory=dict)  # outbox events by type, at the end
    problems: Counter[str] = field(default_factory=Counter)
    profile: Profile | None = None  # --profile: py-spy's samples of the service's processes in the window


_PROGRESS = """SELECT """ + MARK + """ (SELECT count(*) FROM {schema}.inbox WHERE event_type = '{done_as}') AS handled,
                      (SELECT count(*) FROM {schema}.outbox WHERE state = 'pending') AS pending"""
_DELIVERIES_DUE = ("SELECT " + MARK + " count(*) FROM notifications.deliveries "
                   "WHERE status IN ('pending', 'sending') AND not_before <= now()")


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
            await analyze_seeded(conn, service.schema)
    finally:
        await pool.close()
    async with Publisher(infra.bootstrap_servers, topic_prefix=prefix) as publisher:
        await publisher.publish_many(events)
    return url, prefix


async def analyze_seeded(conn: asyncpg.Connection, schema: str) -> None:
    """Statistics for the tables the seed filled, and only those: an empty table analyzed is known to
    be empty, so its plans (foreign-key checks, lookups by id) scan it whole while it grows, until
    autovacuum analyzes it again. A deployment's new tables are never analyzed empty."""
    tables = await conn.fetch(
        "SELECT " + MARK + " c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relkind = 'r'", schema)
    for row in tables:
        table = f'"{schema}"."{row["relname"]}"'
        if await conn.fetchval(f"SELECT {MARK} EXISTS (SELECT 1 FROM {table})"):
            await conn.execute(f"ANALYZE {table}")


async def _deliveries_due(conn: asyncpg.Connection) -> int:
    try:
        return await conn.fetchval(_DELIVERIES_DUE)
    except asyncpg.PostgresError:  # the table or its columns are not what this benchmark knows
        return -1


async def watch_window(url: str, owner_url: str, workload: Workload, total: int, warmup: int, window_seconds: float,
                       processes: list[ServiceProcess], meter: CpuMeter, mail: MailIndex,
                       startup_timeout: float = 300.0, on_open: Callable[[], None] | None = None,
                       on_close: Callable[[], None] | None = None) -> Window:
    """Wait for the warm-up events, then measure until the window is over or every event is handled
    (and, for a service that emits events, relayed). `on_open` and `on_close` are called as the window
    opens and closes (--profile: the sampler)."""
    schema = workload.service
    statements = StatementMeter(owner_url, database_of(url))
    ports = [p.port for p in processes]
    conn = await asyncpg.connect(url)
    w = Window()
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            row = await conn.fetchrow(_PROGRESS.format(schema=schema, done_as=workload.done_as or workload.consumes))
            if row["handled"] >= warmup:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{schema}: {row['handled']} of {warmup} warm-up events after {startup_timeout:.0f}s")
            _check_alive(processes)
            await asyncio.sleep(0.05)
        cpu0, st0 = meter.sample(), await statements.sample()
        h0 = await asyncio.to_thread(handler_seconds, ports, workload.consumes)
        w.opened, handled0 = time.time(), row["handled"]
        if on_open is not None:
            on_open()
        due0 = await _deliveries_due(conn) if workload.sends_mail else 0
        pending0 = row["pending"]
        closes = w.opened + window_seconds
        while True:
            await asyncio.sleep(POLL_SECONDS)
            _check_alive(processes)
            row = await conn.fetchrow(_PROGRESS.format(schema=schema, done_as=workload.done_as or workload.consumes))
            done = row["handled"] >= total and (workload.sends_mail or row["pending"] == 0)
            if done or time.time() >= closes:
                break
        cpu1, st1 = meter.sample(), await statements.sample()
        w.closed = time.time()
        if on_close is not None:
            on_close()
        h1 = await asyncio.to_thread(handler_seconds, ports, workload.consumes)
        w.all_handled = done
        w.handled = row["handled"] - handled0
        w.handled_total = row["handled"]
        w.outbox_pending = (pending0, row["pending"])
        if workload.sends_mail:
            w.deliveries_due = (due0, await _deliveries_due(conn))
            mail.read()
            w.mails = mail.between(w.opened, w.closed)
    finally:
        await conn.close()
    w.cpu = CpuMeter.spent(cpu0, cpu1)
    w.statements = sum(StatementMeter.spent(st0, st1).values())
    w.handler_seconds, w.handler_events = h1[0] - h0[0], h1[1] - h0[1]
    w.harness_pg_ms = await harness_query_ms(owner_url, database_of(url))
    w.top_statements = await statements.top()
    return w


async def outbox_outcomes(url: str, schema: str) -> dict[str, int]:
    """Events the service wrote to its outbox, by type (still there, or published and counted)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(events_written(schema).replace("SELECT", f"SELECT {MARK}", 1))
    finally:
        await conn.close()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["event_type"]] = counts.get(r["event_type"], 0) + r["n"]
    return counts


async def reset_statements(owner_url: str) -> None:
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute(f"SELECT {MARK} pg_stat_statements_reset()")
    finally:
        await conn.close()


def measure_service(infra: Infrastructure, workload: Workload, pairs: list[tuple[dict, dict]],
                    events: list[ev.EventData], replicas: int, warmup: int, window: float,
                    log_root: Path, profile: bool = False) -> Throughput:
    url, prefix = asyncio.run(prepare(infra, workload, pairs, events))
    asyncio.run(reset_statements(infra.database_url))  # room for this run's statements
    log_dir = log_root / f"{workload.service}-x{replicas}"
    with mail_sink(log_dir / "mail") as sink:
        processes = service_processes(workload.service, replicas, database_url=url,
                                      bootstrap=infra.bootstrap_servers, prefix=prefix, smtp_port=sink.port,
                                      log_dir=log_dir)
        for proc in processes:
            proc.start()
        groups = {"service": [p.pid for p in processes], **infrastructure_pids(infra), "mail sink": [sink.pid]}
        sampler = Sampler([p.pid for p in processes], log_dir / "profile") if profile else None
        sampled = None
        try:
            measured = asyncio.run(watch_window(url, infra.database_url, workload, len(events), warmup, window,
                                                processes, CpuMeter(groups), MailIndex(sink.directory),
                                                on_open=sampler.start if sampler else None,
                                                on_close=sampler.stop if sampler else None))
            sampled = sampler.collect() if sampler else None
        finally:
            if sampler is not None:
                sampler.stop()
            for proc in processes:
                proc.stop()
    outcomes = asyncio.run(outbox_outcomes(url, workload.service))
    return Throughput(workload.service, replicas, len(events), measured, outcomes=outcomes,
                      problems=log_problems(log_dir), profile=sampled)


# --- part 3: end to end -------------------------------------------------------------------------------

def invite_recipient(raw: bytes) -> str | None:
    """The address a meeting invite (a text/calendar METHOD:REQUEST attachment) was sent to, else None.
    Read after the run, never while it runs."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/calendar" and "METHOD:REQUEST" in part.get_content():
            return parseaddr(message["To"])[1]
    return None


@dataclass
class Drive:
    rate: int
    planned: int
    onboarded_at: dict[str, float] = field(default_factory=dict)  # mentee id -> onboarding published
    invited_at: dict[str, float] = field(default_factory=dict)  # mentee id -> invite accepted by the sink
    # stage -> mentee id -> when the harness first saw it (match.request.queued, match.proposed,
    # match.established, the kickoff's meeting.scheduled): where a pair's time goes before the invite.
    stage_at: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    re_requests: int = 0
    stopped_early: bool = False  # p95 > 2 s was certain before the end
    publish_seconds: float = 0.0
    seconds: float = 0.0  # first publish → last invite (or the drain's end): the CPU's window
    cpu: dict[str, float] = field(default_factory=dict)
    statements: dict[str, int] = field(default_factory=dict)  # by service
    top_statements: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # by service, warm-up included
    slowest_statements: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # (text, µs) by service
    waiting: dict[str, int] = field(default_factory=dict)  # what was left waiting at the end
    mails: int = 0  # accepted by the sink in the measured time
    idle_cpu: dict[str, float] = field(default_factory=dict)  # cores used with nothing to do (background loops)
    idle_statements: dict[str, float] = field(default_factory=dict)  # statements/s with nothing to do, by service
    warmed_up: bool = False
    calendar_mails_not_invites: int = 0  # flagged by the sink, not an invite to one of our mentees on reading
    problems: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)  # parked for another try: "service topic kind"
    postgres: dict[str, float] = field(default_factory=dict)  # Postgres CPU s by kind of process (meters)
    idle_postgres: dict[str, float] = field(default_factory=dict)  # the same with nothing to do, per second

    def latencies(self) -> list[float]:
        """Onboarding → invite, in publish order, for the mentees whose invite arrived."""
        order = sorted(self.onboarded_at, key=self.onboarded_at.get)
        return [self.invited_at[m] - self.onboarded_at[m] for m in order if m in self.invited_at]

    @property
    def published(self) -> int:
        return len(self.onboarded_at)

    def cpu_ms_per_pair(self, group: str) -> float:
        """CPU per pair published, above what the process uses with nothing to do."""
        above_idle = self.cpu.get(group, 0.0) - self.idle_cpu.get(group, 0.0) * self.seconds
        return 1000 * max(0.0, above_idle) / max(1, self.published)

    def statements_per_pair(self, service: str) -> float:
        above_idle = self.statements.get(service, 0) - self.idle_statements.get(service, 0.0) * self.seconds
        return max(0.0, above_idle) / max(1, self.published)

    @property
    def missing(self) -> int:
        return self.published - len(self.invited_at)

    @property
    def p95(self) -> float:
        """p95 over every mentee published; one without an invite counts as infinitely late."""
        lat = self.latencies() + [float("inf")] * self.missing
        return pct(lat, .95) if lat else float("inf")

    @property
    def left_waiting(self) -> int:
        return sum(v for v in self.waiting.values() if v > 0)

    @property
    def sustained(self) -> bool:
        return (not self.stopped_early and self.published == self.planned and self.missing == 0
                and self.p95 <= TARGET_P95_SECONDS and self.left_waiting == 0)

    def verdict(self) -> str:
        if self.sustained:
            return "**sustained**"
        if self.stopped_early:
            return f"not sustained: over 5 % of the planned pairs waited > {TARGET_P95_SECONDS:.0f} s (stopped early)"
        reasons = []
        if self.missing:
            reasons.append(f"{self.missing:,} invites missing")
        if self.p95 > TARGET_P95_SECONDS:
            reasons.append(f"p95 > {TARGET_P95_SECONDS:.0f} s")
        if self.left_waiting:
            reasons.append("work left waiting")
        if not self.warmed_up:
            reasons.append("the warm-up invites did not arrive within 120 s")
        return "not sustained: " + ", ".join(reasons)


class Driver:
    """The outside world for one rate: onboards pairs, asks for matches, accepts every proposal, and
    follows the sink's index for invites (a calendar part sent to one of its mentees)."""

    def __init__(self, publisher: Publisher, mail: MailIndex, drive: Drive, tag: str) -> None:
        self.publisher = publisher
        self.mail = mail
        self.drive = drive
        self.tag = tag
        self.programs: dict[str, str] = {}  # our mentees -> program
        self.mentees: dict[str, str] = {}  # address -> mentee id
        self.seen: dict[str, float] = {}  # mentee id -> first calendar mail to them (checked after the run)
        self.relationships: dict[str, str] = {}  # relationship id -> mentee id
        self._pending: set[asyncio.Task] = set()

    async def on_match_event(self, observed: Observed) -> None:
        data = observed.data
        if observed.type == "meeting.scheduled" and data.get("kind") == "kickoff":
            if (mentee := self.relationships.get(data.get("relationship_id", ""))) is not None:
                self.drive.stage_at["meeting.scheduled"].setdefault(mentee, time.time())
            return
        if observed.type == "profile.change.queued" and data.get("participant_id") in self.programs:
            self.drive.stage_at[observed.type].setdefault(data["participant_id"], time.time())  # the mentee's
            return
        if data.get("mentee_id") not in self.programs:
            return
        if observed.type in ("match.request.queued", "match.proposed", "match.established"):
            self.drive.stage_at[observed.type].setdefault(data["mentee_id"], time.time())
        if observed.type == "match.established":
            self.relationships[data["relationship_id"]] = data["mentee_id"]
        if observed.type == "match.proposed":
            await self.publisher.publish(ev.ProposalAccepted(proposal_id=data["proposal_id"],
                                                             participant_id=data["mentor_id"]), wait=False)
        elif observed.type == "match.unavailable" and data.get("reason_code") not in NOT_UNMATCHED:
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
        self.mentees[mentee["email"]] = mentee_id
        await self.publisher.publish(ev.ParticipantOnboarded.model_validate(mentor), wait=False)
        self.drive.onboarded_at[mentee_id] = time.time()
        await self.publisher.publish(ev.ParticipantOnboarded.model_validate(mentee), wait=False)
        await self.publisher.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=mentee["program_id"]),
                                     wait=False)

    def collect(self) -> None:
        for arrival in self.mail.read():
            if arrival.calendar:
                for address in arrival.recipients:
                    if (mentee := self.mentees.get(address)) is not None:
                        self.seen.setdefault(mentee, arrival.at)

    async def warm_up(self, pairs: int = 3, timeout: float = 120.0) -> bool:
        """A few pairs through the whole chain, one after another, before the clock runs: consumer
        groups joined, connections and caches warm. False if one did not arrive in time."""
        for mentor, mentee in pair_profiles(pairs, tag=self.tag + "w-", seed=self.drive.rate + 1000,
                                           zone_per_program=True):
            await self.onboard(mentor, mentee)
            deadline = time.monotonic() + timeout
            while mentee["participant_id"] not in self.seen:
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.05)
                self.collect()
        self.drive.onboarded_at.clear()
        return True

    def arrived(self) -> int:
        return sum(1 for m in self.drive.onboarded_at if m in self.seen)

    def late(self) -> int:
        """Mentees known to wait over the p95 bound: no invite yet after it, or one that came later."""
        now, bound = time.time(), TARGET_P95_SECONDS
        return sum(1 for m, t in self.drive.onboarded_at.items()
                   if (self.seen[m] - t if m in self.seen else now - t) > bound)

    async def run(self, seconds: float) -> None:
        pairs = pair_profiles(self.drive.planned, tag=self.tag, seed=self.drive.rate, zone_per_program=True)
        started = time.monotonic()
        next_check = started + 1.0
        for k, (mentor, mentee) in enumerate(pairs):
            await _sleep_until(started + k / self.drive.rate)
            await self.onboard(mentor, mentee)
            if time.monotonic() >= next_check:
                next_check += 1.0
                self.collect()
                if self.late() >= self.drive.planned - _p95_index(self.drive.planned):
                    self.drive.stopped_early = True  # p95 over the planned run can no longer hold
                    break
        self.drive.publish_seconds = time.monotonic() - started


def _p95_index(n: int) -> int:
    """Where `pct(values, .95)` reads in n sorted values."""
    return min(n - 1, round(.95 * (n - 1)))


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def left_waiting(url: str) -> dict[str, int]:
    """Outbox events not yet relayed, per service, mail deliveries due but not yet sent, and kickoffs
    found unplaceable."""
    conn = await asyncpg.connect(url)
    try:
        waiting = {f"{s} outbox": await conn.fetchval(f"SELECT {MARK} count(*) FROM {s}.outbox WHERE state = 'pending'")
                   for s in SERVICES}
        waiting["deliveries due"] = await _deliveries_due(conn)
        # Not waiting, but why an invite would never come: shown in the same column.
        waiting["kickoffs unplaceable"] = await conn.fetchval(
            f"SELECT {MARK} count(*) FROM scheduling.meetings WHERE status = 'unplaceable'")
        return waiting
    finally:
        await conn.close()


async def drive_rate(infra: Infrastructure, url: str, prefix: str, sink: Sink, drive: Drive, meter: CpuMeter,
                     processes: list[ServiceProcess], seconds: float, drain: float) -> None:
    mail = MailIndex(sink.directory)
    statements = StatementMeter(infra.database_url, database_of(url))
    async with Publisher(infra.bootstrap_servers, topic_prefix=prefix) as publisher:
        driver = Driver(publisher, mail, drive, tag=f"r{drive.rate}-")
        async with Watcher(infra.bootstrap_servers, [topics.MATCH_WORK, topics.MATCHES, topics.MEETINGS], prefix,
                           on_message=driver.on_match_event):
            drive.warmed_up = await driver.warm_up()
            postmaster = infra.postgres.process.pid
            idle_cpu, idle_st, idle_from = meter.sample(), await statements.sample(), time.monotonic()
            idle_pg = postgres_cpu_by_kind(postmaster)
            await asyncio.sleep(IDLE_SECONDS)
            cpu0, st0, pg0 = meter.sample(), await statements.sample(), postgres_cpu_by_kind(postmaster)
            idle = time.monotonic() - idle_from
            drive.idle_postgres = {k: (v - idle_pg.get(k, 0.0)) / idle for k, v in pg0.items()}
            drive.idle_cpu = {g: v / idle for g, v in CpuMeter.spent(idle_cpu, cpu0).items()}
            idle_by_role = StatementMeter.spent(idle_st, st0)
            drive.idle_statements = {s: idle_by_role.get(role_of(s), 0) / idle for s in SERVICES}
            first = time.time()
            run = asyncio.create_task(driver.run(seconds))
            while not run.done():
                await asyncio.sleep(0.25)
                _check_alive(processes)
            await run
            # Until every invite is in and nothing waits any more (or the drain time is over).
            deadline = time.monotonic() + (0 if drive.stopped_early else drain)
            while True:
                driver.collect()
                if driver.arrived() >= drive.published:
                    drive.waiting = await left_waiting(url)
                    if not any(v > 0 for v in drive.waiting.values()):
                        break
                if time.monotonic() >= deadline:
                    drive.waiting = await left_waiting(url)
                    break
                await asyncio.sleep(0.1)
            cpu1, st1, pg1 = meter.sample(), await statements.sample(), postgres_cpu_by_kind(postmaster)
            drive.seconds = time.time() - first
            driver.collect()
    drive.cpu = CpuMeter.spent(cpu0, cpu1)
    drive.postgres = {k: v - pg0.get(k, 0.0) for k, v in pg1.items()}
    by_role = StatementMeter.spent(st0, st1)
    drive.statements = {s: by_role.get(role_of(s), 0) for s in SERVICES}
    drive.top_statements = {s: await statements.top(8, role_of(s)) for s in SERVICES}
    drive.slowest_statements = {s: await statements.top(6, role_of(s), by_time=True) for s in SERVICES}
    drive.mails = mail.between(first, first + drive.seconds)
    # The invites, read fully now: a calendar part with METHOD:REQUEST, To: one of our mentees.
    for arrival in mail.arrivals:
        if not arrival.calendar or arrival.file is None:
            continue
        mentee = driver.mentees.get(invite_recipient((sink.directory / arrival.file).read_bytes()) or "")
        if mentee is None:
            drive.calendar_mails_not_invites += 1
        elif mentee in drive.onboarded_at:
            drive.invited_at.setdefault(mentee, arrival.at)


def measure_end_to_end(infra: Infrastructure, rate: int, seconds: float, drain: float, log_root: Path) -> Drive:
    url = asyncio.run(create_database(infra.database_url, "e2e"))
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(infra.bootstrap_servers, all_topic_names(prefix)))
    asyncio.run(reset_statements(infra.database_url))
    log_dir = log_root / f"e2e-{rate}"
    drive = Drive(rate, planned=int(rate * seconds))
    with mail_sink(log_dir / "mail") as sink:
        services = Services.on(database_url=url, bootstrap_servers=infra.bootstrap_servers, smtp_port=sink.port,
                               http_ports=free_http_ports(), log_dir=log_dir, topic_prefix=prefix)
        services.start()
        try:
            services.wait_ready(timeout=180)
            groups = {name: [services.replica(name).pid] for name in SERVICES}
            groups.update(infrastructure_pids(infra), **{"mail sink": [sink.pid]})
            asyncio.run(drive_rate(infra, url, prefix, sink, drive, CpuMeter(groups),
                                   list(services.processes.values()), seconds, drain))
            drive.retries = handler_retries({name: services.replica(name).port for name in SERVICES})
        finally:
            services.stop()
    drive.problems = log_problems(log_dir)
    return drive


# --- report -------------------------------------------------------------------------------------------

GROUPS = ("service", "postgres", "kafka", "harness", "mail sink")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return "-" if value != value else (f"{value:.3f}" if value < 0.1 else f"{value:.2f}")


def seconds_text(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.2f} s"


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def code_state() -> str:
    """The checkout's commit, and how many files of the services' code differ from it."""
    commit = _run("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    changed = [line for line in _run("git", "-C", str(REPO), "status", "--porcelain", "--", "services", "shared")
               .splitlines() if line.strip()]
    return f"commit {commit}" + (f" + {len(changed)} uncommitted files under services/ and shared/" if changed else "")


def machine_block(load_before: str, load_after: str, others: list[float], code_before: str) -> str:
    run = _run

    lscpu = dict(line.split(":", 1) for line in run("lscpu").splitlines() if ":" in line)
    model = lscpu.get("Model name", "?").strip()
    postgres = run(str(find_binaries() / "postgres"), "--version").replace("postgres (PostgreSQL) ", "")
    try:
        kafka = next(p.name for p in fetch_jars().glob("kafka_*.jar")).removesuffix(".jar").split("-", 1)[1]
    except (StopIteration, RuntimeError, IndexError):
        kafka = "?"
    java = run("java", "-version") or subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    java = java.splitlines()[0] if java else "?"
    ram = psutil.virtual_memory().total / 2**30
    busiest = max(others, default=0.0)
    mean = statistics.mean(others) if others else 0.0
    return f"""| | |
|---|---|
| date | {datetime.now(UTC):%Y-%m-%d %H:%M} UTC |
| code measured | {code_before} at the start, {code_state()} at the end (other work lands in this checkout meanwhile; each run starts the services from the checkout as it is) |
| CPU | {model} (`lscpu`), {os.cpu_count()} cores, {lscpu.get('Hypervisor vendor', 'no').strip()} hypervisor |
| RAM | {ram:.0f} GiB |
| kernel | Linux {platform.release()} |
| Python | {platform.python_version()} |
| PostgreSQL | {postgres} (fsync on, shared_buffers 256 MB, pg_stat_statements loaded to count statements) |
| Apache Kafka | {kafka} (KRaft, one node, 3 partitions a topic), {java} |
| load (`uptime`) before | {load_before} |
| load (`uptime`) after | {load_after} |
| other processes during the windows | {mean:.2f} cores on average, {busiest:.2f} at most (the machine is shared) |"""


def summary_table(single: list[Throughput], double: list[Throughput], drives: list[Drive]) -> str:
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    rows = [f"| measure | 2026-12-02 | {today} | target |", "|---|---|---|---|"]
    for r in single:
        b, w = BEFORE[r.service], r.window
        rows.append(f"| {r.service}: events/s, one process | {b['rate']} | **{w.rate:,.0f}** | "
                    f"≥ {TARGET_RATE[r.service]:,} |")
    for r in single:
        b, w = BEFORE[r.service], r.window
        rows.append(f"| {r.service}: service CPU per event | {b['cpu']['service']:.2f} ms | "
                    f"**{ms(w.cpu_ms('service'))} ms** | ≤ {TARGET_CPU_MS} ms |")
    for r in single:
        idle = idle_cores(drives, r.service)
        if idle is not None:
            rows.append(f"| {r.service}: service CPU per event above its idle work ({1000 * idle:.0f} ms a second) | "
                        f"| {ms(r.window.cpu_ms_above('service', idle))} ms | |")
    for r in single:
        b, w = BEFORE[r.service], r.window
        rows.append(f"| {r.service}: Postgres CPU per event | {b['cpu']['postgres']:.2f} ms | "
                    f"{ms(w.cpu_ms('postgres'))} ms | |")
    for r in single:
        b, w = BEFORE[r.service], r.window
        rows.append(f"| {r.service}: statements (round trips) per event | {b['statements']} (asyncpg calls) | "
                    f"**{w.statements_per_event:.1f}** | ≤ {TARGET_STATEMENTS:.0f} |")
    for r in single:
        b, w = BEFORE[r.service], r.window
        rows.append(f"| {r.service}: handler time per event | {b['handler']:.2f} ms | {ms(w.handler_ms)} ms | |")
    one = {r.service: r for r in single}
    for r in double:
        b = BEFORE[r.service]
        rows.append(f"| {r.service}: two processes against one | {b['two'] / b['rate']:.2f}× | "
                    f"{r.window.rate / one[r.service].window.rate:.2f}× | |")
    mail = next((r for r in single if r.service == "notifications"), None)
    if mail is not None:
        rows.append(f"| mail, one notifications process | {BEFORE_MAILS} mails/s | {mail_text(mail.window)} | "
                    f"≥ {TARGET_MAILS:,} mails/s |")
    if drives:
        best = next((d for d in drives if d.sustained), None)
        now = (f"**{best.rate} pairs/s**, p95 {best.p95:.2f} s" if best
               else f"**not sustained** at any rate tried (lowest {min(d.rate for d in drives)} pairs/s)")
        rows.append(f"| end to end, onboarding → invite in the mentee's inbox, sustained | "
                    f"{BEFORE_E2E['rate']} pairs/s, p95 {BEFORE_E2E['p95']} s (the verdict did not check p95) | "
                    f"{now} | ≥ {TARGET_PAIRS} pairs/s, p95 ≤ {TARGET_P95_SECONDS:.0f} s |")
        shown = best or drives[-1]
        for group, before in BEFORE_E2E["cpu_ms_per_pair"].items():
            rows.append(f"| end to end: {group} CPU per pair | {before} ms (at 5 pairs/s, idle included) | "
                        f"{shown.cpu_ms_per_pair(group):.1f} ms (at {shown.rate} pairs/s, above idle) | |")
    return "\n".join(rows)


def mail_text(w: Window) -> str:
    due0, due1 = w.deliveries_due
    if due0 > 0 and due1 > 0:
        return f"**{w.mail_rate:,.0f} mails/s** (mail waiting all the window: the rate of sending)"
    return f"{w.mail_rate:,.0f} mails/s (kept up with the events: a lower bound)"


def idle_cores(drives: list[Drive], service: str) -> float | None:
    """What one process of the service uses with nothing to do (its loops, relay, consumers polling):
    the median over the end-to-end runs' idle measurements."""
    seen = [d.idle_cpu[service] for d in drives if service in d.idle_cpu]
    return statistics.median(seen) if seen else None


def single_table(results: list[Throughput], drives: list[Drive]) -> str:
    rows = [("| service | input → work | events in the window | window | events/s | handler time / event | "
             "statements / event | CPU ms / event: service | service above its idle | postgres | kafka | harness | "
             "mail sink | others (cores) | outbox waiting, start → end | target |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        w, work = r.window, WORKLOADS[r.service]
        idle = idle_cores(drives, r.service)
        idle = None if idle is None else idle * r.replicas
        end = "all events handled" if w.all_handled else "60 s" if w.seconds >= WINDOW_SECONDS else "time"
        rows.append(f"| {r.service} ×{r.replicas} | {work.consumes}: {work.causes} | {w.handled:,} of {r.published:,} | "
                    f"{w.seconds:.1f} s ({end}) | **{w.rate:,.0f}** | {ms(w.handler_ms)} ms | "
                    f"{w.statements_per_event:.1f} | **{ms(w.cpu_ms('service'))}** | {ms(w.cpu_ms_above('service', idle))} | "
                    f"{ms(w.cpu_ms('postgres'))} | "
                    f"{ms(w.cpu_ms('kafka'))} | {ms(w.cpu_ms('harness'))} | {ms(w.cpu_ms('mail sink'))} | "
                    f"{w.cores('others'):.2f} | {w.outbox_pending[0]:,} → {w.outbox_pending[1]:,} | "
                    f"≥ {TARGET_RATE[r.service]:,}/s, ≤ {TARGET_CPU_MS} ms, ≤ {TARGET_STATEMENTS:.0f} |")
    return "\n".join(rows)


def cores_lines(results: list[Throughput]) -> str:
    return "\n".join(f"- {r.service} ×{r.replicas}: " + ", ".join(
        f"{g} {r.window.cores(g):.2f}" for g in (*GROUPS, "others")) for r in results)


def outcome_lines(results: list[Throughput]) -> str:
    lines = []
    for r in results:
        made = ", ".join(f"{n:,} {t}" for t, n in sorted(r.outcomes.items()))
        line = f"- {r.service} ×{r.replicas}: outbox at the end: {made or 'no events'}"
        if r.service == "notifications":
            w = r.window
            line += (f"; mail: {w.mails:,} messages accepted by the sink in the window = {mail_text(w)}; deliveries "
                     f"due and unsent at the window's start → end: {w.deliveries_due[0]:,} → {w.deliveries_due[1]:,} "
                     "(the delivery loop runs in the same process as the consumers, so its CPU is in the "
                     "service's CPU per event)")
        line += f"; the harness's progress queries took {r.window.harness_pg_ms / 1000:.2f} s of Postgres time"
        lines.append(line)
    return "\n".join(lines)


def statement_lines(results: list[Throughput], width: int = 90) -> str:
    lines = []
    for r in results:
        w = r.window
        shown = []
        for query, calls in w.top_statements:
            text = query if len(query) <= width else query[: width - 1] + "…"
            shown.append(f"`{text.replace('|', '/').replace('`', '')}` {calls / max(1, w.handled_total):.2f}")
        lines.append(f"- {r.service} ({w.statements_per_event:.1f} a event in all): " + "; ".join(shown))
    return "\n".join(lines)


def network_table(results: list[Throughput]) -> str:
    low, high = NETWORK_RTT_MS
    rows = [(f"| service | statements / event | added per event at {low}-{high} ms a round trip | wall time per "
             "event now (one process) | events/s, one process, with that database | "
             f"events/s if only the round trips counted |"),
            "|---|---|---|---|---|---|"]
    for r in results:
        w = r.window
        s, wall = w.statements_per_event, 1000 / w.rate
        rows.append(f"| {r.service} | {s:.1f} | +{s * low:.1f} to +{s * high:.1f} ms | {wall:.2f} ms | "
                    f"{1000 / (wall + s * high):,.0f} to {1000 / (wall + s * low):,.0f} | "
                    f"≤ {1000 / (s * high):,.0f} to {1000 / (s * low):,.0f} |")
    return "\n".join(rows)


def scaling_table(single: list[Throughput], double: list[Throughput]) -> str:
    rows = [("| service | 1 process, events/s | 2 processes, events/s | ratio | 2026-12-02 ratio | "
             "service CPU ms / event, 1 → 2 processes | ProgramBusy / deadlock lines in the logs |"),
            "|---|---|---|---|---|---|---|"]
    one = {r.service: r for r in single}
    for r in double:
        base, b = one[r.service], BEFORE[r.service]
        contention = sum(n for message, n in r.problems.items() if "ProgramBusy" in message or "Deadlock" in message)
        rows.append(f"| {r.service} | {base.window.rate:,.0f} | **{r.window.rate:,.0f}** | "
                    f"**{r.window.rate / base.window.rate:.2f}×** | {b['two'] / b['rate']:.2f}× | "
                    f"{ms(base.window.cpu_ms('service'))} → {ms(r.window.cpu_ms('service'))} | {contention} |")
    return "\n".join(rows)


def e2e_table(drives: list[Drive]) -> str:
    rows = [("| pairs/s | pairs published | invites arrived | p50 | p95 | p99 | max | re-requests | left waiting at "
             "the end | mails | verdict |"),
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in drives:
        lat = d.latencies()
        stats = [seconds_text(pct(lat, q)) for q in (.5,)] if lat else ["-"]
        stats.append(("**" + seconds_text(d.p95) + "**") if d.sustained else seconds_text(d.p95))
        stats += [seconds_text(pct(lat + [float("inf")] * d.missing, .99)), seconds_text(max(lat))] if lat else ["-", "-"]
        waiting = ", ".join(f"{k} {v:,}" for k, v in d.waiting.items() if v) or "nothing"
        rows.append(f"| {d.rate} | {d.published:,} of {d.planned:,} in {d.publish_seconds:.0f} s | {len(d.invited_at):,} | "
                    f"{' | '.join(stats)} | {d.re_requests:,} | {waiting} | {d.mails:,} | {d.verdict()} |")
    return "\n".join(rows)


STAGES = (("onboarded", "profile.change.queued"), ("onboarded", "match.request.queued"), ("match.request.queued", "match.proposed"),
          ("match.proposed", "match.established"),
          ("match.established", "meeting.scheduled"), ("meeting.scheduled", "invite in the inbox"))


def e2e_stage_table(drives: list[Drive]) -> str:
    """Where a pair's time goes: each step's p50 / p95 over the pairs that reached its end, as the harness
    saw the events on Kafka (its watcher adds its own small delay to each)."""
    rows = ["| pairs/s | " + " | ".join(f"{a} → {b}" for a, b in STAGES) + " |", "|---" * (len(STAGES) + 1) + "|"]
    for d in drives:
        seen = {"onboarded": d.onboarded_at, **d.stage_at, "invite in the inbox": d.invited_at}
        cells = []
        for a, b in STAGES:
            spans = [seen[b][m] - t for m, t in seen.get(a, {}).items() if m in seen.get(b, {})]
            cells.append(f"{seconds_text(pct(spans, .5))} / {seconds_text(pct(spans, .95))} ({len(spans):,})"
                         if spans else "-")
        rows.append(f"| {d.rate} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def e2e_cost_table(drives: list[Drive]) -> str:
    groups = (*SERVICES, "postgres", "kafka", "harness", "mail sink")
    rows = ["| pairs/s | measured over | " + " | ".join(f"{g} CPU" for g in groups) + " | others (cores) | "
            + " | ".join(f"{s} statements" for s in SERVICES) + " |",
            "|---" * (len(groups) + len(SERVICES) + 3) + "|"]
    for d in drives:
        cores_others = d.cpu.get("others", 0.0) / d.seconds if d.seconds else 0.0
        rows.append(f"| {d.rate} | {d.seconds:.0f} s, {d.published:,} pairs | "
                    + " | ".join(f"{d.cpu_ms_per_pair(g):.1f} ms" for g in groups)
                    + f" | {cores_others:.2f} | "
                    + " | ".join(f"{d.statements_per_pair(s):.1f}" for s in SERVICES) + " |")
    for d in drives:
        rows.append(f"| {d.rate}: idle, per second | {IDLE_SECONDS:.0f} s before publishing | "
                    + " | ".join(f"{1000 * d.idle_cpu.get(g, 0.0):.0f} ms" for g in groups)
                    + f" | {d.idle_cpu.get('others', 0.0):.2f} | "
                    + " | ".join(f"{d.idle_statements.get(s, 0.0):.1f}" for s in SERVICES) + " |")
    return "\n".join(rows)


def e2e_statement_lines(drives: list[Drive], width: int = 90) -> str:
    """Each service's commonest statements per pair published, at the last rate tried (warm-up and idle
    background included)."""
    if not drives:
        return ""
    d = drives[-1]
    lines = []
    for service, top in d.top_statements.items():
        shown = [f"`{(q if len(q) <= width else q[: width - 1] + '…').replace('|', '/').replace('`', '')}` "
                 f"{calls / max(1, d.published):.1f}" for q, calls in top]
        lines.append(f"- {service}: " + "; ".join(shown))
    lines.append("\nAnd where Postgres spent its time executing them (COMMIT includes the wait for the WAL "
                 "flush), ms per pair published:")
    for service, top in d.slowest_statements.items():
        shown = [f"`{(q if len(q) <= width else q[: width - 1] + '…').replace('|', '/').replace('`', '')}` "
                 f"{micros / 1000 / max(1, d.published):.2f}" for q, micros in top]
        lines.append(f"- {service}: " + "; ".join(shown))
    return f"Where the statements go at {d.rate} pairs/s, per pair published:\n" + "\n".join(lines)


def e2e_postgres_line(d: Drive) -> str:
    """Postgres' CPU per pair by kind of process, above what each used with nothing to do."""
    per = {k: 1000 * max(0.0, v - d.idle_postgres.get(k, 0.0) * d.seconds) / max(1, d.published)
           for k, v in d.postgres.items()}
    shown = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.05)
    return (f"At {d.rate} pairs/s, Postgres' CPU per pair by process, above idle ({sum(per.values()):.1f} ms in "
            f"all; \"exited\": processes that ended meanwhile, such as autovacuum workers): {shown or 'none'}.")


def e2e_retry_line(d: Drive) -> str:
    """Events parked for another try at one rate (warm-up included), per pair published."""
    if not d.retries:
        return f"At {d.rate} pairs/s no event was parked for another try."
    shown = ", ".join(f"{k} {n:,} ({n / max(1, d.published):.2f} a pair)" for k, n in d.retries.most_common(6))
    return (f"At {d.rate} pairs/s, events parked for another try (service, topic, why; not_yet_known: its data "
            f"was still on its way, tried again after a backoff of 0.2 s doubling to 5 s): {shown}.")


def e2e_network_note(drives: list[Drive]) -> str:
    if not drives:
        return ""
    d = next((d for d in drives if d.sustained), drives[-1])
    low, high = NETWORK_RTT_MS
    per = {s: d.statements_per_pair(s) for s in SERVICES}
    total = sum(per.values())
    parts = ", ".join(f"{s} {v:.0f} (+{v * low:.0f} to {v * high:.0f} ms, so at most {1000 / (v * high):,.0f} to "
                      f"{1000 / (v * low):,.0f} pairs/s from waiting alone)" for s, v in per.items() if v)
    return (f"End to end, at {d.rate} pairs/s, one pair took {total:.0f} statements in all (above the idle "
            f"background): {parts}. A sequential "
            f"consumer waits for each of them, so a database {low}-{high} ms away adds at most {total * low:.0f} to "
            f"{total * high:.0f} ms to a pair's latency (less: not every statement is on the mentee's path to the "
            "invite) and the busy time above to each service per pair.")


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


def report(args, machine: str, single: list[Throughput], double: list[Throughput], drives: list[Drive]) -> str:
    return f"""
{machine}

CPU per event is the figure to compare across machines and runs; events per second depend on the
machine and on what else ran on it (the row "other processes" above).

#### Against 2026-12-02

{summary_table(single, double, drives)}

The 2026-12-02 figures came from runs of 4,000 events (11 to 23 s each; at the target rate, about a
second), and their "round trips" were asyncpg calls counted in a separate in-process run; its
end-to-end verdict checked that every invite arrived and latency did not grow, not p95, and its CPU
figures were divided by the publishing time only.

#### How it is measured

Every service runs as its own OS process (`python -m services.<name>`, the environment `tandem up`
gives it) against PostgreSQL and Apache Kafka that this benchmark starts as local processes on the
same machine. A run: a fresh database and topic prefix, the service's tables seeded directly
(migrations, COPY), then {args.warmup:,} warm-up + {args.events:,} input events with distinct keys produced
before the service starts. The window opens once the warm-up events are in the service's inbox and
closes after {args.window:.0f} s or once all events are handled and their outbox relayed to Kafka
(acks=all), whichever comes first. Within it:
- **CPU per event**: utime + stime from /proc (psutil) of each process, divided by the events handled
  in the window. Postgres is the postmaster and all its backends (those that exited meanwhile
  through the postmaster's children time), Kafka the broker's JVM, the harness this benchmark's own
  process (its progress query every {POLL_SECONDS} s; its Postgres time is given below), the mail sink
  its own process. "Others" is everything else on the machine, in cores. "Above its idle": the
  service's CPU less what one process of it uses with nothing to do (its outbox relay, loops and
  consumers polling; measured in part 3 before publishing, the median over its runs), which at a
  low rate is spread over few events.
- **Statements per event**: what Postgres executed for the run's database (`pg_stat_statements`,
  top level, BEGIN and COMMIT included, the harness's marked queries left out) ÷ events handled. Each
  is one round trip, except the rows of one `executemany`, which asyncpg pipelines, and asyncpg's
  reset of a connection going back to its pool (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
  UNLISTEN *; RESET ALL;` in one message), counted once.
- **Handler time**: the mean of `tandem_handler_seconds` (the service's /metrics) over the window.
- The mail sink (`benchmarks/mail_sink.py`) runs in its own process at nice {SINK_NICENESS}; it notes each
  message's arrival and recipients and keeps the bytes of those with a calendar part, which are
  read after the run.

#### 1. One process per service

{single_table(single, drives)}

{outcome_lines(single)}

CPU in cores over the window (1.00 = one core busy all the time):
{cores_lines(single)}

Where the statements go: each service's commonest statements (normalised by Postgres), per event
handled since the service started (warm-up included):
{statement_lines(single)}

#### A database across a network

Each statement is a round trip, and a consumer applies a batch's events one after another, so a
database 0.3 to 0.5 ms away adds statements × 0.3-0.5 ms to each event's time in a process. The
CPU per event would stay as it is (waiting on the network takes no CPU); the rates would not:

{network_table(single)}

{e2e_network_note(drives)}

{e2e_statement_lines(drives)}

{chr(10).join(e2e_retry_line(d) for d in drives)}

{chr(10).join(e2e_postgres_line(d) for d in drives)}

#### 2. Two processes in one consumer group

{scaling_table(single, double)}

The topics have 3 partitions, so one process takes 2 and the other 1. Both processes, Postgres and
Kafka share the machine's {os.cpu_count()} cores: a second process helps only while the first leaves CPU idle.

{single_table(double, drives)}

#### 3. Onboarding → meeting invite in the mentee's inbox

{e2e_section(args, drives)}

#### Errors and warnings in the services' logs

Per run, the commonest kinds (digits shown as N):
{problem_lines(single + double, drives)}
"""


def profile_section(results: list[Throughput]) -> str:
    """--profile: where each service run's CPU went in its window, as py-spy sampled it."""
    parts = [render_profile(f"{r.service} ×{r.replicas}", r.profile, cpu_seconds=r.window.cpu.get("service"))
             for r in results if r.profile is not None]
    return f"""
#### Where the services' CPU goes (`--profile`)

Each service process sampled by py-spy from outside (`py-spy record --rate {PROFILE_RATE} {" ".join(PROFILE_FLAGS)}`:
the thread holding the GIL) during the window only; the processes of a run with two are added
together. "Self" is the share of samples in which a function was running its own code (not a
function it called); the package table adds them up by library, the event loop, and each module of
ours. Time in C code (asyncpg's protocol, uvloop, orjson, pydantic-core, a socket's send) has no
Python frame of its own and counts in the Python function below it, so the event loop's share
includes the socket reads and protocol parsing that uvloop and asyncpg do in C. On a busy machine a
thread holding the GIL can also be waiting for a core, so the samples add up to more seconds than
the CPU the processes used; the shares hold. py-spy's own CPU is in "others", not in the service's.

""" + "\n\n".join(parts) + "\n"


def e2e_section(args, drives: list[Drive]) -> str:
    if not drives:
        return "Not run."
    sustained = next((d for d in drives if d.sustained), None)
    headline = (f"**{sustained.rate} pairs/s sustained**, p95 {sustained.p95:.2f} s" if sustained
                else "**not sustained** at any of the rates tried")
    return f"""All four services (one process each), the mail sink and a driver. At R pairs a second for
{args.seconds:.0f} s the driver publishes a mentor's and a mentee's `participant.onboarded` ({PROGRAMS}
programs, each in one zone and its languages, so any mentor of a program shares office hours with its
mentees; a more senior mentor whose skills cover the mentee's goals; no quiet hours) and the mentee's
`match.requested`; it accepts every `match.proposed`
and asks again a second after a `match.unavailable`. Latency: from publishing the mentee's onboarding
to the sink's acceptance of the mail with their invite (a text/calendar METHOD:REQUEST part, To: the
mentee; checked by reading each one after the run). Each rate has a fresh database, topics and
processes; before the clock runs, 3 warm-up pairs go through the whole chain one after another
(consumer groups joined, connections open). Rates are tried from the highest down until one is
sustained.

**Sustained** means: every invite arrived (within {args.drain:.0f} s of the last onboarding), **p95 ≤ {TARGET_P95_SECONDS:.0f} s**
over all mentees published (a missing invite counts as infinitely late), and nothing left waiting at
the end (no outbox event unrelayed, no mail delivery due and unsent). A run stops early once more
than 5 % of its planned pairs are known to wait over {TARGET_P95_SECONDS:.0f} s: p95 can then no longer hold
(the latencies shown for such a run are those of the invites that had arrived when it stopped).

{e2e_table(drives)}

Result: {headline} (target: {TARGET_PAIRS} pairs/s with p95 ≤ {TARGET_P95_SECONDS:.0f} s).

Where a pair's time goes, step by step (p50 / p95, and how many pairs reached the step's end), as the
harness saw each event on Kafka (match-work.v1, where matching queues the mentee's profile and then
their request for its program; matches.v1; the kickoff's meeting.scheduled on meetings.v1) and the
invite at the sink. The first column is not a step of the chain: it says when the mentee's profile
was stored, which their request waits for:

{e2e_stage_table(drives)}

What a pair costs: CPU per pair published for each process, from the first publish to the last
invite (or the end of the drain), and statements per pair by each service's database role, both
above what each process does with nothing to do (measured for {IDLE_SECONDS:.0f} s after the warm-up, in
the "idle" rows: the outbox relays, background loops, Kafka's own work). At a low rate the idle
work would otherwise dominate a pair's cost:

{e2e_cost_table(drives)}"""


# --- main ---------------------------------------------------------------------------------------------

def run_services(infra: Infrastructure, services: tuple[str, ...], args,
                 log_root: Path) -> tuple[list[Throughput], list[Throughput]]:
    single, double = [], []
    total = args.warmup + args.events
    for name in services:
        workload = WORKLOADS[name]
        started = time.monotonic()
        pairs = pair_profiles(total)
        inputs = workload.inputs(pairs)
        print(f"{name}: {total:,} × {workload.consumes} built in {time.monotonic() - started:.0f} s", flush=True)
        for replicas, found in ((1, single), (2, double)):
            started = time.monotonic()
            result = measure_service(infra, workload, pairs, inputs, replicas, args.warmup, args.window, log_root,
                                     profile=getattr(args, "profile", False))
            w = result.window
            print(f"  ×{replicas}: {w.handled:,} events in {w.seconds:.1f} s = {w.rate:,.0f}/s; CPU ms/event "
                  + ", ".join(f"{g} {ms(w.cpu_ms(g))}" for g in GROUPS)
                  + f", others {w.cores('others'):.2f} cores; {w.statements_per_event:.1f} statements/event"
                  + (f"; {w.mails:,} mails = {w.mail_rate:,.0f}/s" if workload.sends_mail else "")
                  + f" ({time.monotonic() - started:.0f} s in all)", flush=True)
            found.append(result)
    return single, double


def run_end_to_end(infra: Infrastructure, args, log_root: Path) -> list[Drive]:
    drives = []
    for rate in sorted(args.rates, reverse=True):
        print(f"end to end at {rate} pairs/s for {args.seconds:.0f} s", flush=True)
        drive = measure_end_to_end(infra, rate, args.seconds, args.drain, log_root)
        lat = drive.latencies()
        print(f"  {len(drive.invited_at):,}/{drive.published:,} invites"
              + (f"; p50 {pct(lat, .5):.2f} s, p95 {seconds_text(drive.p95)}, max {max(lat):.2f} s" if lat else "")
              + f"; {drive.verdict()}; CPU ms/pair above idle: "
              + ", ".join(f"{g} {drive.cpu_ms_per_pair(g):.1f}" for g in drive.cpu), flush=True)
        print(e2e_stage_table([drive]), flush=True)
        print(e2e_statement_lines([drive]), flush=True)
        print(e2e_retry_line(drive), flush=True)
        print(e2e_postgres_line(drive), flush=True)
        drives.append(drive)
        if drive.sustained:
            break  # the highest rate sustained among those tried
    return drives


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def start_infrastructure(infra: Infrastructure) -> None:
    """Postgres restarted once with pg_stat_statements loaded, to count every statement it executes."""
    asyncio.run(enable_statement_stats(infra.database_url))
    infra.postgres.stop()
    infra.postgres.start(infra.home / "logs" / "postgres.log", say=lambda *_: None)
    asyncio.run(create_statement_view(infra.database_url))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="development: 3,000 events, 15 s windows and rates 20 5; docs/benchmarks.md not written")
    parser.add_argument("--events", type=int, help=f"measured input events per service run (default {EVENTS:,})")
    parser.add_argument("--warmup", type=int, help=f"events handled before the window opens ({WARMUP_EVENTS:,})")
    parser.add_argument("--window", type=float, help=f"longest window per service run, s ({WINDOW_SECONDS:.0f})")
    parser.add_argument("--only", nargs="+", choices=(*SERVICES, "e2e"),
                        help="some services (parts 1-2) and/or e2e (part 3); the section is then not written")
    parser.add_argument("--rates", type=int, nargs="+", help=f"pairs/s to try, highest first ({RATES})")
    parser.add_argument("--seconds", type=float, help=f"seconds of publishing per rate ({E2E_SECONDS:.0f})")
    parser.add_argument("--drain", type=float, default=DRAIN_SECONDS, help="seconds to wait for the last invites")
    parser.add_argument("--profile", action="store_true",
                        help="parts 1-2: sample each service process with py-spy in the window; report where its CPU goes")
    args = parser.parse_args()
    quick = {"events": 3000, "warmup": 300, "window": 15.0, "rates": [20, 5], "seconds": 15.0}
    full = {"events": EVENTS, "warmup": WARMUP_EVENTS, "window": WINDOW_SECONDS, "rates": RATES, "seconds": E2E_SECONDS}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    # This benchmark counts the CPU of its own Postgres and Kafka processes: never servers given by the environment.
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.pop(variable, None)
    load_before, code_before = uptime(), code_state()
    started = time.monotonic()
    services = tuple(s for s in SERVICES if not args.only or s in args.only)
    log_root = Path(tempfile.mkdtemp(prefix="tandem-throughput-"))
    print(f"logs and mail in {log_root}", flush=True)
    with local_infrastructure() as (infra, _):
        start_infrastructure(infra)
        single, double = run_services(infra, services, args, log_root)
        drives = run_end_to_end(infra, args, log_root) if not args.only or "e2e" in args.only else []
    others = [r.window.cores("others") for r in single + double]
    others += [d.cpu.get("others", 0.0) / d.seconds for d in drives if d.seconds]
    machine = machine_block(load_before, uptime(), others, code_before)
    body = report(args, machine, single, double, drives)
    if args.profile:
        body += profile_section(single + double)
    body += f"\nThe whole benchmark took {(time.monotonic() - started) / 60:.1f} min.\n"
    if args.only or args.quick:
        print("(--only or --quick: docs/benchmarks.md not written)")
    else:
        write_section("throughput", "Event throughput and end-to-end latency", body)
    print(body)


if __name__ == "__main__":
    main()
