"""Faults, each on its own, under load: the upstream keeps publishing while a server dies, freezes,
restarts or refuses, and afterwards one checker (invariants.py) finds every expected effect
exactly once: nothing lost, nothing duplicated, nobody double-booked, every dead letter explained.

`make chaos` runs these and `python -m tests.chaos.report` turns the figures into docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.chaos.conftest import Stack, record, start_stack, wait_until
from tests.chaos.invariants import MESSAGES_PER_EVENT, check
from tests.chaos.workload import Upstream
from tests.support.runtime import fetch
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.chaos
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
Fault = Callable[[Stack, Watcher, Upstream], Awaitable[None]]


async def _established(w: Watcher, n: int, timeout: float = 240) -> None:
    await w.wait_for(lambda w: len({o.data["relationship_id"] for o in w.of_type("match.established")}) >= n,
                     timeout, f"{n} relationships")


async def _restart(stack: Stack, name: str) -> None:
    proc = stack.services.processes[name]
    proc.kill()
    await asyncio.sleep(0.5)
    proc.start()  # what `tandem up` does for a process that died
    await asyncio.to_thread(stack.services.wait_ready, 120, (name,))


async def _settled(stack: Stack, w: Watcher, up: Upstream) -> bool:
    """Everything the upstream set going has come to rest."""
    return not await _outstanding(stack, w, up)


async def _outstanding(stack: Stack, w: Watcher, up: Upstream) -> str:
    """What the upstream set going has not come to rest yet, in words ("" once everything has)."""
    from datetime import datetime

    read = len(w.seen)  # what the conditions below are judged on
    relationships = {o.data["relationship_id"] for o in w.of_type("match.established")}
    matched = len({o.data["mentee_id"] for o in w.of_type("match.established")})
    if matched < up.mentees:
        return f"{matched} of {up.mentees} mentees matched"
    now = up.clock.now()
    kickoffs = up.kickoffs
    awaited = relationships - {o.data["relationship_id"] for o in w.of_type("relationship.unschedulable")}
    if not awaited <= set(kickoffs):
        return f"{len(awaited - set(kickoffs))} relationships without a kickoff yet"
    unrecorded = [k for k in kickoffs.values() if datetime.fromisoformat(k["end"]) > now
                  or k["meeting_id"] not in up.attendance_sent]
    if unrecorded:
        return f"{len(unrecorded)} kickoffs not over or their attendance not recorded yet"
    outcomes = {o.data["meeting_id"] for o in w.of_type("meeting.completed") + w.of_type("meeting.missed")}
    if not up.attendance_sent <= outcomes:
        return f"{len(up.attendance_sent - outcomes)} meetings without an outcome yet"
    # An outcome seen is not yet feedback's answer to it: each held meeting asked about, once per
    # person, as the checker counts them (invariants.py).
    asked = {(o.data["meeting_id"], o.data["participant_id"]) for o in w.of_type("feedback.requested")}
    held = [o.data for o in w.of_type("meeting.completed") + w.of_type("meeting.missed") if not o.data.get("absent")]
    unasked = [(d["meeting_id"], who) for d in held for who in (d["mentor_id"], d["mentee_id"])
               if (d["meeting_id"], who) not in asked]
    if unasked:
        return f"{len(unasked)} feedback requests about meetings held not told yet"
    unanswered = {o.data["request_id"] for o in w.of_type("feedback.requested")} - up.feedback_sent
    if unanswered:
        return f"{len(unanswered)} feedback requests not answered yet"
    db = stack.database_url
    # An event seen is not yet its messages: each cause has the deliveries it owes, as the checker counts them.
    owed = {o.envelope["id"]: len(o.data["participant_ids"]) if o.type == "reminder.due" else MESSAGES_PER_EVENT[o.type]
            for o in w.seen if o.type in MESSAGES_PER_EVENT or o.type == "reminder.due"}
    made = {r["cause_event_id"]: r["n"] for r in await fetch(
        db, "SELECT cause_event_id, count(*) AS n FROM notifications.deliveries GROUP BY 1")}
    unmade = [cause for cause, n in owed.items() if made.get(cause, 0) < n]
    if unmade:
        kinds = Counter(o.type for o in w.seen if o.envelope.get("id") in set(unmade))
        return f"{len(unmade)} events whose messages are not made yet ({', '.join(f'{t} {n}' for t, n in kinds.items())})"
    # Every delivery settled, including those waiting for their next attempt after a failure.
    open_work = await fetch(db, "SELECT (SELECT count(*) FROM notifications.deliveries WHERE status IN ('pending', "
                                "'sending')) AS deliveries, (SELECT count(*) FROM feedback.feedback) AS answers")
    if open_work[0]["deliveries"]:
        return f"{open_work[0]['deliveries']} deliveries pending or sending"
    if open_work[0]["answers"] < len(up.feedback_sent):
        return f"{open_work[0]['answers']} of {len(up.feedback_sent)} answers stored"
    for schema in ("matching", "scheduling", "notifications", "feedback"):
        left = (await fetch(db, f"SELECT count(*) AS n FROM {schema}.outbox WHERE state = 'pending'"))[0]["n"]
        if left:
            return f"{left} events in {schema}'s outbox not published yet"
    # Everything published by now was read before the conditions above were judged: no event they
    # would count is still on its way to the watcher.
    try:
        if not await w.caught_up() or len(w.seen) != read:
            return "the watcher has not read everything published yet"
    except Exception as exc:  # the broker not answering yet after a fault: asked again at the next poll
        return f"the watcher could not tell how far the topics go: {exc!r}"
    return ""


async def run_under(stack: Stack, fault: Fault, name: str, *, chat_webhook: str | None = None,
                    settle_timeout: float = 420) -> None:
    started = time.monotonic()
    async with Watcher(stack.bootstrap_servers, ALL) as w, \
            Publisher(stack.bootstrap_servers, source="/upstream/hris", now=stack.clock.now) as pub:
        up = Upstream(pub, stack.clock, chat_webhook=chat_webhook)
        w.on_message = up.on_message
        await up.start_program()

        async def profiles_in():
            rows = await fetch(stack.database_url, "SELECT count(*) AS n FROM matching.participants")
            return rows[0]["n"] >= up.mentors + up.mentees
        await wait_until(profiles_in, 120, "the profiles")
        await up.request_matches()
        injected = asyncio.create_task(fault(stack, w, up))
        try:
            deadline = time.monotonic() + settle_timeout
            outstanding = "the fault still under way"
            while time.monotonic() < deadline:
                await up.record_attendance()
                if injected.done() and not (outstanding := await _outstanding(stack, w, up)):
                    break
                await asyncio.sleep(0.5)
            else:
                await _ask_for_tasks(stack)
                raise AssertionError(f"{name}: the program did not settle in {settle_timeout:.0f}s ({outstanding}); "
                                     f"seen {w.counts()}\n{_what_the_services_said(stack)}")
            await injected  # surface the fault's own errors
            await up.settle()
            await asyncio.sleep(2)  # anything still in flight would show as a duplicate now
            findings = await check(up, w, stack.infra.mail_dir, stack.database_url)
        finally:
            injected.cancel()
            await up.close()
    record(name, findings, time.monotonic() - started)
    print(f"{name}: {findings.summary()}")
    assert findings.ok(), f"{name}: lost {findings.lost[:5]}, duplicated {findings.duplicated[:5]}, {findings.broken[:5]}"


async def _ask_for_tasks(stack: Stack) -> None:
    """Each service logs where every one of its tasks waits (SIGUSR1, shared.service): what a stuck
    consumer is stuck on, in CI's output."""
    for proc in stack.services.processes.values():
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR1)
    await asyncio.sleep(2)


