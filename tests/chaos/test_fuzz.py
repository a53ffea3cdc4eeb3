"""Fuzzing the inputs of a running Tandem: 10,000 generated messages per input topic (hypothesis:
mutated envelopes, wrong types, missing and extra fields, huge strings, deep nesting, every kind of
unicode, binary garbage, messages of a megabyte, valid envelopes for the wrong topic, and ids
reused for different events), interleaved with a real program's valid events.

Every junk message is dead-lettered with a plain reason by every service that reads its topic; the
valid events are all applied (the invariant checker finds nothing lost or duplicated); no service
crashes, and their memory stays flat."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import psutil
import pytest

from shared.consumer import by_topic
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.eventdocs import subscription_tables
from tests.chaos.conftest import record, start_stack
from tests.chaos.invariants import check
from tests.chaos.test_faults import ALL, _outstanding
from tests.chaos.workload import Upstream
from tests.support.junk import INPUT_TOPICS, generate, junk, rare_junk

pytestmark = pytest.mark.chaos
PER_TOPIC = int(os.environ.get("TANDEM_FUZZ_PER_TOPIC", "10000"))
MEGABYTES_PER_TOPIC = 5
RESULTS_NOTE = os.path.join(os.environ.get("TANDEM_CHAOS_RESULTS", "/tmp"), "tandem-fuzz-figures.json")


def readers() -> dict[str, int]:
    """How many services read each topic: each of them dead-letters what it cannot take."""
    count: Counter[str] = Counter()
    for table in subscription_tables().values():
        for topic in by_topic(table):
            count[topic] += 1
    return count


def rss(stack) -> dict[str, float]:
    return {p.name: psutil.Process(p.pid).memory_info().rss / 2**20 for p in stack.services.processes.values()}


async def test_junk_is_dead_lettered_and_the_program_goes_on(stack_home):
    started = time.monotonic()
    batches = {t: generate(PER_TOPIC - MEGABYTES_PER_TOPIC, junk(t)) + generate(MEGABYTES_PER_TOPIC, rare_junk(t))
               for t in INPUT_TOPICS}
    generated_in = time.monotonic() - started
    stack = await asyncio.to_thread(start_stack, stack_home)
    try:
        per_topic_readers = readers()
        # The junk (keys junk-*) and its dead letters are kept apart from the program's own events.
        async with Watcher(stack.bootstrap_servers, ALL, keep=lambda o: not (o.key or "").startswith("junk-")) as w, \
                Publisher(stack.bootstrap_servers, source="/upstream/hris", now=stack.clock.now) as pub:
            up = Upstream(pub, stack.clock)
            w.on_message = up.on_message
            await up.start_program()
            before = rss(stack)

            # An id reused for a different event: the second is refused, not skipped.
            reused = await pub.publish(ev.MatchRequested(mentee_id=up.mentee_ids()[0], program_id=up.program_id))
            await pub.publish(ev.MatchRequested(mentee_id=up.mentee_ids()[1], program_id=up.program_id),
                              event_id=reused.id)

            junk_started = time.monotonic()
            publishing = asyncio.create_task(_publish_junk(pub, batches))
            await up.request_matches(up.mentee_ids()[1:])  # the valid events, in among the junk
            taken, refused = await publishing
            # Each junk message Kafka took, once per service reading its topic; + the reused id, + the
            # closing "{}" on participants.v1.
            expected = (sum(n * per_topic_readers[t] for t, n in taken.items()) + 1
                        + per_topic_readers[topics.PARTICIPANTS])

            def lettered(w) -> int:
                return sum(1 for o in w.seen + w.set_aside if o.topic.endswith(".dlq"))
            try:
                # 2.5-4x the measured rejection time (106-150 s, docs/reliability.md), and inside the test's own
                # timeout, so a shortfall is reported per topic below instead of the run being cut off.
                await w.wait_for(lambda w: lettered(w) >= expected, max(120.0, PER_TOPIC * 0.04), f"{expected} dead letters")
            except TimeoutError as exc:
                per_topic = Counter(o.topic.removesuffix(".dlq") for o in w.seen + w.set_aside
                                    if o.topic.endswith(".dlq"))
                raise AssertionError(f"{exc}: dead letters per topic {dict(per_topic)}, junk taken {dict(taken)}, "
                                     f"readers {dict(per_topic_readers)}") from exc
            rejected_in = time.monotonic() - junk_started
            deadline = time.monotonic() + 420
            while (outstanding := await _outstanding(stack, w, up)) and time.monotonic() < deadline:
                await up.record_attendance()
                await asyncio.sleep(0.5)
            # Checked only once settled: what is still on its way is not lost (and is not counted so).
            assert not outstanding, f"the program did not settle in 420 s after the junk: {outstanding}"
            await up.settle()
            after = rss(stack)
            findings = await check(up, w, stack.infra.mail_dir, stack.database_url)
            assert all(p.alive() for p in stack.services.processes.values()), "a service crashed"
    finally:
        await asyncio.to_thread(stack.services.stop)
        await asyncio.to_thread(stack.infra.stop)

    letters = [o for o in w.seen + w.set_aside if o.topic.endswith(".dlq")]
    reasons = Counter(o.headers.get("dlq.error.type", "?") for o in letters)
    assert all(o.headers.get("dlq.error") for o in letters), "a dead letter without a reason"
    assert len(letters) == expected, (len(letters), expected)  # each once per reader: none twice, none lost
    assert any("was used before for a different event" in o.headers["dlq.error"] for o in letters)
    # Only the junk and the reused id went to the dead-letter topics: the program's own events all went through.
    findings.broken = [b for b in findings.broken if not b.startswith("dead letter on")]
    assert not (findings.lost or findings.duplicated or findings.broken), findings.summary()
    growth = {name: after[name] - before[name] for name in before}
    assert max(growth.values()) < 150, growth  # MiB: flat, give or take the allocator
    figures = {
        "messages": sum(len(b) for b in batches.values()), "per_topic": PER_TOPIC, "dead_letters": len(letters),
        "taken_by_kafka": sum(taken.values()), "refused_by_kafka": {f"{t} ({e})": n for (t, e), n in refused.items()},
        "generated_seconds": round(generated_in, 1), "rejected_seconds": round(rejected_in, 1),
        "rejections_per_second": round(len(letters) / rejected_in), "reasons": dict(reasons),
        "rss_before_mib": {k: round(v) for k, v in before.items()}, "rss_after_mib": {k: round(v) for k, v in after.items()},
        "valid_effects_checked": findings.effects_checked,
    }
    os.makedirs(os.path.dirname(RESULTS_NOTE), exist_ok=True)
    with open(RESULTS_NOTE, "w") as out:
        json.dump(figures, out, indent=2)
    record("fuzzed inputs (junk interleaved with a program)", findings, time.monotonic() - started)
    print(json.dumps(figures, indent=2))


async def _publish_junk(pub: Publisher, batches: dict[str, list[bytes]]) -> tuple[Counter, Counter]:
    """Round-robin over the topics, so every service gets its share from the start. Returns what
    Kafka took per topic, and what it refused (per topic and error): only what it took can reach us."""
    sent: list[tuple[str, asyncio.Future]] = []
    longest = max(len(b) for b in batches.values())
    for i in range(longest):
        for topic, batch in batches.items():
            if i < len(batch):
                sent.append((topic, await pub.send_raw(topic, batch[i], key=f"junk-{i % 97}", wait=False)))
        if i % 500 == 0:
            await asyncio.sleep(0)
    await pub.send_raw(topics.PARTICIPANTS, b"{}", key="junk-last")  # waits: everything before it is sent
    taken, refused = Counter(), Counter()
    outcomes = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
    for (topic, _), outcome in zip(sent, outcomes):
        if isinstance(outcome, BaseException):
            refused[(topic, type(outcome).__name__)] += 1
        else:
            taken[topic] += 1
    return taken, refused
