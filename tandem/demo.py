"""`tandem demo`: a small mentoring program, run for real and fast, from its settings to its end.

Starts PostgreSQL, Apache Kafka, a mail server and the four services, then plays the upstream
systems through the public topics only (the program team configures the program: a ten-day term, a
check-in on day four, a week to answer a proposal, a program-team contact; the HRIS onboards people;
a cohort round and on-demand requests ask for matches) and the participants through their mail
only: each mail the mail server receives is read by its addressee, who follows its links and submits
the pages' forms over HTTP, as anyone with a browser would (tandem/participants.py). Mentors accept
or decline proposals, both people of a pair fill their agreement, a few mentees move a meeting to
another offered time or stop reminders with the one-click unsubscribe link, one of the two says
whether each meeting took place, and everyone asked answers feedback, check-ins and the closure
survey, the mentees with progress on their goals. The demo publishes no participant's command
itself: every answer is one a page took.

The program clock runs fast (ninety program minutes a second by default: as fast as a big program's
mail keeps up), so proposals, reminders, check-ins and the term's end really happen. Ends with a
report: what happened, the actions the people took from their mail by kind (`link_actions`, and
`pages_refused` when a page said no), and the program team's KPI endpoint checked against what the
demo itself saw; `check` says what a good run must show.
"""

from __future__ import annotations

import asyncio
import email
import os
import secrets
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from shared.db import create_database
from tandem.client import Observed, Publisher, Watcher
from tandem.local.stack import Infrastructure, Ports, Services, tandem_home
from tandem.metrics_probe import scrape, total
from tandem import link_scanner
from tandem.local.mailbox import read_mailbox
from tandem.participants import Participants
from tandem.population import profile_dicts

PROGRAM = "global-2027"
TEAM_CONTACT = {"name": "Mentoring team", "email": "mentoring-team@tandem.example", "locale": "nl-NL"}
UPSTREAM = "/upstream/hris"  # the source of everything the demo publishes
# What upstream systems publish, and so all the demo may: the program team's settings, the HRIS's
# people, and the requests for matches.
UPSTREAM_TYPES = frozenset({"program.configured", "participant.onboarded", "cohort.round.requested",
                            "match.requested"})
# What participants do: commands that only the action pages (notifications) publish in the demo.
PARTICIPANT_COMMANDS = frozenset({
    "proposal.accepted", "proposal.declined", "relationship.agreement.recorded", "relationship.end.requested",
    "meeting.reschedule.requested", "meeting.cancel.requested", "meeting.attendance.recorded",
    "feedback.submitted", "goal.progress.recorded", "participant.preferences.changed"})
# Scheduling's refusal of a move to an offered time that another meeting took since (the documented
# outcome: nothing changes, the command is dead-lettered and the program team sees it in its digest).
MOVE_NO_LONGER_POSSIBLE = "(offered with the meeting, and no longer possible)"
SETTLED_FOR = 4.0  # real seconds with nothing new on the topics (longer than quiet hours hold a mail) to be over


@dataclass
class DemoConfig:
    mentees: int = 160
    mentors: int = 60
    late_mentees: int = 12  # join after the cohort round and are matched on demand
    # Program seconds per real second: ninety program minutes a second. The people act only on mail
    # that has arrived, and notifications sends one mail at a time: faster, and a big program's mail
    # falls days of program time behind (proposals expire unseen, a meeting's question arrives after
    # the term). Small programs keep up at three hours a second (`--speed 10800`).
    speed: float = 5400.0
    seed: int = 7
    # At the end, open every link of every mail as a mail gateway's scanner does; nothing may be published.
    scan_links: bool = True
    timeout: float = 600.0
    # The program's settings (program.configured): a short term, so the demo sees relationships end.
    term_days: int = 10
    checkin_first_day: int = 4
    checkin_every_days: int = 30
    response_window_hours: float = 168  # a week to answer a proposal, however late the mail comes
    # What the people do (tandem/participants.py).
    decline_rate: float = 0.1
    miss_rate: float = 0.05
    move_rate: float = 0.05
    unsubscribe_rate: float = 0.05
    start: datetime = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday morning, UTC


