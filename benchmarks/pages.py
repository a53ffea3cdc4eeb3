"""Participant pages under load: simulated people open the pages behind their action links
(`GET /a/<token>`) and post some of their forms (`POST /a/<token>`), served by one notifications
process. Target: page p95 ≤ 100 ms with 50 concurrent users.

PostgreSQL, Kafka and a mail server are started locally (benchmarks/infra.py); notifications runs as
its own process (`python -m services.notifications`, the environment `tandem up` gives it, a link
key of its own), pinned to one core, the load generator to the other. Its pages show what it learnt
from events, so the benchmark publishes a population (participant.onboarded), pairs
(match.established), open proposals (match.proposed), a past kickoff and a next meeting with other
times on offer per pair (meeting.scheduled, meeting.completed) and feedback requests
(feedback.requested); it waits until notifications has applied them all and sent every mail they
cause, then signs the links itself.

Every user (asyncio, one httpx client each, so a CSRF cookie and a connection of its own) loops: it
picks a page from the mix and GETs it; for a share of the picks it takes a link nobody acted on yet
and POSTs the page's form as a person would fill it in, a few of those twice (a double click). Once
the links to act on run out, a user opening one finds it already done (counted apart). Each run (one
per `--think` value: the mean pause between a user's picks, 0 = none) has a warm-up and a fixed
measured time, on the same process and data; it starts once other processes on the machine are
quiet, and is repeated once if they took a quarter of a core or more meanwhile.

    .venv/bin/python -m benchmarks.pages [--users 50] [--think 0 1] [--seconds 30] [--warmup 10]
                                         [--pairs 1200] [--proposals 3] [--post-share 0.3]
                                         [--double-click 0.05] [--wait-quiet 300] [--retries 1]
                                         [--no-pin] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from benchmarks.infra import local_infrastructure
from benchmarks.report import write_section
from benchmarks.throughput import CpuMeter, cpu_line, infrastructure_pids, log_problems
from services.notifications.domain.links import ActionLink, LinkSigner
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from tandem.client import Publisher
from tandem.local.stack import REPO, Infrastructure, ServiceProcess, free_port, service_env
from tandem.population import profile_dicts

TARGET_P95_MS = 100.0
LINK_KEY = "benchmark-pages-" + os.urandom(8).hex()
PROGRAM = "bench-pages"
# (page, share of the picks): proposals to mentors, the pair's agreement, "I can't make it" for the
# next meeting, the feedback asked after a meeting or at a check-in, one's own preferences.
MIX = {"proposal": 0.30, "agreement": 0.20, "meeting_change": 0.20, "feedback": 0.20, "preferences": 0.10}
VIEW_SHARE = 0.2  # of each page's links, only ever opened (the rest are each acted on once)
QUIET_CORES = 0.25  # what other processes on the machine may use when a run starts

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_PAGE = re.compile(r'data-page="([^"]+)"')
_SLOT = re.compile(r'name="slot" value="([^"]+)"')
_GOAL = re.compile(r'name="goal_(\d+)"')
_LOCALE = re.compile(r'<option value="([^"]+)"[^>]*\bselected>')
_STYLE = re.compile(r'name="style" value="(\w+)" checked')

# Where a page request's time goes in the service: a development profile (`--profile`: cProfile with
# a CPU-time clock, over 10 s of the no-pause run with 100 pairs, 776 requests). The profiler
# inflates code made of many small calls, so the shares are approximate.
WHERE_THE_TIME_GOES = """\
- About 35 %: the HTTP stack around the route. uvicorn's pure-Python HTTP/1.1 (h11: neither
  `httptools` nor `uvloop` is installed), Starlette's and FastAPI's middleware (FastAPI's built-in
  OpenTelemetry support opens a server span for every request and spans around solving its
  parameters and running the route: about 3 a request), the security-headers wrapper, form parsing.
- About 25 %: writing the page. Jinja2, and in it every word through the reader's catalogue
  (`Words.t` → `Writer.fill`, 16 calls a page, about 8 %: a gettext lookup, and each text's
  placeholders parsed again by `Text.placeholders` on every call) and times on the reader's clock
  (`Words.when`, Babel, about 5 %).
