"""`tandem demo`: a small mentoring program, run for real and fast, from its settings to its end.

Starts PostgreSQL, Apache Kafka, a mail server and the four services, then plays everyone outside
the system only through the public topics: the program team configures the program (a ten-day term,
a check-in on day four, a program-team contact), the HRIS onboards people, the portal carries
mentors' answers, meetings held, goal progress, check-ins and closure surveys. The program clock
runs fast (three program hours a second by default), so reminders, check-ins and the term's end
really happen. Ends with a report, including the program team's KPI endpoint, checked against what
the demo itself saw.
"""

from __future__ import annotations

import asyncio
import email
import os
import random
import secrets
import shutil
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
from shared.db import create_database
from shared.contracts import topics
from tandem.client import Observed, Publisher, Watcher
from tandem.local.stack import Infrastructure, Ports, Services, tandem_home
from tandem.metrics_probe import scrape, total
from tandem.population import profile_dicts

PROGRAM = "global-2027"
TEAM_CONTACT = {"name": "Mentoring team", "email": "mentoring-team@tandem.example", "locale": "nl-NL"}


@dataclass
class DemoConfig:
    mentees: int = 160
    mentors: int = 60
    late_mentees: int = 12  # join after the cohort round and are matched on demand
    speed: float = 10800.0  # program seconds per real second: three program hours a second
    seed: int = 7
    timeout: float = 300.0
    # The program's settings (program.configured): a short term, so the demo sees relationships end.
    term_days: int = 10
    checkin_first_day: int = 4
    checkin_every_days: int = 30
    decline_rate: float = 0.1
    miss_rate: float = 0.05
    start: datetime = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday morning, UTC


@dataclass
class ProgramState:
    """What the outside world has seen happen, from the topics alone."""

    mentee_state: dict[str, str] = field(default_factory=dict)  # waiting/proposed/established/unavailable
    relationships: dict[str, dict] = field(default_factory=dict)
    kickoffs: dict[str, dict] = field(default_factory=dict)  # relationship -> meeting.scheduled data
    attendance_sent: set[str] = field(default_factory=set)
    meetings_done: set[str] = field(default_factory=set)
    unschedulable: set[str] = field(default_factory=set)
    feedback_requests: set[str] = field(default_factory=set)
    feedback_sent: set[str] = field(default_factory=set)
    progress_recorded: set[str] = field(default_factory=set)  # relationships whose mentee reported progress
    concluded: dict[str, dict] = field(default_factory=dict)  # relationship -> relationship.concluded data