# Messages each event owes participants (services/notifications/service_layer/handlers.py).
OWED = {"match.proposed": 1, "match.established": 2, "meeting.scheduled": 2, "meeting.rescheduled": 2,
        "meeting.cancelled": 2, "feedback.requested": 1, "milestone.achieved": 2, "goal.achieved": 2,
        "relationship.meetings.missed": 2, "relationship.end.scheduled": 2,
        # Attendance comes only from its question, asked of both once the meeting is over
        # (service_layer/attendance.py): each meeting completed or missed was asked about twice.
        "meeting.completed": 2, "meeting.missed": 2}


@dataclass
class ProgramState:
    """What the outside world has seen happen, from the topics alone."""

    mentee_state: dict[str, str] = field(default_factory=dict)  # waiting/proposed/established/unavailable
    relationships: dict[str, dict] = field(default_factory=dict)
    kickoffs: dict[str, dict] = field(default_factory=dict)  # relationship -> meeting.scheduled data
    meetings_done: set[str] = field(default_factory=set)  # completed, missed or cancelled
    unschedulable: set[str] = field(default_factory=set)
    feedback_requests: dict[str, dict] = field(default_factory=dict)  # request id -> its first feedback.requested
    concluded: dict[str, dict] = field(default_factory=dict)  # relationship -> relationship.concluded data
    ended: set[str] = field(default_factory=set)  # relationships whose match.ended was seen
    undeliverable: set[str] = field(default_factory=set)  # feedback requests whose mail failed: nobody can answer
    # For the messages owed, kept as the events arrive.
    owed: int = 0
    reminders: Counter = field(default_factory=Counter)  # participant -> reminder.due naming them
    told: int = 0  # deliveries and failures to participants
    team_messages: int = 0
    activity: int = 0  # events seen, but for the program team's messages (its digests keep coming)
    moves_refused: int = 0  # a time offered with a meeting, taken by another meeting before the move came


class ProgramDriver:
    """Follows the program on the topics, and keeps what the participants need to read their mail:
    each delivery (notification.delivered, by the mail's `X-Tandem-Delivery`) and each event by id
    (a mail's cause)."""

    def __init__(self) -> None:
        self.state = ProgramState()
        self.delivered: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.meetings: dict[str, dict] = {}  # meeting id -> its latest meeting.scheduled/rescheduled
        self.published: Counter = Counter()  # what the demo itself published, by type
        self.commands: Counter = Counter()  # participants' commands, by who published them

    def on_message(self, o: Observed) -> None:
        s, d = self.state, o.data
        if o.topic.endswith(topics.DLQ_SUFFIX) or o.envelope is None:
            s.activity += 1
            if o.topic == topics.dlq(topics.MEETING_COMMANDS) and o.type == "meeting.reschedule.requested" \
                    and MOVE_NO_LONGER_POSSIBLE in o.headers.get("dlq.error", ""):
                s.moves_refused += 1
            return
        source = o.envelope.get("source", "")
        if o.type in ("notification.delivered", "notification.failed"):
            if d["recipient_id"].startswith("ops-"):  # the program team's ids start with `ops-`
                s.team_messages += o.type == "notification.delivered"
                return
            s.told += 1
            self.delivered[d["notification_id"]] = d
            cause = self.events.get(d["cause_event_id"]) or {}
            if o.type == "notification.failed" and "request_id" in cause:
                s.undeliverable.add(cause["request_id"])
        s.activity += 1
        if o.envelope.get("id"):
            self.events[o.envelope["id"]] = d
        if source == UPSTREAM:
            self.published[o.type] += 1
        if o.type in PARTICIPANT_COMMANDS:
            self.commands[source] += 1
        if o.topic in (topics.MATCHES, topics.MEETINGS, topics.FEEDBACK):
            s.owed += OWED.get(o.type or "", 0)
        if o.type == "match.proposed" and o.topic == topics.MATCHES:
            s.mentee_state[d["mentee_id"]] = "proposed"
        elif o.type in ("match.declined", "match.expired") and o.topic == topics.MATCHES:
            s.mentee_state[d["mentee_id"]] = "waiting"
        elif o.type == "match.unavailable" and d.get("reason_code") not in ("already_matched", "awaiting_answer"):
            s.mentee_state[d["mentee_id"]] = "unavailable"  # those two answer a request: not "unmatched"
        elif o.type == "match.established":
            s.mentee_state[d["mentee_id"]] = "established"
            s.relationships[d["relationship_id"]] = d
        elif o.type == "match.ended":
            s.ended.add(d["relationship_id"])
            s.owed += 1 if d["reason_code"] == "participant_left" else 2
        elif o.type in ("meeting.scheduled", "meeting.rescheduled"):
            self.meetings[d["meeting_id"]] = d
            if d["occurrence"] == 1:
                s.kickoffs[d["relationship_id"]] = d
        elif o.type in ("meeting.completed", "meeting.missed", "meeting.cancelled"):
            s.meetings_done.add(d["meeting_id"])
        elif o.type == "relationship.concluded":
            s.concluded[d["relationship_id"]] = d
            # The closing summary, to both, once there is something to look back on (compose.py).
            if d["meetings_held"] or d["milestones"] or d["certificate"] or any(g["progress"] for g in d["goals"]):
                s.owed += 2
        elif o.type in ("relationship.unschedulable",) or (o.type == "meeting.unplaceable" and d["occurrence"] == 1):
            s.unschedulable.add(d["relationship_id"])
        elif o.type == "feedback.requested":
            s.feedback_requests.setdefault(d["request_id"], d)
        elif o.type == "reminder.due":
            s.reminders.update(d.get("participant_ids", []))
        elif o.type == "relationship.fit.questioned" and d["relationship_id"] not in s.ended:
            s.owed += 1  # the mentee is offered a new mentor (not once the pair has ended)