- About 17 %: the route's own work. Reading the token (itsdangerous: base64, HMAC, JSON; 2 %), the
  transaction (a GET is one too: BEGIN, 3-6 statements, COMMIT, on one of 8 pooled connections),
  `acts.show` / `acts.act`.
- The rest: the event loop, reading the sockets, asyncpg's protocol, the outbox relay publishing the
  commands (2 %) and the consumers taking back the preferences and agreements the posts published (1 %).

No single part of the route dominates: the objects it makes per request (`FormGuard`, `Words` with its
`Writer`) cost 0.01-0.03 ms each, timed in-process, so re-using them would not move the figures. What
would: uvicorn with `httptools` and `uvloop` (`uvicorn[standard]`), FastAPI's per-request spans only
where traces are exported, `Text.placeholders` computed once per text, GETs without a transaction
(they read only), and more cores for more processes (a second replica shares its work, not this
machine's two cores)."""


# --- the population and what notifications learns about it ------------------------------------------

@dataclass
class Population:
    mentors: list[dict]
    mentees: list[dict]
    proposals: int  # per mentor
    events: int = 0  # published, all to be applied

    @property
    def people(self) -> list[dict]:
        return self.mentors + self.mentees


def population(pairs: int, proposals: int) -> Population:
    """`pairs` mentors and mentees (tandem.population: 19 zones, their locales and tones); pair k is
    mentor k with mentee k. Quiet hours are left out, so every mail goes out before the measurement."""
    people = list(profile_dicts(pairs, pairs, seed=11, program_id=PROGRAM))
    for p in people:
        p["communication"].pop("quiet_hours", None)
    return Population(people[:pairs], people[pairs:], proposals)


def rel(k: int) -> str:
    return f"r-{k:06d}"


def proposal_id(k: int, j: int) -> str:
    return f"p-{k:06d}-{j}"


async def publish_population(bootstrap: str, pop: Population, now: datetime) -> None:
    n = len(pop.mentors)
    async with Publisher(bootstrap) as pub:
        async def send(items: list[ev.EventData]) -> None:
            for start in range(0, len(items), 2000):
                await pub.publish_many(items[start:start + 2000])
            pop.events += len(items)

        await send([ev.ParticipantOnboarded.model_validate(p) for p in pop.people])
        await send([ev.MatchEstablished(relationship_id=rel(k), proposal_id=f"est-{k:06d}", program_id=PROGRAM,
                                        mentor_id=m["participant_id"], mentee_id=e["participant_id"],
                                        established_at=now - timedelta(days=20), goals=e["goals"])
                    for k, (m, e) in enumerate(zip(pop.mentors, pop.mentees))])
        # Each mentor is proposed other pairs' mentees (a second mentee, if they accept).
        await send([ev.MatchProposed(proposal_id=proposal_id(k, j), program_id=PROGRAM,
                                     mentee_id=pop.mentees[(k + j + 1) % n]["participant_id"],
                                     mentor_id=m["participant_id"], score=0.8, explanation={"goal_fit": 0.9},
                                     expires_at=now + timedelta(days=7))
                    for k, m in enumerate(pop.mentors) for j in range(pop.proposals)])
        later: list[ev.EventData] = []
        hour = now.replace(minute=0, second=0, microsecond=0)
        for k, (m, e) in enumerate(zip(pop.mentors, pop.mentees)):
            pair = dict(relationship_id=rel(k), program_id=PROGRAM, mentor_id=m["participant_id"],
                        mentee_id=e["participant_id"])
            where = dict(ics=_ICS, place="video", location=f"https://meet.example/{rel(k)}")
            kickoff = hour - timedelta(days=6, hours=k % 48)
            following = hour + timedelta(days=8, hours=k % 48)
            later += [
                ev.MeetingScheduled(meeting_id=rel(k) + "/1", occurrence=1, start=kickoff,
                                    end=kickoff + timedelta(minutes=45), kind="kickoff", **where, **pair),
                ev.MeetingCompleted(meeting_id=rel(k) + "/1", occurrence=1, start=kickoff,
                                    end=kickoff + timedelta(minutes=45), **pair),
                ev.MeetingScheduled(meeting_id=rel(k) + "/2", occurrence=2, start=following,
                                    end=following + timedelta(minutes=45), kind="recurring", **where, **pair,
                                    alternatives=[following + timedelta(days=d, hours=h)
                                                  for d, h in ((1, 0), (2, 3), (3, -2))])]
            for role, person in (("mentor", m), ("mentee", e)):
                checkin = k % 4 == 0  # a quarter are asked at a check-in, the others about the kickoff
                later.append(ev.FeedbackRequested(
                    request_id=f"fr-{k:06d}-{role}", relationship_id=rel(k), participant_id=person["participant_id"],
                    role=role, due_at=now + timedelta(days=5), kind="checkin" if checkin else "meeting",
                    meeting_id=None if checkin else rel(k) + "/1"))
        await send(later)


_ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//pages//EN\r\nEND:VCALENDAR\r\n"


async def wait_applied(database_url: str, pop: Population, timeout: float, say=print) -> dict[str, int]:
    """Until notifications has taken in every published event and has no mail left to send; what its
    tables then hold."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    counts: dict[str, int] = {}
    try:
        said = 0.0
        while True:
            for name, table in (("events applied", "inbox"), ("participants", "participants"), ("pairs", "pairs"),
                                ("proposals", "proposals"), ("meetings", "meetings"),
                                ("feedback requests", "feedback_requests")):
                counts[name] = await conn.fetchval(f"SELECT count(*) FROM notifications.{table}")
            by_status = dict(await conn.fetch("SELECT status, count(*) FROM notifications.deliveries GROUP BY 1"))
            counts["mails to send"] = by_status.get("pending", 0) + by_status.get("sending", 0)
            counts["mails sent"] = by_status.get("delivered", 0)
            counts["mails failed"] = by_status.get("failed", 0)
            line = ", ".join(f"{k} {v:,}" for k, v in counts.items())
            if time.monotonic() - said >= 10:
                say(f"  {line}")
                said = time.monotonic()
            if counts["events applied"] >= pop.events and counts["mails to send"] == 0 and counts["mails sent"]:
                return counts
            if time.monotonic() > deadline:
                raise TimeoutError(f"notifications did not settle within {timeout:.0f}s: {line}")
            await asyncio.sleep(2.0)
    finally:
        await conn.close()


# --- the links -----------------------------------------------------------------------------------

@dataclass
class Link:
    page: str
    token: str
    goals: tuple[str, ...] = ()  # the pair's goals, for the mentee who may edit them in the agreement


@dataclass
class Pool:
    """One page's links: some only ever opened, the others each acted on once."""

    view: list[Link]
    fresh: deque[Link]
    used: list[Link] = field(default_factory=list)
    repeatable: bool = False  # preferences: saved again and again

    @property
    def size(self) -> int:
        return len(self.view) + len(self.fresh) + len(self.used)

    def to_act(self, rng: random.Random) -> tuple[Link, bool]:
        """A link to act on, and whether nobody acted on it before."""
        if self.repeatable:
            return rng.choice(self.view), True
        if self.fresh:
            link = self.fresh.popleft()
            self.used.append(link)
            return link, True
        return rng.choice(self.used), False


def links(pop: Population, signer: LinkSigner, now: datetime, rng: random.Random) -> dict[str, Pool]:
    expires = now + timedelta(days=30)

    def link(page: str, person: dict, kind: str, subject: str, action: str, goals=()) -> Link:
        return Link(page, signer.token(ActionLink(person["participant_id"], kind, subject, action, expires)),
                    tuple(goals))

    by_page: dict[str, list[Link]] = {page: [] for page in MIX}
    for k, (m, e) in enumerate(zip(pop.mentors, pop.mentees)):
        by_page["proposal"] += [link("proposal", m, "proposal", proposal_id(k, j), "answer")
                                for j in range(pop.proposals)]
        for role, person in (("mentor", m), ("mentee", e)):
            by_page["agreement"].append(link("agreement", person, "relationship", rel(k), "agreement", e["goals"]))
            by_page["meeting_change"].append(link("meeting_change", person, "meeting", rel(k) + "/2", "change"))
            by_page["feedback"].append(link("feedback", person, "request", f"fr-{k:06d}-{role}", "feedback"))
            by_page["preferences"].append(link("preferences", person, "participant", person["participant_id"],
                                               "preferences"))
    pools = {}
    for page, found in by_page.items():
        rng.shuffle(found)
        if page == "preferences":
            pools[page] = Pool(found, deque(), repeatable=True)
        else:
            cut = max(1, int(len(found) * VIEW_SHARE))
            pools[page] = Pool(found[:cut], deque(found[cut:]))
    return pools


def form_for(link: Link, html: str, rng: random.Random) -> dict[str, str]:
    """What a person fills in on the page, with its CSRF field."""
    form = {"csrf": _CSRF.search(html).group(1)}
    if link.page == "proposal":
        if rng.random() < 0.7:
            form["answer"] = "accept"
        else:
            form |= {"answer": "decline", "reason_code": rng.choice(("no_time", "outside_expertise")),
                     "note": "Not this quarter, sorry."}
    elif link.page == "agreement":
        form |= {"cadence_days": str(rng.choice((7, 14, 21))), "duration_minutes": str(rng.choice((30, 45, 60))),
                 "place": rng.choice(("video", "phone", "in_person")), "place_details": "",
                 "response_time_hours": "48", "boundaries": "No calls after 18:00."}
        if 'name="goals"' in html:
            form["goals"] = "\n".join(link.goals)
    elif link.page == "meeting_change":
        slots = _SLOT.findall(html)
        if slots and rng.random() < 0.7:
            form |= {"answer": "move", "slot": rng.choice(slots)}
        else:
            form |= {"answer": "cancel", "reason_code": rng.choice(("conflict", "unwell")), "note": ""}
    elif link.page == "feedback":
        form |= {"rating": str(rng.randint(3, 5)), "comment": "Useful; we set next steps."}
        for i in sorted(set(_GOAL.findall(html))):
            form[f"goal_{i}"] = str(rng.choice((25, 50, 75)))
        if 'name="fit"' in html:
            form["fit"] = "good"
    elif link.page == "preferences":  # saved as shown
        form |= {f"want_{kind}": "on" for kind in ("reminders", "checkins", "nudges")}
        form["nonce"] = _NONCE.search(html).group(1)
        if locale := _LOCALE.search(html):
            form["locale"] = locale.group(1)
        if style := _STYLE.search(html):
            form["style"] = style.group(1)
    return form


# --- the load ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    page: str
    what: str  # "GET page", "POST act", "POST again" (double click), "GET done" (a link acted on before)
    status: int  # 0: no answer
    shown: str  # the page's data-page (or the client's error)
    seconds: float
    started: float

    @property
    def ok(self) -> bool:
        expected = {"GET page": (self.page,), "POST act": ("done",), "GET done": ("already_done",),
                    "POST again": ("already_done", "done") if self.page == "preferences" else ("already_done",)}
        return self.status == 200 and self.shown in expected[self.what]


async def timed(samples: list[Sample], page: str, what: str, call) -> httpx.Response | None:
    started = time.monotonic()
    try:
        response = await call()
    except httpx.HTTPError as exc:
        samples.append(Sample(page, what, 0, type(exc).__name__, time.monotonic() - started, started))
        return None
    shown = _PAGE.search(response.text)
    samples.append(Sample(page, what, response.status_code, shown.group(1) if shown else "",
                          time.monotonic() - started, started))
    return response


async def user(n: int, base_url: str, pools: dict[str, Pool], args, think: float, stop_at: float,
               samples: list[Sample]) -> None:
    rng = random.Random(1000 * n + int(think * 100))
    pages, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        if think:  # people do not all start at once
            await asyncio.sleep(rng.uniform(0, think))
        while time.monotonic() < stop_at:
            page = rng.choices(pages, weights)[0]
            pool = pools[page]
            if rng.random() < args.post_share:
                link, fresh = pool.to_act(rng)
                path = f"/a/{link.token}"
                shown = await timed(samples, page, "GET page" if fresh else "GET done", lambda: client.get(path))
                if fresh and shown is not None and shown.status_code == 200 and 'method="post"' in shown.text:
                    form = form_for(link, shown.text, rng)
                    if think:  # filling in the form
                        await asyncio.sleep(rng.expovariate(1 / think))
                    await timed(samples, page, "POST act", lambda: client.post(path, data=form))
                    if rng.random() < args.double_click:
                        await timed(samples, page, "POST again", lambda: client.post(path, data=form))
            else:
                link = rng.choice(pool.view)
                # Proposal mails link the page with the answer already chosen, and without.
                choice = rng.choice((None, "accept", "decline")) if page == "proposal" else None
                await timed(samples, page, "GET page",
                            lambda: client.get(f"/a/{link.token}", params={"choice": choice} if choice else None))
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))