class ProgramDriver:
    """Plays the portal: mentors answer proposals, people record meetings held and give feedback."""

    def __init__(self, publisher: Publisher, clock: ProgramClock, config: DemoConfig, people: dict[str, dict]) -> None:
        self.pub = publisher
        self.clock = clock
        self.config = config
        self.people = people
        self.rng = random.Random(config.seed + 1)
        self.state = ProgramState()
        self.tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_message(self, o: Observed) -> None:
        s, d = self.state, o.data
        if o.type == "match.proposed" and o.topic == topics.MATCHES:
            s.mentee_state[d["mentee_id"]] = "proposed"
            self._spawn(self._answer(d))
        elif o.type in ("match.declined", "match.expired") and o.topic == topics.MATCHES:
            s.mentee_state[d["mentee_id"]] = "waiting"
        elif o.type == "match.unavailable":
            s.mentee_state[d["mentee_id"]] = "unavailable"
        elif o.type == "match.established":
            s.mentee_state[d["mentee_id"]] = "established"
            s.relationships[d["relationship_id"]] = d
        elif o.type == "meeting.scheduled" and d["occurrence"] == 1:
            s.kickoffs[d["relationship_id"]] = d
        elif o.type == "meeting.rescheduled" and d["occurrence"] == 1:
            s.kickoffs[d["relationship_id"]] = d
        elif o.type in ("meeting.completed", "meeting.missed"):
            s.meetings_done.add(d["meeting_id"])
            if o.type == "meeting.completed" and d["relationship_id"] not in s.progress_recorded:
                s.progress_recorded.add(d["relationship_id"])
                self._spawn(self._record_progress(d))
        elif o.type == "relationship.concluded":
            s.concluded[d["relationship_id"]] = d
        elif o.type in ("relationship.unschedulable",) or (o.type == "meeting.unplaceable" and d["occurrence"] == 1):
            s.unschedulable.add(d["relationship_id"])
        elif o.type == "feedback.requested":
            s.feedback_requests.add(d["request_id"])
            self._spawn(self._give_feedback(d))

    async def _answer(self, proposal: dict) -> None:
        await asyncio.sleep(self.rng.uniform(0.05, 0.5))  # mentors take a moment
        if self.rng.random() < self.config.decline_rate:
            await self.pub.publish(ev.ProposalDeclined(proposal_id=proposal["proposal_id"],
                                                       participant_id=proposal["mentor_id"], reason="no time this quarter"))
        else:
            await self.pub.publish(ev.ProposalAccepted(proposal_id=proposal["proposal_id"],
                                                       participant_id=proposal["mentor_id"]))

    async def _record_progress(self, meeting: dict) -> None:
        """After their first meeting, the mentee says how far they got on their first goal."""
        goals = self.state.relationships.get(meeting["relationship_id"], {}).get("goals") or []
        if not goals:
            return
        await asyncio.sleep(self.rng.uniform(0.05, 0.3))
        await self.pub.publish(ev.GoalProgressRecorded(
            relationship_id=meeting["relationship_id"], participant_id=meeting["mentee_id"], goal=goals[0],
            progress=self.rng.choice((40, 60, 100, 100)), note="Practised it twice since our first talk."))

    async def _give_feedback(self, request: dict) -> None:
        await asyncio.sleep(self.rng.uniform(0.05, 0.5))
        person = self.people.get(request["participant_id"], {})
        achieved = []
        if request["role"] == "mentee" and person.get("goals") and self.rng.random() < 0.3:
            achieved = [person["goals"][0]]
        await self.pub.publish(ev.FeedbackSubmitted(
            feedback_id=f"fb-{request['request_id']}", relationship_id=request["relationship_id"],
            participant_id=request["participant_id"], meeting_id=request.get("meeting_id"),
            kind=request.get("kind", "meeting"), request_id=request["request_id"],
            rating=self.rng.choice((3, 4, 4, 5, 5)), progress=self.rng.choice((3, 4, 4, 5)),
            comment="Helpful conversation.", goals_achieved=achieved,
        ))
        self.state.feedback_sent.add(request["request_id"])

    async def tick(self) -> None:
        """Record attendance for kickoffs that are over on the program clock."""
        now = self.clock.now()
        for rel_id, meeting in list(self.state.kickoffs.items()):
            if meeting["meeting_id"] in self.state.attendance_sent:
                continue
            if datetime.fromisoformat(meeting["end"]) <= now:
                self.state.attendance_sent.add(meeting["meeting_id"])
                missed = self.rng.random() < self.config.miss_rate
                await self.pub.publish(ev.MeetingAttendanceRecorded(
                    meeting_id=meeting["meeting_id"], relationship_id=rel_id, recorded_by=meeting["mentor_id"],
                    attendance={meeting["mentor_id"]: True, meeting["mentee_id"]: not missed},
                ))


# Messages each event owes participants (services/notifications/service_layer/handlers.py).
OWED = {"match.proposed": 1, "match.established": 2, "meeting.scheduled": 2, "meeting.rescheduled": 2,
        "meeting.cancelled": 2, "feedback.requested": 1, "milestone.achieved": 2, "goal.achieved": 2,
        "relationship.meetings.missed": 2, "relationship.end.scheduled": 2, "relationship.concluded": 2}


def expected_notifications(w: Watcher) -> int:
    """Messages the system owes participants for what happened (everyone stays in the program)."""
    n = sum(OWED.get(o.type or "", 0) for o in w.seen if not o.topic.endswith(topics.DLQ_SUFFIX)
            and o.topic in (topics.MATCHES, topics.MEETINGS, topics.FEEDBACK))
    n += sum(1 if o.data["reason_code"] == "participant_left" else 2 for o in w.of_type("match.ended"))
    n += sum(len(o.data.get("participant_ids", [])) for o in w.of_type("reminder.due"))
    return n


def to_participants(w: Watcher) -> list[Observed]:
    """Deliveries and failures to participants (the program team's ids start with `ops-`)."""
    return [o for o in w.of_type("notification.delivered") + w.of_type("notification.failed")
            if not o.data["recipient_id"].startswith("ops-")]