def expected_notifications(s: ProgramState, people: Participants) -> int:
    """Messages the system owes participants for what happened (everyone stays in the program). A
    person who stopped reminders is owed only those that came before (their reminder mails read
    by then): later ones are not sent."""
    n = s.owed
    stopped = people.out.reminders_before_unsubscribing
    n += sum(min(count, stopped[pid]) if pid in stopped else count for pid, count in s.reminders.items())
    return n


async def _drive(config: DemoConfig, infra: Infrastructure, services: Services, clock: ProgramClock, prefix: str,
                 say, timings: dict[str, float], started: float, token: str) -> dict[str, Any]:
    people = list(profile_dicts(config.mentees + config.late_mentees, config.mentors, seed=config.seed,
                                program_id=PROGRAM))
    by_id = {p["participant_id"]: p for p in people}
    mentors = [p for p in people if "mentor" in p["roles"]]
    mentees = [p for p in people if "mentee" in p["roles"]]
    first_wave, late_wave = mentees[: config.mentees], mentees[config.mentees:]
    watched = [t for t in topics.ALL] + [topics.dlq(t) for t in topics.ALL]
    bootstrap = infra.bootstrap_servers
    driver = ProgramDriver()
    readers = Participants(by_id, seed=config.seed, delivered=driver.delivered.get, event=driver.events.get,
                           meeting=driver.meetings.get,
                           decline_rate=config.decline_rate, miss_rate=config.miss_rate,
                           move_rate=config.move_rate, unsubscribe_rate=config.unsubscribe_rate)

    async def read_mail() -> None:
        while True:
            readers.poll(infra.mail_dir, time.monotonic())
            await asyncio.sleep(0.2)

    async with Watcher(bootstrap, watched, prefix) as w, Publisher(bootstrap, topic_prefix=prefix,
                                                                   source=UPSTREAM, now=clock.now) as pub:
        w.on_message = driver.on_message
        mail_reader = asyncio.create_task(read_mail())
        try:
            report = await _play(config, services, clock, say, timings, started, token, w, pub, driver, readers,
                                 people, mentors, mentees, first_wave, late_wave, infra.mail_dir)
        finally:
            mail_reader.cancel()
            await asyncio.gather(mail_reader, return_exceptions=True)
            await readers.close()
    if config.scan_links:
        say("a mail gateway's scanner opens every link in every mail of the run (GET only)")
        scanned = time.monotonic()
        report["link_scanner"] = await link_scanner.scan(read_mailbox(infra.mail_dir), infra.database_url)
        timings["link_scanner_seconds"] = round(time.monotonic() - scanned, 1)
    return report