_BROKER_AWAY = ("Unable connect to node", "Unable to update metadata", "NodeNotReadyError", "NotLeaderForPartition")


def _what_the_services_said(stack: Stack, lines: int = 12) -> str:
    """The last warnings and errors of each service's log (ids only, by the logging rules), for a run
    that did not settle: the stack's directory is removed after the test, and CI keeps only its output."""
    said = []
    for log in sorted((stack.infra.home / "logs").glob("*.log")):
        if log.stem in ("postgres", "kafka") or log.stem.startswith("kafka"):
            continue
        # The services log JSON lines with a lower-case "level" (shared.telemetry); a crash's traceback
        # goes to stderr as it is.
        noted = [line for line in log.read_text(errors="replace").splitlines()
                 if any(level in line.lower() for level in ('"warning"', '"error"', '"critical"', "traceback"))]
        # A broker away makes aiokafka say so many times a second: those are counted, not shown.
        telling = [line for line in noted if not any(noise in line for noise in _BROKER_AWAY)]
        tasks = [line for line in telling if '"message": "task ' in line]  # asked for (_ask_for_tasks)
        telling = [line for line in telling if line not in tasks]
        said.append(f"--- {log.name}: {len(noted)} warnings and errors ({len(noted) - len(telling) - len(tasks)} about the "
                    f"broker being away), the last {min(lines, len(telling))} others:")
        said += telling[-lines:]
        if tasks:
            said.append(f"--- {log.name}: where its {len(tasks)} tasks wait:")
            said += tasks
    return "\n".join(said)