def dead_letters(w: Watcher) -> int:
    return sum(1 for o in w.seen if o.topic.endswith(topics.DLQ_SUFFIX))


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

    async with Watcher(bootstrap, watched, prefix) as w, Publisher(bootstrap, topic_prefix=prefix,
                                                                   source="/upstream/hris", now=clock.now) as pub:
        driver = ProgramDriver(pub, clock, config, by_id)
        w.on_message = driver.on_message

        say(f"the program team configures {PROGRAM}: a {config.term_days}-day term, a check-in on day "
            f"{config.checkin_first_day}, alerts and a daily digest to {TEAM_CONTACT['name']}")
        await pub.publish(ev.ProgramConfigured(
            program_id=PROGRAM, name="Global mentoring 2027", timezone="Europe/Amsterdam", ops_contacts=[TEAM_CONTACT],
            term_days=config.term_days, checkin_first_day=config.checkin_first_day,
            checkin_every_days=config.checkin_every_days))
        for service in ("matching", "scheduling", "notifications", "feedback"):
            await _wait_consumed(services, service, topics.PROGRAMS, 1, 60)
        dashboard = f"http://127.0.0.1:{services.replica('feedback').port}/dashboard"
        say(f"dashboard: {dashboard}/programs/{PROGRAM}  (sign in with the token {token})")

        say(f"onboarding {len(mentors) + len(first_wave)} participants in "
            f"{len({p['timezone'] for p in people})} time zones and {len({p['region'] for p in people})} regions")
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
        settled_checks = 0
        last_line = ""
        while time.monotonic() < deadline:
            await driver.tick()
            status = _progress(driver.state, w, clock)
            if status["line"] != last_line:
                say(status["line"])
                last_line = status["line"]
            if status["done"]:
                settled_checks += 1
                if settled_checks >= 3:
                    break
            else:
                settled_checks = 0
            await asyncio.sleep(0.3)
        else:
            raise TimeoutError(f"the program did not settle within {config.timeout:.0f}s: {_progress(driver.state, w, clock)['line']}")
        timings["program_seconds"] = round(time.monotonic() - started - timings["onboarding_seconds"], 1)

        counts = Counter(o.type for o in w.seen if not o.topic.endswith(topics.DLQ_SUFFIX))
        concluded = list(driver.state.concluded.values())
        requests = [o.data for o in w.of_type("feedback.requested")]
        mails = _mails(infra.mail_dir)
        report: dict[str, Any] = {
            "participants": len(people),
            "mentors": len(mentors),
            "mentees": len(mentees),
            "time_zones": len({p["timezone"] for p in people}),
            "regions": len({p["region"] for p in people}),
            "proposals": counts["match.proposed"],
            "declined": counts["match.declined"],
            "unmatched": sum(1 for s in driver.state.mentee_state.values() if s == "unavailable"),
            "matches_established": counts["match.established"],
            "meetings_scheduled": counts["meeting.scheduled"],
            "meetings_completed": counts["meeting.completed"],
            "meetings_missed": counts["meeting.missed"],
            "meetings_cancelled": counts["meeting.cancelled"],
            "reminders_sent": counts["reminder.due"],
            "feedback_received": len(driver.state.feedback_sent),
            "checkins_asked": sum(1 for r in requests if r["kind"] == "checkin" and not r["reminder"]),
            "checkins_answered": sum(1 for r in requests if r["kind"] == "checkin" and not r["reminder"]
                                     and r["request_id"] in driver.state.feedback_sent),
            "goal_progress_recorded": sum(1 for o in w.of_type("goal.progress.recorded")),
            "goals_achieved": counts["goal.achieved"],
            "milestones": counts["milestone.achieved"],
            "end_notices": counts["relationship.end.scheduled"],
            "ended_at_term": sum(1 for o in w.of_type("match.ended") if o.data["reason_code"] == "term_completed"),
            "closure_surveys": sum(1 for r in requests if r["kind"] == "closure"),
            "relationships_concluded": len(concluded),
            "certificates": sum(1 for c in concluded if c["certificate"]),
            "certificates_mailed": sum(1 for m in mails if any(part.get_content_type() == "application/pdf"
                                                                for part in m.walk())),
            "notifications_delivered": counts["notification.delivered"],
            "notifications_failed": counts["notification.failed"],
            "program_team_messages": sum(1 for o in w.of_type("notification.delivered")
                                         if o.data["recipient_id"].startswith("ops-")),
            "mail_languages": dict(Counter(m["Content-Language"] or "?" for m in mails).most_common()),
            "dead_letters": dead_letters(w),
            "program_days": round((clock.now() - config.start).total_seconds() / 86400, 1),
            "dashboard": f"{dashboard}/programs/{PROGRAM}",
        }
        report["kpis"], report["kpi_disagreements"] = await _kpis_agreeing(
            services.replica("feedback").port, token, _kpi_expectations(report, concluded))
        return report