async def _play(config: DemoConfig, services: Services, clock: ProgramClock, say, timings: dict[str, float],
                started: float, token: str, w: Watcher, pub: Publisher, driver: ProgramDriver,
                readers: Participants, people: list[dict], mentors: list[dict], mentees: list[dict],
                first_wave: list[dict], late_wave: list[dict], mail_dir: Path) -> dict[str, Any]:
    say(f"the program team configures {PROGRAM}: a {config.term_days}-day term, a check-in on day "
        f"{config.checkin_first_day}, alerts and a daily digest to {TEAM_CONTACT['name']}")
    await pub.publish(ev.ProgramConfigured(
        program_id=PROGRAM, name="Global mentoring 2027", timezone="Europe/Amsterdam", ops_contacts=[TEAM_CONTACT],
        term_days=config.term_days, checkin_first_day=config.checkin_first_day,
        checkin_every_days=config.checkin_every_days, response_window_hours=config.response_window_hours))
    for service in ("matching", "scheduling", "notifications", "feedback"):
        await _wait_consumed(services, service, topics.PROGRAMS, 1, 60)
    dashboard = f"http://127.0.0.1:{services.replica('feedback').port}/dashboard"
    say(f"dashboard: {dashboard}/programs/{PROGRAM}  (sign in with the token {token})")

    say(f"onboarding {len(mentors) + len(first_wave)} participants in "
        f"{len({p['timezone'] for p in people})} time zones and {len({p['region'] for p in people})} regions; "
        f"from now on they act only from the links in their mail")
    await pub.publish_many(ev.ParticipantOnboarded.model_validate(p) for p in mentors + first_wave)
    await _wait_consumed(services, "matching", topics.PARTICIPANTS, len(mentors) + len(first_wave), 60)
    timings["onboarding_seconds"] = round(time.monotonic() - started, 1)

    say("requesting a cohort round")
    await pub.publish(ev.CohortRoundRequested(program_id=PROGRAM, round_id="round-1"))
    await w.wait_for(lambda w: len({o.data["mentee_id"] for o in w.of_type("match.proposed")}
                                   | {o.data["mentee_id"] for o in w.of_type("match.unavailable")})
                     >= len(first_wave), 60, "the cohort round's proposals")
    timings["cohort_round_seconds"] = round(time.monotonic() - started - timings["onboarding_seconds"], 1)

    say(f"{len(late_wave)} late joiners ask for a mentor on demand")
    await pub.publish_many(ev.ParticipantOnboarded.model_validate(p) for p in late_wave)
    for p in late_wave:
        await pub.publish(ev.MatchRequested(mentee_id=p["participant_id"], program_id=PROGRAM))

    deadline = time.monotonic() + config.timeout
    quiet_since, last_activity = time.monotonic(), -1
    last_line = ""
    while time.monotonic() < deadline:
        status = _progress(driver.state, readers, clock)
        if status["line"] != last_line:
            say(status["line"])
            last_line = status["line"]
        if driver.state.activity != last_activity or not status["done"]:
            quiet_since, last_activity = time.monotonic(), driver.state.activity
        elif time.monotonic() - quiet_since >= SETTLED_FOR:
            break
        await asyncio.sleep(0.3)
    else:
        raise TimeoutError(f"the program did not settle within {config.timeout:.0f}s: "
                           f"{_progress(driver.state, readers, clock)['line']}")
    timings["program_seconds"] = round(time.monotonic() - started - timings["onboarding_seconds"], 1)

    latest: dict[str, Any] = {}

    def expectations() -> dict[str, int]:
        """The report from all seen so far (a straggler may still arrive), and what the KPIs must say."""
        latest.clear()
        latest.update(_report(config, w, driver, readers, people, mentors, mentees, mail_dir, clock,
                              f"{dashboard}/programs/{PROGRAM}"))
        return _kpi_expectations(latest)

    kpis, disagreements = await _kpis_agreeing(services.replica("feedback").port, token, expectations)
    report = dict(latest)
    report["link_acts_counted"] = await _link_acts_counted(services)
    report["kpis"], report["kpi_disagreements"] = kpis, disagreements
    return report


