"""Benchmark: a cohort round of 25,000 pairs, from the command to the last kickoff invite in a mentee's
inbox (issue 17: "every kickoff invite delivered within 10 minutes").

All real parts on this machine: PostgreSQL and Apache Kafka as local processes (as
benchmarks/throughput.py starts them), the four services as OS processes (one each, `python -m
services.<name>` as `tandem up` starts them), the mail sink (benchmarks/mail_sink.py) in its own niced
process.

1. One program: N mentees and N / capacity mentors (default capacity 2), in 19 zones with their
   languages (the mails go out in English, Dutch, German, French, Portuguese, Spanish, Japanese), weekday
   office hours 08:00-18:00, no quiet hours, each mentee's goals covered by a mentor in their own zone.
2. Every service's tables are seeded directly (migrations, COPY of the participants, and feedback's
   onboarding rows), except for a sample of people who are onboarded through Kafka
   (`participant.onboarded`) while the services run; the rows the services stored for them are then
   compared with what the seeding writes for the same people, table by table.
3. A few pairs of other programs go through the whole chain (on-demand requests), so consumer groups
   are joined and connections are open; then nothing is left waiting.
4. T0: one `cohort.round.requested` for the program (the command on match-requests.v1, docs/events.md;
   `tandem match-cohort` runs the same round offline, from files). A driver accepts every `match.proposed` the moment it sees it
   (`proposal.accepted`, as the mentor's click on the proposal page would publish): people answer
   instantly here, so every time below is the system's own.
5. Measured from T0: the round finished (every proposal on Kafka), all accepted, all `match.established`,
   all kickoffs `meeting.scheduled`, the first and the last kickoff invite (a text/calendar
   METHOD:REQUEST part, To: the mentee) accepted by the sink, and every mail (proposal, match and kickoff
   mails, to mentors and mentees) delivered; the invites counted (each mentee's exactly once); CPU
   seconds of every process (benchmarks/meters.py) and the statements each service ran.

    .venv/bin/python -m benchmarks.cohort_delivery [--pairs 25000] [--capacity 2] [--timeout 900] [--sample 30]
                                                   [--quick]

--timeout: seconds after T0 after which the run stops and reports how far it got (with the pace of its
last minute, an estimate of when the last invite would have come). docs/benchmarks.md is written unless
--quick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from benchmarks.infra import local_infrastructure
from benchmarks.meters import MARK, CpuMeter, StatementMeter
from benchmarks.report import write_section
from benchmarks.throughput import (
    SERVICES,
    WORKLOADS,
    Drive,
    Driver,
    MailIndex,
    Sink,
    _check_alive,
    analyze_seeded,
    code_state,
    copy_people,
    database_of,
    infrastructure_pids,
    invite_recipient,
    log_problems,
    machine_block,
    mail_sink,
    pair_profiles,
    reset_statements,
    start_infrastructure,
    uptime,
)
from shared.contracts import events as ev
from shared.contracts import topics
from shared.db import create_database, create_pool, migrate, role_of
from shared.kafka import all_topic_names, ensure_topics
from tandem.client import Observed, Publisher, Watcher
from tandem.local.stack import Infrastructure, ServiceProcess, Services, free_http_ports, provision_roles
from tandem.population import FIRST, LAST

PAIRS = 25_000
QUICK_PAIRS = 1_000
CAPACITY = 2  # mentees per mentor: N / 2 mentors, every place taken
PROGRAM = "cohort-2027"
TARGET_SECONDS = 600.0  # issue 17: every kickoff invite within 10 minutes of the command
TIMEOUT_SECONDS = 900.0  # after T0: stop and report how far it got
SAMPLE = 30  # people onboarded through Kafka, whose stored rows check the seeding
POLL_SECONDS = 0.25
SETTLE_SECONDS = 120.0  # before T0: the warm-up's mail and events all out
IDLE_SECONDS = 5.0  # before T0: what the processes use with nothing to do

# Tables the seeding writes in each schema, beside the participants replica every service keeps:
# feedback's onboarding rows, and matching's index stamps (who changed, under which program version).
ONBOARDING_ROWS = {"feedback": ("analytics_onboardings",), "matching": ("index_changes", "program_versions")}
COUNTERS = ("version",)  # compared aside like times: a sequence's value, whatever stamped it
GROUPS = (*SERVICES, "postgres", "kafka", "harness", "mail sink")


# --- the population -------------------------------------------------------------------------------------

def cohort_population(pairs: int, *, capacity: int = CAPACITY, program_id: str = PROGRAM,
                      seed: int = 17) -> tuple[list[dict], list[dict]]:
    """(mentors, mentees) of one program: `pairs` mentees and ceil(pairs / capacity) mentors taking
    `capacity` each. Built on throughput's `pair_profiles` (same zone and languages within a group,
    weekday office hours, no quiet hours, a more senior mentor): mentor k's mentees live in its zone
    and want two of its skills, so every mentee can be matched and every kickoff placed."""
    if pairs < 1 or capacity < 1:
        raise ValueError("pairs and capacity must be at least 1")
    rng = random.Random(seed)
    mentors: list[dict] = []
    mentees: list[dict] = []
    for mentor, first in pair_profiles(-(-pairs // capacity), tag="c-", capacity=capacity, seed=seed):
        mentors.append(dict(mentor, program_id=program_id))
        for j in range(min(capacity, pairs - len(mentees))):
            pid = f"{first['participant_id']}-{j}"
            mentees.append(dict(first, participant_id=pid, email=f"{pid}@example.com", program_id=program_id,
                                name=first["name"] if j == 0 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                                goals=first["goals"] if j == 0 else rng.sample(mentor["skills"], 2)))
    return mentors, mentees


def onboarding_sample(mentors: list[dict], mentees: list[dict], size: int = SAMPLE) -> list[dict]:
    """About `size` people spread over the population (a third mentors), onboarded through Kafka."""
    take_mentors = max(1, size // 3) if mentors else 0
    take_mentees = max(1, size - take_mentors) if mentees else 0
    return (mentors[:: max(1, len(mentors) // take_mentors)][:take_mentors] if take_mentors else []) + \
        (mentees[:: max(1, len(mentees) // take_mentees)][:take_mentees] if take_mentees else [])


# --- seeding, and its check against what the services store --------------------------------------------

async def seed_service(conn: asyncpg.Connection, service: str, people: list[dict], onboarded_at: datetime) -> None:
    """What `participant.onboarded` stores for these people in one service's schema (the connection's
    search_path): the participants replica (throughput's COPY), and feedback's onboarding rows."""
    await copy_people(conn, people)
    if service == "feedback":
        await conn.copy_records_to_table(
            "analytics_onboardings", columns=["participant_id", "program_id", "onboarded_at"],
            records=[(p["participant_id"], p["program_id"], onboarded_at) for p in people])
    if service == "matching":  # one stamp for everyone, as one wave of onboardings would leave it
        programs = sorted({p["program_id"] for p in people})
        versions = dict(await conn.fetch(
            """INSERT INTO program_versions (program_id, version) SELECT p, nextval('index_version')
               FROM unnest($1::text[]) p ON CONFLICT (program_id) DO UPDATE SET version = EXCLUDED.version
               RETURNING program_id, version""", programs))
        await conn.copy_records_to_table(
            "index_changes", columns=["program_id", "participant_id", "version"],
            records=[(p["program_id"], p["participant_id"], versions[p["program_id"]]) for p in people])


def service_settings(service: str, url: str, bootstrap: str, prefix: str):
    workload = WORKLOADS[service]
    return workload.build(workload.settings(database_url=url, kafka_bootstrap_servers=bootstrap, topic_prefix=prefix))


async def seed_all(role_urls: dict[str, str], owner_url: str, bootstrap: str, prefix: str, people: list[dict],
                   onboarded_at: datetime) -> dict[str, float]:
    """Each service's schema migrated and seeded with its own role (as the service would own the rows);
    seconds per service."""
    took, schemas = {}, []
    for name in SERVICES:
        started = time.monotonic()
        service = service_settings(name, role_urls[name], bootstrap, prefix)
        schemas.append(service.schema)
        pool = await create_pool(role_urls[name], service.schema, size=2)
        try:
            await migrate(pool, service.schema, service.migrations, service.replicas)
            async with pool.acquire() as conn:
                await seed_service(conn, name, people, onboarded_at)
        finally:
            await pool.close()
        took[name] = time.monotonic() - started
    conn = await asyncpg.connect(owner_url)
    try:
        for schema in schemas:  # the seeded tables only (throughput.analyze_seeded says why)
            await analyze_seeded(conn, schema)
    finally:
        await conn.close()
    return took


_PERSON_TABLES = """SELECT table_name FROM information_schema.columns
                    WHERE table_schema = $1 AND column_name = 'participant_id' ORDER BY 1"""
_TIME_COLUMNS = """SELECT array_agg(column_name::text) FROM information_schema.columns
                   WHERE table_schema = $1 AND table_name = $2 AND data_type LIKE 'timestamp%'"""


async def check_seeding(owner_url: str, sample: list[dict], onboarded_at: datetime) -> dict[str, list[str]]:
    """Per service, how the rows it stored for the sample (onboarded through Kafka) differ from what
    `seed_service` writes for the same people: for every table of its schema with a participant_id,
    rows compared column by column, times and version counters aside. Empty lists: the same."""
    ids = [p["participant_id"] for p in sample]
    found: dict[str, list[str]] = {}
    conn = await asyncpg.connect(owner_url)
    try:
        for service in SERVICES:
            twin = f"seedcheck_{service}"
            seeded = ("participants", *ONBOARDING_ROWS.get(service, ()))
            await conn.execute(f"DROP SCHEMA IF EXISTS {twin} CASCADE")
            await conn.execute(f"CREATE SCHEMA {twin}")
            if service == "matching":
                await conn.execute(f"CREATE SEQUENCE {twin}.index_version")
            for table in seeded:
                await conn.execute(f"CREATE TABLE {twin}.{table} (LIKE {service}.{table} INCLUDING ALL)")
            pool = await create_pool(owner_url, twin, size=1)
            try:
                async with pool.acquire() as seed_conn:
                    await seed_service(seed_conn, service, sample, onboarded_at)
            finally:
                await pool.close()
            problems = []
            for row in await conn.fetch(_PERSON_TABLES, service):
                table = row["table_name"]
                times = [*(await conn.fetchval(_TIME_COLUMNS, service, table) or []), *COUNTERS]
                select = f"SELECT {MARK} (to_jsonb(t) - $2::text[])::text AS r FROM {{}} t WHERE participant_id = ANY($1)"
                stored = sorted(r["r"] for r in await conn.fetch(select.format(f"{service}.{table}"), ids, times))
                expected = (sorted(r["r"] for r in await conn.fetch(select.format(f"{twin}.{table}"), ids, times))
                            if table in seeded else [])
                if stored != expected:
                    problems.append(f"{table}: {len(stored)} rows stored by the service, {len(expected)} seeded"
                                    + _differing_columns(stored, expected))
            found[service] = problems
            await conn.execute(f"DROP SCHEMA {twin} CASCADE")
    finally:
        await conn.close()
    return found


def _differing_columns(stored: list[str], expected: list[str]) -> str:
    """Which columns differ (names only: the values are people's data)."""
    a, b = [json.loads(r) for r in stored], [json.loads(r) for r in expected]
    if len(a) != len(b):
        return ""
    columns = sorted({k for x, y in zip(a, b, strict=True) for k in x.keys() | y.keys() if x.get(k) != y.get(k)})
    return f" (columns differing: {', '.join(columns)})" if columns else ""


async def people_stored(owner_url: str, ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(owner_url)
    try:
        return {s: await conn.fetchval(f"SELECT {MARK} count(*) FROM {s}.participants WHERE participant_id = ANY($1)",
                                       ids) for s in SERVICES}
    finally:
        await conn.close()


# --- what happened when ----------------------------------------------------------------------------------

@dataclass
class Timeline:
    """When each kind of thing was seen (epoch seconds), in the order noted."""

    seen: dict[str, list[float]] = field(default_factory=dict)

    def note(self, kind: str, at: float) -> None:
        self.seen.setdefault(kind, []).append(at)

    def count(self, kind: str) -> int:
        return len(self.seen.get(kind, ()))

    def first(self, kind: str) -> float | None:
        times = self.seen.get(kind)
        return min(times) if times else None

    def reached(self, kind: str, n: int) -> float | None:
        """When the n-th of a kind was seen; None if fewer were."""
        times = self.seen.get(kind, [])
        if n < 1 or len(times) < n:
            return None
        return sorted(times)[n - 1]


@dataclass(frozen=True)
class Invites:
    """The kickoff invites the mentees got: each mentee's once, none missing."""

    expected: int
    arrived: int  # mentees with at least one
    duplicates: int  # invites beyond each mentee's first
    first: float | None
    last: float | None  # the last mentee's first invite
    strangers: int  # calendar mails to a mentee's envelope that were no REQUEST To: a mentee of the round

    @property
    def missing(self) -> int:
        return self.expected - self.arrived

    @property
    def each_once(self) -> bool:
        return self.missing == 0 and self.duplicates == 0


def tally_invites(invites: Iterable[tuple[str | None, float]], mentees: Sequence[str]) -> Invites:
    """(mentee id or None for an address no mentee has, arrival) per kickoff invite read at the sink."""
    wanted = set(mentees)
    firsts: dict[str, float] = {}
    per: Counter[str] = Counter()
    strangers = 0
    for mentee, at in invites:
        if mentee is None or mentee not in wanted:
            strangers += 1
            continue
        per[mentee] += 1
        firsts[mentee] = min(at, firsts.get(mentee, at))
    times = list(firsts.values())
    return Invites(expected=len(wanted), arrived=len(firsts), duplicates=sum(n - 1 for n in per.values()),
                   first=min(times) if times else None, last=max(times) if times else None, strangers=strangers)


def verdict(invites: Invites, t0: float, target: float = TARGET_SECONDS, unplaced: int = 0) -> tuple[bool, str]:
    """Met when every mentee got their kickoff invite exactly once, the last within `target` of T0.
    `unplaced`: mentees whose kickoff scheduling could not place (no kickoff, so no invite to wait for)."""
    if invites.arrived == 0 or invites.last is None:
        return False, f"not met: no kickoff invite arrived (0 of {invites.expected:,})"
    last = invites.last - t0
    if invites.missing and invites.missing == unplaced and not invites.duplicates:
        within = "within" if last <= target else "over"
        return False, (f"not met: {unplaced:,} of {invites.expected:,} mentees got no kickoff at all (scheduling "
                       f"could not place it: `relationship.unschedulable`); every kickoff that was placed had its "
                       f"invite, each once, the last {clock(last)} after T0 ({within} the {clock(target)} target)")
    if invites.missing:
        return False, (f"not met: {invites.missing:,} of {invites.expected:,} kickoff invites missing at the end "
                       f"(the last of the {invites.arrived:,} that came: {clock(last)} after T0)")
    if invites.duplicates:
        return False, f"not met: {invites.duplicates:,} mentees' invites came more than once"
    if last > target:
        return False, f"not met: the last kickoff invite came {clock(last)} after T0 (target ≤ {clock(target)})"
    return True, f"met: the last kickoff invite came {clock(last)} after T0 (target ≤ {clock(target)})"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f} ({seconds:,.1f} s)"


def rate(count: int, start: float | None, end: float | None) -> float | None:
    """Things a second between two moments; None when there is no span to divide by."""
    if start is None or end is None or end <= start or count <= 0:
        return None
    return count / (end - start)


def projection(times: Sequence[float], expected: int, end: float, window: float = 60.0) -> float | None:
    """When the `expected`-th would come at the pace of the last `window` seconds before `end` (an
    estimate for a run stopped early); None when nothing came in that window or all came already."""
    if len(times) >= expected:
        return None
    recent = sum(1 for t in times if end - window < t <= end)
    if recent == 0:
        return None
    return end + (expected - len(times)) * window / recent


# --- the run ---------------------------------------------------------------------------------------------

class CohortDriver(Driver):
    """throughput's driver (accepts every proposal of its mentees at once, re-asks after a
    `match.unavailable`), noting when each of the round's acceptances was published."""

    def __init__(self, publisher: Publisher, mail: MailIndex, timeline: Timeline, program_id: str) -> None:
        super().__init__(publisher, mail, Drive(rate=1, planned=0), tag="cw-")
        self.timeline = timeline
        self.program_id = program_id
        self.unschedulable: list[tuple[str | None, str | None, str]] = []  # (mentor, mentee, why)

    def enrol(self, mentees: list[dict]) -> None:
        for mentee in mentees:
            self.programs[mentee["participant_id"]] = mentee["program_id"]
            self.mentees[mentee["email"]] = mentee["participant_id"]

    async def observe(self, observed: Observed) -> None:
        data = observed.data
        ours = data.get("program_id") == self.program_id
        if ours and observed.type == "relationship.unschedulable":
            self.unschedulable.append((data.get("mentor_id"), data.get("mentee_id"),
                                       data.get("reason_code") or str(data.get("reason", "")).split(":")[0]))
        if ours and observed.type:
            kind = observed.type
            if kind == "meeting.scheduled" and data.get("kind") == "kickoff":
                kind = "meeting.scheduled (kickoff)"
            self.timeline.note(kind, time.time())
        if observed.topic == topics.MATCHES:
            await self.on_match_event(observed)
            if ours and observed.type == "match.proposed":
                self.timeline.note("proposal.accepted", time.time())


@dataclass
class Round:
    pairs: int
    mentors: int
    capacity: int
    sample: int
    t0: float = 0.0
    end: float = 0.0
    timed_out: bool = False
    timeline: Timeline = field(default_factory=Timeline)
    milestones: list[tuple[str, float, dict[str, float]]] = field(default_factory=list)  # (stage, at, CPU so far)
    cpu: dict[str, float] = field(default_factory=dict)  # T0 → end, seconds per group
    idle_cpu: dict[str, float] = field(default_factory=dict)  # cores, with nothing to do, before T0
    statements: dict[str, int] = field(default_factory=dict)  # T0 → end, by service
    invites: Invites | None = None
    invites_to_mentors: int = 0
    mails: int = 0  # to the round's people, accepted by the sink after T0
    last_mail: float | None = None
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)  # (template, status, count)
    deliveries_later: int = 0  # not due yet at the end
    waiting: dict[str, int] = field(default_factory=dict)  # left at the end
    seeding_seconds: dict[str, float] = field(default_factory=dict)
    seeding_check: dict[str, list[str]] = field(default_factory=dict)
    warmed_up: bool = False
    re_requests: int = 0
    unschedulable: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (mentor zone, mentee zone, why)
    load_t0: str = ""
    problems: Counter[str] = field(default_factory=Counter)
    mail_settled: float | None = None  # every mail out, nothing waiting


_WAITING = ("SELECT " + MARK + """ (SELECT count(*) FROM notifications.deliveries
                     WHERE status IN ('pending', 'sending') AND not_before <= now()) AS due,
                   (SELECT count(*) FROM matching.outbox WHERE state = 'pending') AS matching,
                   (SELECT count(*) FROM scheduling.outbox WHERE state = 'pending') AS scheduling,
                   (SELECT count(*) FROM notifications.outbox WHERE state = 'pending') AS notifications,
                   (SELECT count(*) FROM feedback.outbox WHERE state = 'pending') AS feedback""")
_MAIL_CAUSES = ("match.proposed", "match.established", "meeting.scheduled")
_APPLIED = ("SELECT " + MARK + " event_type, count(*) AS n FROM notifications.inbox "
            "WHERE event_type = ANY($1) GROUP BY 1")


async def waiting_work(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(_WAITING)
    return {("deliveries due" if k == "due" else f"{k} outbox"): v for k, v in row.items()}


async def applied_by_notifications(conn: asyncpg.Connection) -> Counter[str]:
    return Counter({r["event_type"]: r["n"] for r in await conn.fetch(_APPLIED, list(_MAIL_CAUSES))})


async def settle(conn: asyncpg.Connection, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any((await waiting_work(conn)).values()):
            return True
        await asyncio.sleep(0.5)
    return False


async def drive_round(infra: Infrastructure, url: str, prefix: str, sink: Sink, processes: list[ServiceProcess],
                      meter: CpuMeter, mentors: list[dict], mentees: list[dict], sample: list[dict],
                      onboarded_at: datetime, found: Round, timeout: float) -> MailIndex:
    """Everything up to the end of the run; returns the sink's index, its invites read later."""
    mail = MailIndex(sink.directory)
    statements = StatementMeter(infra.database_url, database_of(url))
    mentee_of = {m["email"]: m["participant_id"] for m in mentees}
    ours = set(mentee_of) | {m["email"] for m in mentors}
    tl = found.timeline
    conn = await asyncpg.connect(url)
    try:
        async with Publisher(infra.bootstrap_servers, topic_prefix=prefix) as publisher:
            driver = CohortDriver(publisher, mail, tl, PROGRAM)
            driver.enrol(mentees)
            async with Watcher(infra.bootstrap_servers, [topics.MATCHES, topics.MEETINGS], prefix,
                               on_message=driver.observe):
                # The sample, onboarded as upstream would; a few pairs through the whole chain meanwhile.
                await publisher.publish_many(ev.ParticipantOnboarded.model_validate(p) for p in sample)
                found.warmed_up = await driver.warm_up()
                ids = [p["participant_id"] for p in sample]
                deadline = time.monotonic() + 120
                while min((await people_stored(url, ids)).values()) < len(ids):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the sample's profiles not stored after 120 s: {await people_stored(url, ids)}")
                    _check_alive(processes)
                    await asyncio.sleep(0.2)
                found.seeding_check = await check_seeding(url, sample, onboarded_at)
                print("seeding check: " + ("the same rows" if not any(found.seeding_check.values())
                                           else repr(found.seeding_check)), flush=True)
                if not await settle(conn, SETTLE_SECONDS):
                    print(f"before T0, still waiting: {await waiting_work(conn)}", flush=True)
                applied0 = await applied_by_notifications(conn)
                idle0, idle_from = meter.sample(), time.monotonic()
                await asyncio.sleep(IDLE_SECONDS)
                cpu0, st0 = meter.sample(), await statements.sample()
                found.idle_cpu = {g: v / (time.monotonic() - idle_from) for g, v in CpuMeter.spent(idle0, cpu0).items()}
                found.load_t0 = uptime()
                found.t0 = t0 = time.time()
                await publisher.publish(ev.CohortRoundRequested(program_id=PROGRAM, round_id=f"round-{uuid.uuid4().hex[:8]}"))
                print(f"T0: cohort.round.requested for {len(mentees):,} mentees", flush=True)
                stages = Stages(len(mentees))
                last_print, last_check = t0, 0.0
                while True:
                    await asyncio.sleep(POLL_SECONDS)
                    now = time.time()
                    for arrival in mail.read():
                        if arrival.at < t0 or not ours.intersection(arrival.recipients):
                            continue
                        found.mails += 1
                        found.last_mail = max(found.last_mail or 0.0, arrival.at)
                        if arrival.calendar and any(r in mentee_of for r in arrival.recipients):
                            tl.note("kickoff invite", arrival.at)
                    for stage in stages.newly_done(tl):
                        found.milestones.append((stage, now, CpuMeter.spent(cpu0, meter.sample())))
                        print(f"  {now - t0:7.1f} s  {stage}", flush=True)
                    if stages.all_invited(tl) and now - last_check >= 1.0:
                        last_check = now
                        waiting = await waiting_work(conn)
                        applied = await applied_by_notifications(conn) - applied0
                        caught_up = all(applied[t] >= stages.seen(tl, t) for t in _MAIL_CAUSES)
                        if caught_up and not any(waiting.values()):
                            found.mail_settled = now
                            found.milestones.append(("every mail out, nothing waiting", now,
                                                     CpuMeter.spent(cpu0, meter.sample())))
                            break
                    if now - last_print >= 15:
                        last_print = now
                        print(f"  {now - t0:7.1f} s: " + ", ".join(f"{k} {len(v):,}" for k, v in tl.seen.items())
                              + f"; mails {found.mails:,}", flush=True)
                    if now - t0 > timeout:
                        found.timed_out = True
                        print(f"  timed out after {timeout:.0f} s", flush=True)
                        break
                    _check_alive(processes)
                cpu1, st1 = meter.sample(), await statements.sample()
                found.end = time.time()
                found.re_requests = driver.drive.re_requests
                zone = {p["participant_id"]: p["timezone"] for p in mentors + mentees}
                found.unschedulable = Counter((zone.get(m or "", "?"), zone.get(e or "", "?"), why)
                                              for m, e, why in driver.unschedulable)
        found.cpu = CpuMeter.spent(cpu0, cpu1)
        by_role = StatementMeter.spent(st0, st1)
        found.statements = {s: by_role.get(role_of(s), 0) for s in SERVICES}
        found.waiting = await waiting_work(conn)
        found.deliveries = [(r["template"], r["status"], r["n"]) for r in await conn.fetch(
            f"SELECT {MARK} template, status, count(*) AS n FROM notifications.deliveries "
            "WHERE created_at >= $1 GROUP BY 1, 2 ORDER BY 1, 2", datetime.fromtimestamp(t0, UTC))]
        found.deliveries_later = await conn.fetchval(
            f"SELECT {MARK} count(*) FROM notifications.deliveries WHERE status = 'pending' AND not_before > now()")
    finally:
        await conn.close()
    return mail


def read_invites(found: Round, mail: MailIndex, directory: Path, mentors: list[dict], mentees: list[dict]) -> None:
    """The invites, read fully once the services have stopped: a calendar part with METHOD:REQUEST,
    To: the mentee."""
    mentee_of = {m["email"]: m["participant_id"] for m in mentees}
    mentor_addresses = {m["email"] for m in mentors}
    read = []
    for arrival in mail.arrivals:
        if arrival.at < found.t0 or not arrival.calendar or arrival.file is None:
            continue
        to_mentees = [r for r in arrival.recipients if r in mentee_of]
        if not to_mentees:
            found.invites_to_mentors += any(r in mentor_addresses for r in arrival.recipients)
            continue
        address = invite_recipient((directory / arrival.file).read_bytes())
        read.append((mentee_of.get(address or "") if address in to_mentees else None, arrival.at))
    found.invites = tally_invites(read, [m["participant_id"] for m in mentees])


class Stages:
    """The round's stages in order; each is done when all it waits for were seen."""

    def __init__(self, mentees: int) -> None:
        self.mentees = mentees
        self.done: set[str] = set()

    @staticmethod
    def seen(tl: Timeline, event_type: str) -> int:
        """Events of a type seen for the program (kickoffs are noted apart from other meetings)."""
        kickoffs = tl.count("meeting.scheduled (kickoff)") if event_type == "meeting.scheduled" else 0
        return tl.count(event_type) + kickoffs

    def targets(self, tl: Timeline) -> list[tuple[str, bool]]:
        proposed, unavailable = tl.count("match.proposed"), tl.count("match.unavailable")
        round_done = proposed + unavailable >= self.mentees
        accepted = round_done and tl.count("proposal.accepted") >= proposed
        established = round_done and tl.count("match.established") >= proposed
        kickoffs = tl.count("meeting.scheduled (kickoff)")
        scheduled = established and kickoffs + tl.count("relationship.unschedulable") >= proposed
        invited = scheduled and tl.count("kickoff invite") >= kickoffs
        return [("round finished: every proposal on Kafka", round_done),
                ("every proposal accepted (published)", accepted),
                ("every match.established on Kafka", established),
                ("every kickoff meeting.scheduled on Kafka", scheduled),
                ("every kickoff invite at the sink", invited)]

    def all_invited(self, tl: Timeline) -> bool:
        return self.targets(tl)[-1][1]

    def newly_done(self, tl: Timeline) -> list[str]:
        new = [name for name, ok in self.targets(tl) if ok and name not in self.done]
        self.done.update(new)
        return new


def measure(infra: Infrastructure, args, log_dir: Path) -> Round:
    mentors, mentees = cohort_population(args.pairs, capacity=args.capacity)
    sample = onboarding_sample(mentors, mentees, args.sample)
    sampled = {p["participant_id"] for p in sample}
    found = Round(pairs=len(mentees), mentors=len(mentors), capacity=args.capacity, sample=len(sample))
    url = asyncio.run(create_database(infra.database_url, "cohort"))
    prefix = f"cd{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(infra.bootstrap_servers, all_topic_names(prefix)))
    role_urls = provision_roles(url)
    onboarded_at = datetime.now(UTC)
    seeded = [p for p in mentors + mentees if p["participant_id"] not in sampled]
    print(f"seeding {len(seeded):,} people into each service's schema", flush=True)
    found.seeding_seconds = asyncio.run(seed_all(role_urls, url, infra.bootstrap_servers, prefix, seeded, onboarded_at))
    asyncio.run(reset_statements(infra.database_url))
    with mail_sink(log_dir / "mail") as sink:
        services = Services.on(database_url=url, bootstrap_servers=infra.bootstrap_servers, smtp_port=sink.port,
                               http_ports=free_http_ports(), log_dir=log_dir, topic_prefix=prefix)
        services.start()
        try:
            services.wait_ready(timeout=180)
            groups: dict[str, list[int]] = {name: [pid] for name in SERVICES
                                            if (pid := services.replica(name).pid) is not None}
            groups.update(infrastructure_pids(infra), **{"mail sink": [sink.pid]})
            mail = asyncio.run(drive_round(infra, url, prefix, sink, list(services.processes.values()),
                                           CpuMeter(groups), mentors, mentees, sample, onboarded_at, found, args.timeout))
        finally:
            services.stop()
    print("reading the invites", flush=True)
    read_invites(found, mail, sink.directory, mentors, mentees)
    found.problems = log_problems(log_dir)
    shutil.rmtree(log_dir / "mail", ignore_errors=True)  # tens of thousands of invites, read already
    return found


# --- report ----------------------------------------------------------------------------------------------

def stage_rows(found: Round) -> str:
    tl, t0 = found.timeline, found.t0
    rows = ["| stage | count | first, from T0 | all, from T0 | rate over its own span | rate from T0 |",
            "|---|---|---|---|---|---|"]
    proposed = tl.count("match.proposed")
    kickoffs = tl.count("meeting.scheduled (kickoff)")
    lines = [("`match.proposed` on Kafka (the round: solved, stored, relayed)", "match.proposed", found.pairs),
             ("`proposal.accepted` published by the driver", "proposal.accepted", proposed),
             ("`match.established` on Kafka", "match.established", proposed),
             ("`meeting.scheduled` (kickoff) on Kafka", "meeting.scheduled (kickoff)", proposed),
             ("kickoff invite to the mentee at the sink", "kickoff invite", kickoffs)]
    for label, kind, expected in lines:
        n = tl.count(kind)
        first, done = tl.first(kind), tl.reached(kind, expected) if expected else None
        last = done or (max(tl.seen[kind]) if n else None)
        rows.append(f"| {label} | {n:,} of {expected:,} | {_since(first, t0)} | "
                    f"{_since(done, t0) if done else 'not all: last ' + _since(last, t0)} | "
                    f"{_per_second(rate(n - 1, first, last))} | {_per_second(rate(n, t0, last))} |")
    mails_done = found.last_mail if found.mail_settled else None
    rows.append(f"| every mail to the round's people at the sink (proposals, matches, kickoffs) | {found.mails:,} | | "
                f"{_since(mails_done, t0) if mails_done else 'not all: last ' + _since(found.last_mail, t0)} | | "
                f"{_per_second(rate(found.mails, t0, found.last_mail))} |")
    return "\n".join(rows)


def _since(at: float | None, t0: float) -> str:
    return "-" if at is None else f"{at - t0:,.1f} s"


def _per_second(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def cpu_rows(found: Round) -> str:
    seconds = (found.end - found.t0) or 1.0
    rows = ["| process | CPU seconds, T0 → end | cores on average | with nothing to do (before T0), cores | "
            "CPU ms per pair | statements per pair |", "|---|---|---|---|---|---|"]
    total = 0.0
    for group in (*GROUPS, "others"):
        spent = found.cpu.get(group, 0.0)
        if group != "others":
            total += spent
        st = found.statements.get(group)
        rows.append(f"| {group} | {spent:,.1f} | {spent / seconds:.2f} | {found.idle_cpu.get(group, 0.0):.2f} | "
                    f"{1000 * spent / max(1, found.pairs):.1f} | {'' if st is None else f'{st / max(1, found.pairs):.1f}'} |")
    rows.append(f"| **all of the system and the harness** | **{total:,.1f}** | {total / seconds:.2f} | | "
                f"{1000 * total / max(1, found.pairs):.1f} | |")
    return "\n".join(rows)


def milestone_rows(found: Round) -> str:
    rows = ["| reached | at, from T0 | " + " | ".join(GROUPS) + " | others |", "|---" * (len(GROUPS) + 3) + "|"]
    for stage, at, cpu in found.milestones:
        rows.append(f"| {stage} | {at - found.t0:,.1f} s | " + " | ".join(f"{cpu.get(g, 0.0):,.0f}" for g in GROUPS)
                    + f" | {cpu.get('others', 0.0):,.0f} |")
    return "\n".join(rows)


def floor_text(found: Round) -> str:
    """What the CPU alone says about the wall time, whatever else shared the machine."""
    done = next((cpu for stage, _, cpu in found.milestones if stage == "every kickoff invite at the sink"), None)
    if done is None:
        return ""
    system = sum(done.get(g, 0.0) for g in GROUPS if g != "harness")
    cores = os.cpu_count() or 1
    return (f"Until the last kickoff invite the system's processes (services, Postgres, Kafka, mail sink) used "
            f"{system:,.0f} CPU seconds, and other work on the machine {done.get('others', 0.0):,.0f}. Alone on these "
            f"{cores} cores the same work would take at least {system / cores:,.0f} s (CPU seconds ÷ cores, were every "
            f"part busy in parallel all the time), against the {TARGET_SECONDS:.0f} s target.")


def delivery_rows(found: Round) -> str:
    if not found.deliveries:
        return "None."
    rows = ["| template | status | mails |", "|---|---|---|"]
    rows += [f"| {t} | {s} | {n:,} |" for t, s, n in found.deliveries]
    return "\n".join(rows)


def seeding_text(found: Round) -> str:
    took = ", ".join(f"{s} {v:.1f} s" for s, v in found.seeding_seconds.items())
    problems = [f"{s}: {p}" for s, ps in found.seeding_check.items() for p in ps]
    check = ("the same rows in every service (participants everywhere, feedback's onboardings, matching's "
             "index stamps; every other table with a participant_id has none for them either way)" if not problems
             else "**differences**: " + "; ".join(problems))
    return (f"Seeding ({took}, migrations included): {found.pairs + found.mentors - found.sample:,} people "
            f"COPYed into each service's schema with its own role; {found.sample} more (a third mentors) onboarded "
            f"through Kafka (`participant.onboarded`) while the services ran. Their stored rows, compared with "
            f"what the seeding writes for the same people (times and version counters aside): {check}.")


def problem_lines(problems: Counter[str], most: int = 6) -> str:
    if not problems:
        return "None."
    rows = ["| lines | level | service | message |", "|---|---|---|---|"]
    rows += [f"| {n} | {kind} |" for kind, n in problems.most_common(most)]
    rest = sum(problems.values()) - sum(n for _, n in problems.most_common(most))
    if rest:
        rows.append(f"| {rest} | | | other kinds |")
    return "\n".join(rows)


def stopped_text(found: Round) -> str:
    if not found.timed_out:
        return ""
    tl, t0 = found.timeline, found.t0
    text = (f" **The run was stopped at its time limit, {found.end - t0:,.0f} s after T0**, so the figures below are "
            f"how far it got: {tl.count('kickoff invite'):,} of {found.pairs:,} kickoff invites and {found.mails:,} mails "
            "at the sink.")
    guess = projection(tl.seen.get("kickoff invite", []), tl.count("meeting.scheduled (kickoff)") or found.pairs,
                       found.end)
    if guess is not None:
        text += (f" At the pace of its last minute, the last kickoff invite would have come about "
                 f"{clock(guess - t0)} after T0 (an estimate, not a measurement).")
    return text


def unschedulable_text(found: Round) -> str:
    if not found.unschedulable:
        return ""
    rows = "; ".join(f"{n} × mentor in {m}, mentee in {e}: {why}" for (m, e, why), n in found.unschedulable.most_common())
    return (f" Pairs the round proposed that scheduling could not place (`relationship.unschedulable`, so no "
            f"kickoff and no invite): {rows}.")


def report(found: Round, machine: str) -> str:
    invites = found.invites or tally_invites((), [])
    said = verdict(invites, found.t0, unplaced=sum(found.unschedulable.values()))[1]
    t0 = found.t0
    counted = (f"{invites.arrived:,} of {invites.expected:,} mentees got their kickoff invite; "
               f"{invites.duplicates:,} duplicates, {invites.missing:,} missing, {invites.strangers:,} calendar mails "
               f"to a mentee that were no METHOD:REQUEST To: them; the first {_since(invites.first, t0)}, "
               f"the last {_since(invites.last, t0)} after T0. "
               f"Kickoff invites to mentors: {found.invites_to_mentors:,}.")
    others = [k for k in found.timeline.seen
              if k not in ("match.proposed", "proposal.accepted", "match.established", "meeting.scheduled",
                           "meeting.scheduled (kickoff)", "kickoff invite")]
    other_events = ", ".join(f"{found.timeline.count(k):,} {k}" for k in others) or "none"
    waiting = ", ".join(f"{k} {v:,}" for k, v in found.waiting.items() if v) or "nothing"
    return f"""
{machine}

**Verdict: {said}.** Target (issue 17): a {found.pairs:,}-pair cohort round, every kickoff invite
delivered within 10 minutes.{stopped_text(found)}

{counted}

#### What runs

PostgreSQL and Apache Kafka as local processes, the four services as one OS process each (`python -m
services.<name>`, the environment `tandem up` gives them), the mail sink (`benchmarks/mail_sink.py`) in its own
process at nice 5, and this harness (a Kafka reader and writer, and a progress query every second near the end).

One program: {found.pairs:,} mentees and {found.mentors:,} mentors taking {found.capacity} each (every place is
needed), in 19 time zones with their languages (mails in English, Dutch, German, French, Portuguese,
Spanish and Japanese), weekday office hours 08:00-18:00, no quiet hours, each mentee's goals covered by a
more senior mentor of their zone. {seeding_text(found)} Before T0 three pairs of other programs went
through the whole chain (consumer groups joined), and nothing was left waiting.

T0: one `cohort.round.requested` for the program (match-requests.v1, the command of docs/events.md; no
`mentee_ids`: every unmatched mentee). The driver accepts each `match.proposed` the moment it sees it,
publishing `proposal.accepted` as the mentor's click on the proposal page would: **people answer
instantly here, so every time below is the system's own.** Each pair then gets a proposal mail (the
mentor), a match mail (both) and a kickoff invite (both; an iCalendar REQUEST). A mail is "delivered" when
the sink has accepted it; each mentee's invite is read after the run (a text/calendar METHOD:REQUEST
part, To: the mentee).

Load at T0 (`uptime`): {found.load_t0}.

#### From T0

{stage_rows(found)}

Other events of the program seen on matches.v1 and meetings.v1: {other_events}.{unschedulable_text(found)} Re-requests after a
`match.unavailable`: {found.re_requests}. Left waiting at the end: {waiting}; mail deliveries not due yet:
{found.deliveries_later:,}.

Mails the round caused (notifications' delivery log):

{delivery_rows(found)}

#### CPU

CPU seconds of each process from T0 to the end ({found.end - t0:,.1f} s), from /proc (psutil); Postgres is the
postmaster and all its backends, Kafka the broker's JVM, the harness this benchmark's process.
"Others" is everything else on the machine (other work shares it: the wall times above depend on it,
the CPU seconds do not). Statements: what Postgres executed for each service's role
(pg_stat_statements), per pair.

{cpu_rows(found)}

CPU seconds spent from T0 until each stage was complete:

{milestone_rows(found)}

{floor_text(found)}

#### Errors and warnings in the services' logs

{problem_lines(found.problems)}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, help=f"mentees in the round (default {PAIRS:,}; --quick {QUICK_PAIRS:,})")
    parser.add_argument("--capacity", type=int, default=CAPACITY, help="mentees per mentor")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS,
                        help="seconds after T0 to stop and report how far it got")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="people onboarded through Kafka to check the seeding")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PAIRS:,} pairs; docs/benchmarks.md not written")
    args = parser.parse_args()
    if args.pairs is None:
        args.pairs = QUICK_PAIRS if args.quick else PAIRS
    if args.pairs < 1 or args.capacity < 1:
        parser.error("--pairs and --capacity must be at least 1")
    # Its own Postgres and Kafka, whose CPU it counts: never servers given by the environment.
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.pop(variable, None)
    load_before, code_before = uptime(), code_state()
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="tandem-cohort-delivery-"))
    print(f"logs in {log_dir}", flush=True)
    with local_infrastructure() as (infra, _):
        start_infrastructure(infra)
        found = measure(infra, args, log_dir)
    seconds = found.end - found.t0
    others = [found.cpu.get("others", 0.0) / seconds] if seconds > 0 else []
    body = report(found, machine_block(load_before, uptime(), others, code_before))
    body += f"\nThe whole benchmark took {(time.monotonic() - started) / 60:.1f} min.\n"
    print(body)
    if args.quick:
        print("(--quick: docs/benchmarks.md not written)")
    else:
        write_section("cohort-delivery", f"A {found.pairs:,}-pair cohort round: command to the last kickoff invite",
                      body)


if __name__ == "__main__":
    main()