@dataclass
class Run:
    think: float
    samples: list[Sample]
    cpu: dict[str, float]
    seconds: float
    others_before: float  # cores other processes on the machine used just before
    load: tuple[float, float, float]  # load average at the start
    discarded: int = 0  # earlier attempts at this run, disturbed by other processes

    @property
    def disturbed(self) -> bool:
        return (self.cpu.get("others", 0.0) + self.cpu.get("stolen", 0.0)) / self.seconds >= QUIET_CORES


async def drive(base_url: str, pools: dict[str, Pool], args, think: float, meter: CpuMeter,
                profiled: int | None = None) -> tuple[list[Sample], dict, float]:
    """Warm up, then measure: (samples started in the measured time, CPU spent in it, its length).
    `profiled`: the pid of a service under the profiler, signalled when the measured time starts and ends."""
    samples: list[Sample] = []
    measure_from = time.monotonic() + args.warmup
    stop_at = measure_from + args.seconds

    async def sample_at(moment: float):
        await asyncio.sleep(max(0.0, moment - time.monotonic()))
        if profiled is not None:
            os.kill(profiled, signal.SIGUSR2)
        return meter.sample(), getattr(psutil.cpu_times(), "steal", 0.0), time.monotonic()

    first, last = asyncio.create_task(sample_at(measure_from)), asyncio.create_task(sample_at(stop_at))
    await asyncio.gather(*(user(n, base_url, pools, args, think, stop_at, samples) for n in range(args.users)))
    (before, steal0, t0), (after, steal1, t1) = await first, await last
    cpu = CpuMeter.spent(before, after)
    cpu["stolen"] = steal1 - steal0  # by the hypervisor from this virtual machine's cores
    return [s for s in samples if measure_from <= s.started < stop_at], cpu, t1 - t0