def _report(config: DemoConfig, w: Watcher, driver: ProgramDriver, readers: Participants, people: list[dict],
            mentors: list[dict], mentees: list[dict], mail_dir: Path, clock: ProgramClock,
            dashboard: str) -> dict[str, Any]:
    s, out = driver.state, readers.out
    counts = Counter(o.type for o in w.seen if not o.topic.endswith(topics.DLQ_SUFFIX))
    concluded = list(s.concluded.values())
    requests = [o.data for o in w.of_type("feedback.requested")]
    mails = _mails(mail_dir)
    return {
        "participants": len(people),
        "mentors": len(mentors),
        "mentees": len(mentees),
        "time_zones": len({p["timezone"] for p in people}),
        "regions": len({p["region"] for p in people}),
        "proposals": counts["match.proposed"],
        "declined": counts["match.declined"],
        "expired": counts["match.expired"],
        "unmatched": sum(1 for state in s.mentee_state.values() if state == "unavailable"),
        "matches_established": counts["match.established"],
        "agreements_recorded": counts["relationship.agreement.recorded"],
        "meetings_scheduled": counts["meeting.scheduled"],
        "meetings_moved": counts["meeting.rescheduled"],
        "meetings_completed": counts["meeting.completed"],
        "meetings_missed": counts["meeting.missed"],
        "meetings_cancelled": counts["meeting.cancelled"],
        "reminders_sent": counts["reminder.due"],
        # What the pages took: the answers given from the mail's links.
        "feedback_received": len(out.feedback_answered),
        "checkins_asked": sum(1 for r in requests if r["kind"] == "checkin" and not r["reminder"]),
        "checkins_answered": sum(1 for r in requests if r["kind"] == "checkin" and not r["reminder"]
                                 and r["request_id"] in out.feedback_answered),
        "goal_progress_recorded": out.goal_progress_posted,
        "goals_achieved": counts["goal.achieved"],
        "milestones": counts["milestone.achieved"],
        "fit_questioned": counts["relationship.fit.questioned"],
        "end_notices": counts["relationship.end.scheduled"],
        "ended_at_term": sum(1 for o in w.of_type("match.ended") if o.data["reason_code"] == "term_completed"),
        "closure_surveys": sum(1 for r in requests if r["kind"] == "closure"),
        "relationships_concluded": len(concluded),
        "certificates": sum(1 for c in concluded if c["certificate"]),
        "certificates_mailed": sum(1 for _, pdf in mails if pdf),
        "notifications_delivered": counts["notification.delivered"],
        "notifications_failed": counts["notification.failed"],
        "notifications_owed": expected_notifications(s, readers),
        "program_team_messages": s.team_messages,
        "mail_languages": dict(Counter(language for language, _ in mails).most_common()),
        "mails_read": out.mails_read,
        "links_opened": out.links_opened,
        "link_actions": dict(sorted(out.link_actions.items())),
        "pages_refused": dict(sorted(out.pages_refused.items())),
        "unsubscribed": len(out.reminders_before_unsubscribing),
        # From the topics: what the demo published (upstream's events only), and who published the
        # participants' commands (the action pages: notifications).
        "published_by_demo": dict(sorted(driver.published.items())),
        "participant_commands_by_source": dict(driver.commands),
        "goal_progress_events": counts["goal.progress.recorded"],
        "reader_errors": list(readers.errors[:10]),
        "dead_letters": dead_letters(w),
        "moves_refused": s.moves_refused,
        "program_days": round((clock.now() - config.start).total_seconds() / 86400, 1),
        "dashboard": dashboard,
    }


async def _link_acts_counted(services: Services) -> int:
    """The acts notifications' pages counted (tandem_notifications_link_acts_total), every replica."""
    n = 0.0
    for process in services.of(("notifications",)):
        n += total(await asyncio.to_thread(scrape, process.port), "tandem_notifications_link_acts_total")
    return int(n)


# KPI name -> the demo's own count it must equal.
KPI_CHECKS = ("participants", "mentors", "mentees", "matches_established", "meetings_completed", "meetings_missed",
              "meetings_cancelled", "feedback_received", "goals_achieved", "notifications_delivered",
              "notifications_failed")


def _kpi_expectations(report: dict[str, Any]) -> dict[str, int]:
    expected = {k: report[k] for k in KPI_CHECKS}
    expected["relationships_ended"] = report["relationships_concluded"]
    expected["relationships_active"] = report["matches_established"] - report["relationships_concluded"]
    expected["certificates_earned"] = report["certificates"]
    # The KPI counts messages to participants; the program team's own alerts and digests are not in it.
    expected["notifications_delivered"] = report["notifications_delivered"] - report["program_team_messages"]
    return expected


async def _kpis_agreeing(port: int, token: str, expected, timeout: float = 20.0) -> tuple[dict[str, Any], list[str]]:
    """The KPI endpoint's numbers once they agree with the demo's own counts (`expected()`, worked
    out again each time: the read model follows the events within seconds, and the demo keeps
    watching), or, at the timeout, what still differs."""
    url = f"http://127.0.0.1:{port}/api/programs/{PROGRAM}/kpis"
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        while True:
            response = await client.get(url)
            response.raise_for_status()
            kpis = response.json()
            want = expected()
            differ = [f"{k}: API {kpis.get(k)} != demo {v}" for k, v in want.items() if kpis.get(k) != v]
            if not differ or time.monotonic() > deadline:
                shown = {k: kpis[k] for k in (*want, "attendance_rate", "response_rate", "average_rating",
                                               "time_to_match_hours") if k in kpis}
                return shown, differ
            await asyncio.sleep(0.5)