# KPI name -> the demo's own count it must equal.
KPI_CHECKS = ("participants", "mentors", "mentees", "matches_established", "meetings_completed", "meetings_missed",
              "meetings_cancelled", "feedback_received", "goals_achieved", "notifications_delivered",
              "notifications_failed")


def _kpi_expectations(report: dict[str, Any], concluded: list[dict]) -> dict[str, int]:
    expected = {k: report[k] for k in KPI_CHECKS}
    expected["relationships_ended"] = report["relationships_concluded"]
    expected["relationships_active"] = report["matches_established"] - report["relationships_concluded"]
    expected["certificates_earned"] = report["certificates"]
    # The KPI counts messages to participants; the program team's own alerts and digests are not in it.
    expected["notifications_delivered"] = report["notifications_delivered"] - report["program_team_messages"]
    return expected


async def _kpis_agreeing(port: int, token: str, expected: dict[str, int],
                         timeout: float = 20.0) -> tuple[dict[str, Any], list[str]]:
    """The KPI endpoint's numbers once they agree with the demo's own counts (the read model follows
    the events within seconds), or, at the timeout, what still differs."""
    url = f"http://127.0.0.1:{port}/api/programs/{PROGRAM}/kpis"
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        while True:
            response = await client.get(url)
            response.raise_for_status()
            kpis = response.json()
            differ = [f"{k}: API {kpis.get(k)} != demo {v}" for k, v in expected.items() if kpis.get(k) != v]
            if not differ or time.monotonic() > deadline:
                shown = {k: kpis[k] for k in (*expected, "attendance_rate", "response_rate", "average_rating",
                                               "time_to_match_hours") if k in kpis}
                return shown, differ
            await asyncio.sleep(0.5)


def _mails(mail_dir: Path) -> list[email.message.EmailMessage]:
    from email import policy

    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(Path(mail_dir).glob("*.eml"))]


def _progress(s: ProgramState, w: Watcher, clock: ProgramClock) -> dict[str, Any]:
    states = Counter(s.mentee_state.values())
    settled = states["established"] + states["unavailable"]
    open_kickoffs = [r for r in s.relationships if r not in s.unschedulable
                     and (r not in s.kickoffs or s.kickoffs[r]["meeting_id"] not in s.meetings_done)]
    told = len(to_participants(w))
    owed = expected_notifications(w)
    done = (settled == len(s.mentee_state) and not open_kickoffs and s.feedback_sent == s.feedback_requests
            and len(s.feedback_requests) > 0 and len(s.concluded) == len(s.relationships) and told >= owed)
    line = (f"[{clock.now():%a %d %b %H:%M}] matched {states['established']}, unmatched {states['unavailable']}, "
            f"in progress {len(s.mentee_state) - settled} | kickoffs held {len(s.meetings_done)}/{len(s.relationships)} | "
            f"goals reached {len(w.of_type('goal.achieved'))} | feedback {len(s.feedback_sent)}/{len(s.feedback_requests)} | "
            f"ended well {len(s.concluded)}/{len(s.relationships)} | messages {told}/{owed}")
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
                                          "TANDEM_OPS_TOKEN": token})
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


def check(report: dict[str, Any]) -> list[str]:
    """What a successful run must show; empty when all is well."""
    problems = []
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
    if report["dead_letters"]:
        problems.append(f"{report['dead_letters']} dead letters")
    if report["kpi_disagreements"]:
        problems.append("the KPI endpoint disagrees: " + "; ".join(report["kpi_disagreements"]))
    return problems