# --- the service ---------------------------------------------------------------------------------

# Under `--profile`: a first SIGUSR2 starts the profile, a second stops and writes it (the service
# answers SIGUSR1 itself). CPU time, so waiting for a core on a busy machine is not counted.
_PROFILED = """
import cProfile, runpy, signal, sys, time
profile = cProfile.Profile(time.process_time)
running = False
def toggle(*_):
    global running
    if running:
        profile.disable()
        profile.dump_stats(sys.argv[1])
    else:
        profile.enable()
    running = not running
signal.signal(signal.SIGUSR2, toggle)
runpy.run_module("services.notifications", run_name="__main__")
"""


def start_notifications(infra: Infrastructure, database_url: str, log_dir: Path,
                        profile: Path | None) -> ServiceProcess:
    port = free_port()
    env = service_env(database_url=database_url, bootstrap_servers=infra.bootstrap_servers,
                      smtp_port=infra.ports.smtp, port=port,
                      extra={"TANDEM_LINK_KEYS": LINK_KEY, "TANDEM_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    proc = ServiceProcess("notifications", 1, env, log_dir / "notifications.log", port)
    if profile is None:
        proc.start()
    else:
        with open(proc.log_file, "ab") as log:
            proc.process = subprocess.Popen([sys.executable, "-c", _PROFILED, str(profile)], env=env, cwd=REPO,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not proc.ready():
        if not proc.alive():
            raise RuntimeError("notifications exited:\n" + proc.log_file.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError("notifications not ready after 120 s")
        time.sleep(0.3)
    return proc


def pin(pid: int, core: int) -> bool:
    """Every thread of a process onto one core; False where that is not possible."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), {core})
        return True
    except (OSError, AttributeError):
        return False


def wait_for_quiet(meter: CpuMeter, limit: float, say=print) -> float:
    """Waits (at most `limit` seconds) until other processes on the machine use less than
    QUIET_CORES over 5 s; the cores they used last."""
    deadline = time.monotonic() + limit
    while True:
        before, started = meter.sample(), time.monotonic()
        time.sleep(5)
        others = CpuMeter.spent(before, meter.sample())["others"] / (time.monotonic() - started)
        if others < QUIET_CORES or time.monotonic() > deadline:
            return others
        say(f"  other processes use {others:.2f} cores; waiting for a quieter moment")


# --- the report ----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(samples: list[Sample]) -> list[float]:
    return [s.seconds * 1000 for s in samples]


def p95_of(samples: list[Sample]) -> float:
    return pct(ms(samples), .95) if samples else float("nan")


def describe_pause(think: float) -> str:
    return "none (every user has a request in flight)" if not think else \
        f"{think:g} s on average before each page and each post"


def headline(runs: list[Run], users: int) -> str:
    parts = []
    for r in runs:
        p95, rate = p95_of(r.samples), len(r.samples) / r.seconds
        parts.append(f"{'met' if p95 <= TARGET_P95_MS else 'not met'} when they "
                     + ("never pause" if not r.think else f"pause {r.think:g} s on average before each page and post")
                     + f" (p95 {p95:.0f} ms at {rate:,.0f} requests/s; the notifications process used "
                     f"{r.cpu.get('notifications', 0.0) / r.seconds:.2f} cores)")
    return f"**Target, p95 ≤ {TARGET_P95_MS:.0f} ms with {users} concurrent users: " + "; ".join(parts) + ".**"


def summary_table(runs: list[Run], users: int) -> str:
    lines = [f"| users | pause | requests/s | p50 (ms) | p95 all (ms) | p95 GET / POST (ms) | p99 (ms) | max (ms) | "
             f"errors | service CPU ÷ requests | p95 ≤ {TARGET_P95_MS:.0f} ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        t = ms(r.samples)
        gets = [s for s in r.samples if s.what.startswith("GET")]
        posts = [s for s in r.samples if s.what.startswith("POST")]
        per_request = r.cpu.get("notifications", 0.0) / len(r.samples) * 1000
        holds = "**holds**" if p95_of(r.samples) <= TARGET_P95_MS else "**does not hold**"
        lines.append(f"| {users} | {describe_pause(r.think)} | {len(t) / r.seconds:,.0f} | {pct(t, .5):.0f} | "
                     f"**{pct(t, .95):.0f}** | {p95_of(gets):.0f} / {p95_of(posts):.0f} | {pct(t, .99):.0f} | "
                     f"{max(t):.0f} | {sum(not s.ok for s in r.samples):,} | {per_request:.1f} ms | {holds} |")
    return "\n".join(lines)


def row(label: str, samples: list[Sample], seconds: float) -> str:
    t = ms(samples)
    return (f"| {label} | {len(t):,} | {len(t) / seconds:,.1f} | {pct(t, .5):.0f} | {pct(t, .95):.0f} | "
            f"{pct(t, .99):.0f} | {max(t):.0f} | {sum(not s.ok for s in samples):,} |")


def latency_table(run: Run) -> str:
    s, seconds = run.samples, run.seconds
    lines = ["| requests | count | per second | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors |",
             "|---|---|---|---|---|---|---|---|", row("**all**", s, seconds)]
    for prefix in ("GET", "POST"):
        if chosen := [x for x in s if x.what.startswith(prefix)]:
            lines.append(row(f"{prefix} (all)", chosen, seconds))
    for what, label in (("GET page", "GET the page"), ("POST act", "POST the form"),
                        ("POST again", "POST again (double click)"),
                        ("GET done", "GET a link acted on before (already done)")):
        for page in MIX:
            if chosen := [x for x in s if x.what == what and x.page == page]:
                lines.append(row(f"{label}: {page}", chosen, seconds))
    return "\n".join(lines)


def error_lines(samples: list[Sample]) -> str:
    wrong = Counter(f"{s.what} {s.page} → " + (f"status {s.status}" if s.status else "no answer")
                    + (f" ({s.shown})" if s.shown else "") for s in samples if not s.ok)
    return "none" if not wrong else "; ".join(f"{k} × {n:,}" for k, n in wrong.most_common())


def run_section(run: Run, users: int) -> str:
    load = (f"Other processes on the machine used {run.others_before:.2f} cores just before the run "
            f"(load average {run.load[0]:.2f} / {run.load[1]:.2f} / {run.load[2]:.2f}).")
    if run.disturbed or run.others_before >= QUIET_CORES:
        load = "**Measured on a busy machine** (other work was running): " + load
    if run.discarded:
        load += (f" {run.discarded} earlier attempt{'s' if run.discarded > 1 else ''} at this run, during which other "
                 f"processes or the hypervisor took {QUIET_CORES} cores or more, "
                 f"{'were' if run.discarded > 1 else 'was'} discarded.")
    return f"""### {users} users, pause: {describe_pause(run.think)}

{latency_table(run)}

Errors (not the expected page, by status and the page shown): {error_lines(run.samples)}.

CPU in cores over the measured {run.seconds:.1f} s: {cpu_line(run.cpu, run.seconds)}. {load}"""


def report(args, runs: list[Run], settled: dict, pools: dict[str, Pool], pinned: bool, setup_seconds: float,
           problems: Counter) -> str:
    mix = ", ".join(f"{share:.0%} {page}" for page, share in MIX.items())
    sizes = ", ".join(f"{k} {v:,}" for k, v in settled.items() if k != "mails to send")
    acted = ", ".join(f"{page} {len(p.used):,} of {len(p.used) + len(p.fresh):,}"
                      for page, p in pools.items() if not p.repeatable)
    link_counts = ", ".join(f"{p.size:,} {page}" for page, p in pools.items())
    pool_size = NotificationSettings.model_fields["db_pool_size"].default
    nopause = next((r for r in runs if not r.think), None)
    little = ""
    if nopause is not None:
        rate = len(nopause.samples) / nopause.seconds
        per_request = nopause.cpu.get("notifications", 0.0) / len(nopause.samples) * 1000
        needed = args.users / (TARGET_P95_MS / 1000)
        little = (f"\nWithout pauses the {args.users} users always have {args.users} requests waiting or being served, "
                  f"so (Little's law) the mean latency is {args.users} ÷ the rate: {args.users} ÷ {rate:,.0f}/s = "
                  f"{args.users / rate * 1000:,.0f} ms. A p95 of {TARGET_P95_MS:.0f} ms needs a mean below it, so "
                  f"more than {needed:,.0f} requests/s, which one core can serve only at less than "
                  f"{1000 / needed:.1f} ms of the service's CPU per request; it spends {per_request:.1f} ms.")
    return f"""
{headline(runs, args.users)}

{summary_table(runs, args.users)}
{little}

Set-up. One notifications process (`python -m services.notifications`: uvicorn, one worker, the
environment `tandem up` gives it, {pool_size} database connections; its consumers, outbox relay and
delivery loop run as always) on PostgreSQL and Apache Kafka started locally. The other three services
are not running (the pages need none of them; the commands they publish stay on Kafka).
{"The service is pinned to one core, the load generator to the other" if pinned else "Nothing is pinned"};
PostgreSQL, Kafka and anything else on the machine may run on either. {args.users} simulated users
in one asyncio process (httpx, one client each: its own CSRF cookie and keep-alive connection) pick
pages in this mix: {mix}. {args.post_share:.0%} of the picks take a link nobody acted on, GET its page
and POST its form as a person fills it in (proposals accepted or declined with a reason, agreements
with cadence, length, place and goals, meetings moved to an offered time or cancelled, feedback with
a rating, goal progress and fit, preferences saved as shown; the CSRF field taken from the page);
{args.double_click:.0%} of those POSTs are sent twice, as a double click. The other picks GET one of
the {VIEW_SHARE:.0%} of each page's links kept for viewing (proposals with `?choice=accept`,
`?choice=decline` or nothing, as the mails link them). Latency is measured in the load generator,
from sending the request to the last byte of the answer, for requests started in the measured time
({args.seconds:.0f} s, after {args.warmup:.0f} s of warm-up; each run on the same process and data).

Data, applied by notifications from events before the runs ({setup_seconds:.0f} s to publish, apply
them and send every mail they cause): {sizes}. Links signed: {link_counts} (people in 19 time zones
with their own locales and tones, from `tandem.population`). Links acted on over all runs: {acted}.

{chr(10).join(run_section(r, args.users) + chr(10) for r in runs)}
Errors and warnings in the service's log over all runs: {problem_note(problems)}

Where the time goes:
{WHERE_THE_TIME_GOES}
"""


def problem_note(problems: Counter) -> str:
    if not problems:
        return "none."
    return "; ".join(f"{kind} × {n:,}" for kind, n in problems.most_common(6)) + "."


# --- main ----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=float, nargs="+", default=[0.0, 1.0],
                        help="one run per value: the mean pause (s) before each page and each post; 0: none")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=10.0, help="warm-up per run")
    parser.add_argument("--pairs", type=int, default=1200,
                        help="pairs: 2 people, 2 meetings and 2 feedback requests each")
    parser.add_argument("--proposals", type=int, default=3, help="open proposals per mentor")
    parser.add_argument("--post-share", type=float, default=0.3, help="share of picks that also post the form")
    parser.add_argument("--double-click", type=float, default=0.05, help="share of posts sent twice")
    parser.add_argument("--wait-quiet", type=float, default=300.0,
                        help="before each run, wait at most this long (s) for other processes to calm down")
    parser.add_argument("--retries", type=int, default=1,
                        help="repeat a run during which other processes used a quarter of a core or more")
    parser.add_argument("--no-pin", action="store_true", help="leave the processes on any core")
    parser.add_argument("--profile", type=Path,
                        help="profile the service (cProfile, CPU time) over the first run's measured time into "
                             "this file; the section is then not written")
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="tandem-pages-"))
    print(f"logs in {log_dir}", flush=True)
    runs: list[Run] = []
    with local_infrastructure() as (infra, database_url):
        service = start_notifications(infra, database_url, log_dir, args.profile)
        try:
            started, now = time.monotonic(), datetime.now(UTC)
            pop = population(args.pairs, args.proposals)
            print(f"publishing {args.pairs:,} pairs and what they need", flush=True)
            asyncio.run(publish_population(infra.bootstrap_servers, pop, now))
            settled = asyncio.run(wait_applied(database_url, pop, timeout=1200))
            setup_seconds = time.monotonic() - started
            pools = links(pop, LinkSigner([LINK_KEY]), now, random.Random(3))
            pinned = not args.no_pin and (os.cpu_count() or 1) >= 2 and pin(service.pid, 0) and pin(os.getpid(), 1)
            meter = CpuMeter({"notifications": [service.pid], **infrastructure_pids(infra)})
            for i, think in enumerate(args.think):
                for attempt in range(args.retries + 1):
                    others = wait_for_quiet(meter, args.wait_quiet)
                    load = os.getloadavg()
                    print(f"{args.users} users, pause {think:g} s: {args.warmup:.0f} s warm-up + {args.seconds:.0f} s",
                          flush=True)
                    samples, cpu, seconds = asyncio.run(drive(
                        f"http://127.0.0.1:{service.port}", pools, args, think, meter,
                        service.pid if args.profile and i == 0 and attempt == 0 else None))
                    run = Run(think, samples, cpu, seconds, others, load, discarded=attempt)
                    t = ms(samples)
                    print(f"  {len(t) / seconds:,.0f} requests/s, p50 {pct(t, .5):.0f} ms, p95 {pct(t, .95):.0f} ms, "
                          f"errors {sum(not s.ok for s in samples)}; CPU: {cpu_line(cpu, seconds)}", flush=True)
                    if not run.disturbed:
                        break
                    print("  other processes took CPU during the run", flush=True)
                runs.append(run)
        finally:
            service.stop()
    if any(not r.samples for r in runs):
        print("a run measured no requests", file=sys.stderr)
        return 1
    body = report(args, runs, settled, pools, pinned, setup_seconds, log_problems(log_dir))
    if args.profile:
        print(f"(--profile: docs/benchmarks.md not written; the profile is in {args.profile})")
        if args.profile.exists() and args.profile.stat().st_size > 100:
            import pstats

            pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(40)
    else:
        write_section("pages", "Participant pages under load", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