def dead_letters(w: Watcher) -> int:
    return sum(1 for o in w.seen if o.topic.endswith(topics.DLQ_SUFFIX))


_MAIL_FACTS: dict[Path, tuple[str, bool]] = {}  # a mail file -> its language, and whether a PDF is attached


def _mails(mail_dir: Path) -> list[tuple[str, bool]]:
    """(Content-Language, carries a PDF) of every mail received, each file read once."""
    from email import policy

    for path in sorted(Path(mail_dir).glob("*.eml")):
        if path not in _MAIL_FACTS:
            m = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            _MAIL_FACTS[path] = (m["Content-Language"] or "?",
                                 any(part.get_content_type() == "application/pdf" for part in m.walk()))
    return [facts for path, facts in _MAIL_FACTS.items() if path.parent == Path(mail_dir)]


def _progress(s: ProgramState, readers: Participants, clock: ProgramClock) -> dict[str, Any]:
    states = Counter(s.mentee_state.values())
    settled = states["established"] + states["unavailable"]
    # A kickoff is over once its attendance is known or it was cancelled, or (its question answered
    # too late, or never asked) once the relationship has ended.
    open_kickoffs = [r for r in s.relationships if r not in s.unschedulable and r not in s.concluded
                     and (r not in s.kickoffs or s.kickoffs[r]["meeting_id"] not in s.meetings_done)]
    settled_requests = readers.out.requests_settled
    unanswered = [r for r in s.feedback_requests if r not in settled_requests and r not in s.undeliverable]
    answered = len(readers.out.feedback_answered)
    told, owed = s.told, expected_notifications(s, readers)
    acts = sum(readers.out.link_actions.values())
    done = (settled == len(s.mentee_state) and not open_kickoffs and not unanswered and len(s.feedback_requests) > 0
            and len(s.concluded) == len(s.relationships) and told >= owed and readers.idle())
    line = (f"[{clock.now():%a %d %b %H:%M}] matched {states['established']}, unmatched {states['unavailable']}, "
            f"in progress {len(s.mentee_state) - settled} | kickoffs over {len(s.relationships) - len(open_kickoffs)}"
            f"/{len(s.relationships)} | feedback {answered}/{len(s.feedback_requests)} | "
            f"ended well {len(s.concluded)}/{len(s.relationships)} | mail {readers.out.mails_read} read, "
            f"{acts} acted on | messages {told}/{owed}")
    return {"done": done, "line": line}


