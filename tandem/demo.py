"""`tandem demo`: a small mentoring program, run for real and fast.

Starts PostgreSQL, Apache Kafka, a mail server and the four services, then plays everyone outside
the system (the HRIS onboarding people, the portal where mentors answer and people record meetings
and give feedback) only through the public topics. The program clock runs fast (an hour a second
by default), so expiry, reminders and meetings really happen. Ends with a report.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.db import create_database
from shared.contracts import topics
from tandem.client import Observed, Publisher, Watcher
from tandem.local.stack import Infrastructure, Ports, Services, tandem_home
from tandem.metrics_probe import scrape, total
from tandem.population import profile_dicts

PROGRAM = "global-2027"


@dataclass
class DemoConfig:
    mentees: int = 160
    mentors: int = 60
    late_mentees: int = 12  # join after the cohort round and are matched on demand
    speed: float = 7200.0  # program seconds per real second: two program hours a second
    seed: int = 7
    timeout: float = 270.0
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

    async def _give_feedback(self, request: dict) -> None:
        await asyncio.sleep(self.rng.uniform(0.05, 0.5))
        person = self.people.get(request["participant_id"], {})
        achieved = []
        if request["role"] == "mentee" and person.get("goals") and self.rng.random() < 0.3:
            achieved = [person["goals"][0]]
        await self.pub.publish(ev.FeedbackSubmitted(
            feedback_id=f"fb-{request['request_id']}", relationship_id=request["relationship_id"],
            participant_id=request["participant_id"], meeting_id=request["meeting_id"],
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


def expected_notifications(w: Watcher) -> int:
    """Messages the system owes people for what happened (every recipient is still in the program)."""
    per_event = {"match.proposed": 1, "match.established": 2, "meeting.scheduled": 2, "meeting.rescheduled": 2,
                 "meeting.cancelled": 2, "feedback.requested": 1, "milestone.achieved": 2}
    n = sum(per_event.get(o.type or "", 0) for o in w.seen if not o.topic.endswith(".dlq")
            and o.topic in (topics.MATCHES, topics.MEETINGS, topics.FEEDBACK))
    n += sum(len(o.data.get("participant_ids", [])) for o in w.of_type("reminder.due"))
    return n


def dead_letters(w: Watcher) -> int:
    return sum(1 for o in w.seen if o.topic.endswith(topics.DLQ_SUFFIX))


async def _drive(config: DemoConfig, infra: Infrastructure, services: Services, clock: ProgramClock, prefix: str,
                 say, timings: dict[str, float], started: float) -> dict[str, Any]:
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

        feedback_metrics = scrape(services.processes["feedback"].port)
        counts = Counter(o.type for o in w.seen if not o.topic.endswith(topics.DLQ_SUFFIX))
        return {
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
            "reminders_sent": counts["reminder.due"],
            "notifications_delivered": counts["notification.delivered"],
            "notifications_failed": counts["notification.failed"],
            "feedback_received": int(total(feedback_metrics, "tandem_events_consumed_total",
                                           topic=topics.FEEDBACK_SUBMISSIONS, outcome="handled")),
            "milestones": counts["milestone.achieved"],
            "dead_letters": dead_letters(w),
            "program_days": round((clock.now() - config.start).total_seconds() / 86400, 1),
        }


def _progress(s: ProgramState, w: Watcher, clock: ProgramClock) -> dict[str, Any]:
    states = Counter(s.mentee_state.values())
    settled = states["established"] + states["unavailable"]
    open_kickoffs = [r for r in s.relationships if r not in s.unschedulable
                     and (r not in s.kickoffs or s.kickoffs[r]["meeting_id"] not in s.meetings_done)]
    delivered = len(w.of_type("notification.delivered")) + len(w.of_type("notification.failed"))
    owed = expected_notifications(w)
    done = (settled == len(s.mentee_state) and not open_kickoffs and s.feedback_sent == s.feedback_requests
            and len(s.feedback_requests) > 0 and delivered >= owed)
    line = (f"[{clock.now():%a %d %b %H:%M}] matched {states['established']}, unmatched {states['unavailable']}, "
            f"in progress {len(s.mentee_state) - settled} | kickoffs held {len(s.meetings_done)}/{len(s.relationships)} | "
            f"reminders {len(w.of_type('reminder.due'))} | feedback {len(s.feedback_sent)}/{len(s.feedback_requests)} | "
            f"notifications {delivered}/{owed}")
    return {"done": done, "line": line}


async def _wait_consumed(services: Services, service: str, topic: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    port = services.processes[service].port
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
        services = Services.create(infra, topic_prefix=prefix, clock_env=clock.env(),
                                   extra={"TANDEM_LOG_LEVEL": os.environ.get("TANDEM_LOG_LEVEL", "INFO")})
        say("starting the four services")
        services.start()
        services.wait_ready()
        timings["startup_seconds"] = round(time.monotonic() - started, 1)
        report = asyncio.run(_drive(config, infra, services, clock, prefix, say, timings, time.monotonic()))
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
                "notifications_delivered", "feedback_received"):
        if report.get(key, 0) <= 0:
            problems.append(f"{key} is {report.get(key)}")
    if report["meetings_scheduled"] < report["matches_established"]:
        problems.append("fewer meetings scheduled than matches established")
    if report["notifications_delivered"] < 2 * report["matches_established"]:
        problems.append("fewer than two notifications per established match")
    if report["dead_letters"]:
        problems.append(f"{report['dead_letters']} dead letters")
    return problems