# --- the faults -------------------------------------------------------------------------------------

def kill_along_the_flow(matching: str, scheduling: str, notifications: str, feedback: str) -> Fault:
    """SIGKILL one process of each service in turn, each while its part of the flow is under way."""

    async def fault(stack: Stack, w: Watcher, up: Upstream) -> None:
        await _established(w, up.mentees // 4)
        await _restart(stack, matching)
        await w.wait_for(lambda w: w.of_type("meeting.scheduled"), 240, "the first kickoffs")
        await _restart(stack, scheduling)
        await w.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 10, 240, "mail going out")
        await _restart(stack, notifications)
        await w.wait_for(lambda w: w.of_type("feedback.requested"), 300, "the first feedback requests")
        await _restart(stack, feedback)

    return fault


kill_every_service = kill_along_the_flow("matching#1", "scheduling#1", "notifications#1", "feedback#1")
kill_one_replica_of_each = kill_along_the_flow("matching#2", "scheduling#1", "notifications#2", "feedback#1")


async def pause_the_broker(stack: Stack, w: Watcher, up: Upstream) -> None:
    await _established(w, up.mentees // 3)
    stack.infra.kafka.pause()
    try:
        await asyncio.sleep(30)
    finally:
        stack.infra.kafka.resume()


async def kill_and_restart_the_broker(stack: Stack, w: Watcher, up: Upstream) -> None:
    await _established(w, up.mentees // 3)
    stack.infra.kafka.kill()
    await asyncio.sleep(5)
    await asyncio.to_thread(stack.infra.kafka.restart)


async def restart_postgres_immediately(stack: Stack, w: Watcher, up: Upstream) -> None:
    await _established(w, 1)  # early: every service is busy with its first transactions
    await asyncio.to_thread(stack.infra.postgres.restart_immediately, stack.infra.home / "logs" / "postgres.log", 5.0)


async def lose_one_broker_of_three(stack: Stack, w: Watcher, up: Upstream) -> None:
    await _established(w, up.mentees // 3)
    stack.infra.kafka.nodes[2].kill()  # for good: the two others carry on (min.insync.replicas 2)


async def refuse_mail_for_a_minute(stack: Stack, w: Watcher, up: Upstream) -> None:
    await w.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 5, 240, "mail going out")
    stack.infra.mailbox.refuse_connections()  # a transfer under way finishes; new connections are refused
    try:
        await asyncio.sleep(60)
    finally:
        stack.infra.mailbox.accept_connections()


FAULTS: dict[str, tuple[Fault, dict]] = {
    "SIGKILL of each service in turn": (kill_every_service, {}),
    "SIGKILL of one replica of each service (2 replicas)": (kill_one_replica_of_each, {"replicas": 2}),
    "Kafka broker paused (SIGSTOP) for 30 s": (pause_the_broker, {}),
    "Kafka broker killed and restarted": (kill_and_restart_the_broker, {}),
    "PostgreSQL restarted in immediate mode": (restart_postgres_immediately, {}),
    "3-broker KRaft cluster (RF 3, min ISR 2) loses a broker": (lose_one_broker_of_three, {"kafka_nodes": 3}),
    "SMTP server refusing connections for a minute": (refuse_mail_for_a_minute, {}),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_nothing_lost_nothing_twice(name, stack_home):
    fault, options = FAULTS[name]
    stack = await asyncio.to_thread(start_stack, stack_home, **options)
    try:
        await run_under(stack, fault, name)
    finally:
        await asyncio.to_thread(stack.services.stop)
        await asyncio.to_thread(stack.infra.stop)


async def test_a_chat_webhook_that_fails_then_times_out(stack_home):
    name = "chat webhook answering 500, then timing out"
    with WebhookReceiver(path="/hooks/chat") as chat:
        stack = await asyncio.to_thread(start_stack, stack_home, extra={"TANDEM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"})

        async def fault(stack: Stack, w: Watcher, up: Upstream) -> None:
            await _established(w, 1)
            chat.status = 500
            await asyncio.sleep(30)
            chat.hang = True
            await asyncio.sleep(30)
            chat.status, chat.hang = 204, False
        try:
            await run_under(stack, fault, name, chat_webhook=chat.url)
        finally:
            await asyncio.to_thread(stack.services.stop)
            await asyncio.to_thread(stack.infra.stop)
    assert chat.received  # the chat recipients were reached once it worked again