async def _wait_consumed(services: Services, service: str, topic: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    port = services.replica(service).port
    while time.monotonic() < deadline:
        consumed = total(await asyncio.to_thread(scrape, port), "tandem_events_consumed_total", topic=topic)
        if consumed >= n:
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{service} did not take in {n} events from {topic} within {timeout:.0f}s")


def run_demo(config: DemoConfig, say=print) -> dict[str, Any]:
    started = time.monotonic()
    home = tandem_home() / "demo"
    shutil.rmtree(home, ignore_errors=True)
    infra = Infrastructure(home, Ports.free())
    services: Services | None = None
    timings: dict[str, float] = {}
    # The mail server is a thread of this process: let it answer promptly while the people browse.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        infra.start(say=say)
        prefix = "" if infra.kafka is not None else f"demo-{uuid.uuid4().hex[:8]}."
        if infra.postgres is None:  # an external server: each demo run gets a database of its own
            infra.database_url = asyncio.run(create_database(infra.database_url, "tandem_demo"))
        infra.create_topics(prefix)
        clock = ProgramClock(start=config.start, speed=config.speed)
        token = os.environ.get("TANDEM_OPS_TOKEN") or secrets.token_urlsafe(18)
        services = Services.create(infra, topic_prefix=prefix, clock_env=clock.env(),
                                   extra={"TANDEM_LOG_LEVEL": os.environ.get("TANDEM_LOG_LEVEL", "INFO"),
                                          "TANDEM_OPS_TOKEN": token,
                                          "TANDEM_OPS_SESSION_KEY": secrets.token_urlsafe(32)})
        say("starting the four services")
        services.start()
        services.wait_ready()
        timings["startup_seconds"] = round(time.monotonic() - started, 1)
        report = asyncio.run(_drive(config, infra, services, clock, prefix, say, timings, time.monotonic(), token))
        timings["total_seconds"] = round(time.monotonic() - started, 1)
        report["timings"] = timings
        report["logs"] = str(home / "logs")
        report["mail"] = str(infra.mail_dir)
        return report
    finally:
        if services is not None:
            services.stop()
        infra.stop()
        sys.setswitchinterval(switch)


def check(report: dict[str, Any]) -> list[str]:
    """What a successful run must show; empty when all is well."""
    problems = []
    scanner = report.get("link_scanner")
    if scanner is not None:
        if scanner["commands_written"]:
            problems.append(f"opening links (GET) wrote {scanner['commands_written']} commands")
        failed = {page: n for page, n in scanner["pages"].items() if page.endswith(("500", "502", "503")) or "?" in page}
        if failed or not scanner["links"]:
            problems.append(f"the link scanner saw {scanner['links']} links, failures {failed}")
    for key in ("participants", "matches_established", "meetings_scheduled", "reminders_sent",
                "notifications_delivered", "feedback_received", "checkins_asked", "goal_progress_recorded",
                "goals_achieved", "ended_at_term", "closure_surveys", "certificates_mailed"):
        if report.get(key, 0) <= 0:
            problems.append(f"{key} is {report.get(key)}")
    if report["meetings_scheduled"] < report["matches_established"]:
        problems.append("fewer meetings scheduled than matches established")
    if report["relationships_concluded"] != report["matches_established"]:
        problems.append(f"{report['relationships_concluded']} of {report['matches_established']} relationships ended well")
    if len(report["mail_languages"]) < 4:
        problems.append(f"mail in {len(report['mail_languages'])} languages only")
    # The people acted from their mail, and the pages took their answers.
    actions = report.get("link_actions", {})
    for kinds, what in ((("proposal.accept",), "proposals accepted"), (("agreement",), "agreements"),
                        (("attendance.held", "attendance.not_held"), "attendance"),
                        (("feedback", "checkin", "closure"), "feedback")):
        if sum(actions.get(k, 0) for k in kinds) <= 0:
            problems.append(f"no {what} given from a mail's link")
    if report["meetings_completed"] != actions.get("attendance.held", 0) \
            or report["meetings_missed"] != actions.get("attendance.not_held", 0):
        problems.append(f"meetings completed/missed {report['meetings_completed']}/{report['meetings_missed']} are not "
                        f"the attendance answers the pages took {actions.get('attendance.held', 0)}/"
                        f"{actions.get('attendance.not_held', 0)}")
    if report["goal_progress_events"] != report["goal_progress_recorded"]:
        problems.append(f"{report['goal_progress_events']} goal.progress.recorded events for "
                        f"{report['goal_progress_recorded']} goal answers the pages took")
    if "link_acts_counted" in report and report["link_acts_counted"] != sum(actions.values()):
        problems.append(f"notifications counted {report['link_acts_counted']} link acts, the people "
                        f"{sum(actions.values())}")
    others = set(report.get("published_by_demo", {})) - UPSTREAM_TYPES
    if others:
        problems.append("the demo published " + ", ".join(sorted(others)) + " itself")
    strangers = {src: n for src, n in report.get("participant_commands_by_source", {}).items()
                 if src != "/tandem/notifications"}
    if strangers:
        problems.append(f"participants' commands from outside the action pages: {strangers}")
    if report.get("pages_refused", {}).get("gave_up"):
        problems.append(f"{report['pages_refused']['gave_up']} pages never answered")
    if report.get("reader_errors"):
        problems.append("reading the mail went wrong: " + "; ".join(report["reader_errors"][:3]))
    if report["notifications_delivered"] - report["program_team_messages"] + report["notifications_failed"] \
            < report["notifications_owed"]:
        problems.append(f"{report['notifications_owed']} messages owed to participants, fewer told")
    if report["dead_letters"] - report.get("moves_refused", 0):
        problems.append(f"{report['dead_letters'] - report.get('moves_refused', 0)} dead letters "
                        f"(besides {report.get('moves_refused', 0)} moves to a time taken since)")
    if report["kpi_disagreements"]:
        problems.append("the KPI endpoint disagrees: " + "; ".join(report["kpi_disagreements"]))
    return problems
