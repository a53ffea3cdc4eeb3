"""Benchmark: what this machine can do at most for the three things every event costs, measured bare.

Without any of Tandem's code on the path, on the PostgreSQL (fsync on) and Apache Kafka this
benchmark starts as local processes, as benchmarks/throughput.py does:
- **a multi-row insert**: rows of a narrow inbox-like table (text id, text, bytea digest) written as
  `INSERT ... SELECT * FROM unnest(...)` in batches of 100, 200 (the consumer's batch) and 1,000 rows,
  each batch its own transaction; and as COPY (asyncpg's copy_records_to_table) for comparison;
- **a commit with fsync**: the latency of a one-row insert + COMMIT on one connection, once with
  `synchronous_commit = off` (no wait for the WAL flush) to show the fsync's share; and how many such
  commits a second 1 and 8 connections achieve together (group commit);
- **aiokafka**: envelope-sized messages (a real `match.established` envelope with a traceparent
  header) to a topic of 3 partitions with Tandem's producer settings (shared/kafka.py: acks=all,
  idempotence, linger 5 ms), sent one `send_and_wait` at a time and in batches as the outbox relay
  sends them; consumed with `getmany`; and the produce → consume round trip of single messages.
CPU per row or message is given apart for this process (the client: asyncpg or aiokafka, on uvloop as
the services run) and for the server (Postgres with all its backends, or the broker's JVM), read from
/proc by psutil (benchmarks/meters.py).

    .venv/bin/python -m benchmarks.limits [--quick] [--rows 200000] [--messages 200000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.infra import local_infrastructure
from benchmarks.meters import CpuMeter
from benchmarks.report import write_section
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.kafka import ensure_topics, make_producer
from shared.settings import ServiceSettings
from tandem.local.kafka import LocalKafka

ROWS = 200_000
MESSAGES = 200_000
SINGLE_SENDS = 2_000  # send_and_wait one at a time: each waits the linger, so a few thousand say enough
COMMITS = 2_000
GROUP_COMMIT_SECONDS = 5.0
ROUND_TRIPS = 1_000
PARTITIONS = 3
INSERT_BATCHES = (100, ServiceSettings.model_fields["consumer_batch_size"].default, 1000)
COPY_BATCH = 1000
OUTBOX_BATCH = ServiceSettings.model_fields["outbox_batch_size"].default  # the relay's sends before it waits
CONSUMER_BATCH = ServiceSettings.model_fields["consumer_batch_size"].default
TRACEPARENT = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
CORES = os.cpu_count() or 1


@dataclass
class Run:
    """One measured step: `count` operations in `seconds`, and the CPU seconds of each process group."""

    what: str
    count: int
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, when the step times each operation

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("nan")

    def us(self, group: str) -> float:
        """CPU microseconds per operation of one group."""
        return 1e6 * self.cpu.get(group, 0.0) / self.count if self.count else float("nan")

    def ms(self, q: float) -> float:
        return 1000 * quantile(self.latencies, q)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass
class Meter:
    """CPU seconds of the client, Postgres and Kafka; the servers' above what they use with nothing to do
    (the broker's background work alone would otherwise swamp a slow step's few messages)."""

    cpu: CpuMeter
    idle: dict[str, float] = field(default_factory=dict)  # cores used with nothing to do

    async def measure_idle(self, seconds: float) -> dict[str, float]:
        before = self.cpu.sample()
        await asyncio.sleep(seconds)
        self.idle = {g: v / seconds for g, v in CpuMeter.spent(before, self.cpu.sample()).items()}
        return self.idle


SERVERS = ("postgres", "kafka")
IDLE_SECONDS = 5.0
WARM_UP = 5_000  # messages through the broker before its steps are measured


@asynccontextmanager
async def measured(meter: Meter, run: Run) -> AsyncIterator[Run]:
    before, started = meter.cpu.sample(), time.perf_counter()
    yield run
    run.seconds = time.perf_counter() - started
    run.cpu = CpuMeter.spent(before, meter.cpu.sample())
    for group in SERVERS:
        run.cpu[group] = max(0.0, run.cpu[group] - meter.idle.get(group, 0.0) * run.seconds)
    print(
        f"  {run.what}: {run.count:,} in {run.seconds:.1f} s = {run.rate:,.0f}/s; CPU µs each: "
        + ", ".join(f"{g} {run.us(g):.1f}" for g in ("client", "postgres", "kafka")),
        flush=True,
    )


# --- PostgreSQL -------------------------------------------------------------------------------------

_INBOX = "(event_id text PRIMARY KEY, event_type text NOT NULL, digest bytea NOT NULL)"
_UNNEST = "INSERT INTO {table} (event_id, event_type, digest) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])"


def inbox_rows(n: int) -> list[tuple[str, str, bytes]]:
    return [(str(uuid.uuid4()), "match.established", hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


async def insert_runs(conn: asyncpg.Connection, meter: Meter, rows: list[tuple[str, str, bytes]]) -> list[Run]:
    runs = []
    ids, types, digests = (list(column) for column in zip(*rows, strict=True))
    for batch in INSERT_BATCHES:
        table = f"inbox_unnest_{batch}"
        await conn.execute(f"CREATE TABLE {table} {_INBOX}")
        sql = _UNNEST.format(table=table)
        async with measured(meter, Run(f"INSERT ... unnest, {batch} rows a transaction", len(rows))) as run:
            for i in range(0, len(rows), batch):
                async with conn.transaction():
                    await conn.execute(sql, ids[i : i + batch], types[i : i + batch], digests[i : i + batch])
        runs.append(run)
    copied = f"inbox_copy_{COPY_BATCH}"
    await conn.execute(f"CREATE TABLE {copied} {_INBOX}")
    async with measured(meter, Run(f"COPY, {COPY_BATCH} rows a transaction", len(rows))) as run:
        for i in range(0, len(rows), COPY_BATCH):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    copied, records=rows[i : i + COPY_BATCH], columns=["event_id", "event_type", "digest"]
                )
    runs.append(run)
    for table in [f"inbox_unnest_{b}" for b in INSERT_BATCHES] + [copied]:
        stored = await conn.fetchval(f"SELECT count(*) FROM {table}")
        assert stored == len(rows), (table, stored)  # every row written, none lost
    return runs


async def one_row_commit(conn: asyncpg.Connection, ids: itertools.count) -> None:
    async with conn.transaction():
        await conn.execute("INSERT INTO commit_probe (id, note) VALUES ($1, 'x')", next(ids))


async def commit_runs(url: str, meter: Meter, commits: int, seconds: float) -> list[Run]:
    ids = itertools.count()
    conn = await asyncpg.connect(url)
    runs = []
    try:
        await conn.execute("CREATE TABLE commit_probe (id bigint PRIMARY KEY, note text NOT NULL)")
        for label, synchronous in (
            ("one-row insert + COMMIT, one connection", "on"),
            ("the same with synchronous_commit = off (no wait for the WAL flush)", "off"),
        ):
            await conn.execute(f"SET synchronous_commit = {synchronous}")
            async with measured(meter, Run(label, commits)) as run:
                for _ in range(commits):
                    started = time.perf_counter()
                    await one_row_commit(conn, ids)
                    run.latencies.append(time.perf_counter() - started)
            runs.append(run)
        await conn.execute("SET synchronous_commit = on")
    finally:
        await conn.close()
    for connections in (1, 8):
        runs.append(await commits_for(url, meter, connections, seconds, ids))
    return runs


async def commits_for(url: str, meter: Meter, connections: int, seconds: float, ids: itertools.count) -> Run:
    """One-row commits a second from `connections` connections, each committing one after another."""
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    done = [0] * connections

    async def commit_until(k: int, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await one_row_commit(conns[k], ids)
            done[k] += 1

    try:
        run = Run(f"commits a second, {connections} connection{'s' if connections > 1 else ''} at once", 0)
        async with measured(meter, run):
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(commit_until(k, deadline) for k in range(connections)))
            run.count = sum(done)
    finally:
        for conn in conns:
            await conn.close()
    return run


# --- Kafka ------------------------------------------------------------------------------------------


def envelope() -> bytes:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    data = ev.MatchEstablished(
        relationship_id=ids[0],
        proposal_id=ids[1],
        program_id=ids[2],
        mentee_id=ids[3],
        mentor_id=ids[4],
        established_at=datetime(2027, 1, 4, 10, tzinfo=UTC),
        goals=["leadership", "negotiation", "public speaking"],
    )
    return new_envelope(
        type="match.established", source="/tandem/matching", data=data, time=datetime(2027, 1, 4, 10, tzinfo=UTC)
    ).to_json()


def no_linger_producer(bootstrap: str) -> AIOKafkaProducer:
    """shared/kafka.py's producer without the 5 ms linger: what the linger adds to a round trip."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id="bench-limits-nolinger", acks="all", enable_idempotence=True, linger_ms=0
    )


async def assigned_consumer(bootstrap: str, topic: str, *, from_end: bool) -> AIOKafkaConsumer:
    """A consumer of all the topic's partitions, assigned directly (no group, no offset commits)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, client_id="bench-limits", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    if from_end:
        await consumer.seek_to_end(*partitions)
    else:
        await consumer.seek_to_beginning(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    return consumer


async def kafka_runs(bootstrap: str, meter: Meter, messages: int, singles: int, trips: int) -> tuple[list[Run], int]:
    """The runs, and the linger (ms) of shared/kafka.py's producer. The broker's JVM compiles its hot
    paths while it first serves them: a warm-up of each kind of step goes first, on a topic of its own,
    and the broker's idle CPU is measured after it."""
    prefix = f"limits{uuid.uuid4().hex[:6]}."
    single, batched, trip, warm = (prefix + name for name in ("single", "batched", "roundtrip", "warmup"))
    await ensure_topics(bootstrap, [single, batched, trip, warm], partitions=PARTITIONS)
    value = envelope()
    keys = [str(uuid.uuid4()).encode() for _ in range(messages)]
    producer = make_producer(bootstrap, "bench-limits")
    linger_ms = round(producer._message_accumulator._linger_time * 1000)  # aiokafka's own record of linger_ms
    await producer.start()
    try:
        for key in keys[: WARM_UP // 20]:
            await producer.send_and_wait(warm, value, key=key, headers=TRACEPARENT)
        await produce_batched(producer, warm, value, keys[:WARM_UP])
        await consume_all(bootstrap, warm, WARM_UP // 20 + WARM_UP)
        await round_trips(
            bootstrap,
            None,
            warm,
            "warm-up",
            lambda: make_producer(bootstrap, "bench-warm"),
            value,
            keys[: WARM_UP // 20],
        )
        await meter.measure_idle(IDLE_SECONDS)
        runs = []
        async with measured(meter, Run("produce, send_and_wait one message at a time", singles)) as run:
            for key in keys[:singles]:
                await producer.send_and_wait(single, value, key=key, headers=TRACEPARENT)
        runs.append(run)
        async with measured(meter, Run(f"produce, {OUTBOX_BATCH} sends then wait for them all", messages)) as run:
            await produce_batched(producer, batched, value, keys)
        runs.append(run)
    finally:
        await producer.stop()
    async with measured(meter, Run(f"consume, getmany of up to {CONSUMER_BATCH}", messages)) as run:
        await consume_all(bootstrap, batched, messages)
    runs.append(run)
    for label, new_producer in (
        (
            f"produce → consume round trip, linger {linger_ms} ms (ours)",
            lambda: make_producer(bootstrap, "bench-limits-trip"),
        ),
        ("the same, linger 0 ms", lambda: no_linger_producer(bootstrap)),
    ):
        runs.append(await round_trips(bootstrap, meter, trip, label, new_producer, value, keys[:trips]))
    return runs, linger_ms


async def produce_batched(producer: AIOKafkaProducer, topic: str, value: bytes, keys: list[bytes]) -> None:
    """As the outbox relay publishes: a batch of sends, then a wait for all their acknowledgements."""
    for i in range(0, len(keys), OUTBOX_BATCH):
        sent = [await producer.send(topic, value, key=key, headers=TRACEPARENT) for key in keys[i : i + OUTBOX_BATCH]]
        await asyncio.gather(*sent)


async def consume_all(bootstrap: str, topic: str, total: int) -> None:
    """Every message of the topic, from the start, with getmany in batches of the consumer's size."""
    consumer = await assigned_consumer(bootstrap, topic, from_end=False)
    try:
        got = 0
        while got < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=CONSUMER_BATCH)
            if not batches:
                raise RuntimeError(f"consumed {got:,} of {total:,} from {topic}: nothing more came within 1 s")
            got += sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()


async def round_trips(
    bootstrap: str,
    meter: Meter | None,
    topic: str,
    label: str,
    new_producer: Callable[[], AIOKafkaProducer],
    value: bytes,
    keys: list[bytes],
) -> Run:
    """Single messages, one after another: from `send` to the consumer's `getone` returning it (measured
    unless `meter` is None: a warm-up)."""
    consumer = await assigned_consumer(bootstrap, topic, from_end=True)
    producer = new_producer()
    await producer.start()
    run = Run(label, len(keys))
    try:
        await _trip(producer, consumer, topic, value, b"warm-up")
        async with measured(meter, run) if meter is not None else contextlib.nullcontext(run):
            for key in keys:
                run.latencies.append(await _trip(producer, consumer, topic, value, key))
    finally:
        await producer.stop()
        await consumer.stop()
    return run


async def _trip(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, topic: str, value: bytes, key: bytes) -> float:
    started = time.perf_counter()
    acked = await producer.send(topic, value, key=key, headers=TRACEPARENT)
    record = await asyncio.wait_for(consumer.getone(), timeout=30)
    took = time.perf_counter() - started
    await acked
    assert record.key == key, (record.key, key)  # one message in flight at a time: it is this one
    return took


# --- all of it --------------------------------------------------------------------------------------


@dataclass
class Limits:
    idle: dict[str, float]  # cores each server used with nothing to do, before its steps
    inserts: list[Run]
    commits: list[Run]
    kafka: list[Run]
    envelope_bytes: int
    linger_ms: int  # shared/kafka.py's producer's


async def measure_all(url: str, bootstrap: str, meter: Meter, args: argparse.Namespace) -> Limits:
    idle = {"postgres": (await meter.measure_idle(IDLE_SECONDS))["postgres"]}
    print("PostgreSQL: multi-row inserts", flush=True)
    conn = await asyncpg.connect(url)
    try:
        inserts = await insert_runs(conn, meter, inbox_rows(args.rows))
    finally:
        await conn.close()
    print("PostgreSQL: commits", flush=True)
    commits = await commit_runs(url, meter, args.commits, args.group_seconds)
    print("Kafka: produce and consume", flush=True)
    kafka, linger_ms = await kafka_runs(bootstrap, meter, args.messages, args.singles, args.trips)
    idle["kafka"] = meter.idle["kafka"]
    return Limits(idle, inserts, commits, kafka, len(envelope()), linger_ms)


def _us(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"


def _ms(run: Run, q: float) -> str:
    return f"{run.ms(q):.2f} ms" if run.latencies else "-"


def render(limits: Limits, load_before: str, load_after: str) -> str:
    from benchmarks.throughput import TARGET_CPU_MS, TARGET_RATE  # the targets of issue 17, kept in one place

    inserts = [
        "| how | rows | rows/s | client CPU per row | Postgres CPU per row | both |",
        "|---|---|---|---|---|---|",
    ]
    inserts += [
        f"| {r.what} | {r.count:,} | **{r.rate:,.0f}** | {_us(r.us('client'))} µs | {_us(r.us('postgres'))} µs | "
        f"**{_us(r.us('client') + r.us('postgres'))} µs** |"
        for r in limits.inserts
    ]
    commits = [
        "| what | commits | commits/s | p50 | p95 | p99 | client CPU per commit | Postgres CPU per commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    commits += [
        f"| {r.what} | {r.count:,} | **{r.rate:,.0f}** | {_ms(r, 0.5)} | {_ms(r, 0.95)} | {_ms(r, 0.99)} | "
        f"{_us(r.us('client'))} µs | {_us(r.us('postgres'))} µs |"
        for r in limits.commits
    ]
    kafka = [
        "| what | messages | messages/s | client CPU per message | broker CPU per message | p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kafka += [
        f"| {r.what} | {r.count:,} | **{r.rate:,.0f}** | {_us(r.us('client'))} µs | {_us(r.us('kafka'))} µs | "
        f"{_ms(r, 0.5)} | {_ms(r, 0.95)} | {_ms(r, 0.99)} |"
        for r in limits.kafka
    ]
    steps = limits.inserts + limits.commits + limits.kafka
    others = [r.cpu.get("others", 0.0) / r.seconds for r in steps if r.seconds]
    return f"""
- load (`uptime`) before: {load_before}
- load (`uptime`) after: {load_after}
- other processes on the machine (it is shared) during the steps: {min(others, default=0):.2f} to {max(others, default=0):.2f} cores

PostgreSQL and Apache Kafka started by this benchmark as local processes (as for the throughput
benchmark: fsync on, shared_buffers 256 MB; one KRaft node, topics of {PARTITIONS} partitions), on the same
{CORES} cores as the client. Client CPU is this benchmark's own process (asyncpg or aiokafka on uvloop,
nothing of Tandem's on the path); Postgres CPU is the postmaster and all its backends, Kafka's the
broker's JVM, from /proc (psutil), each above what it used with nothing to do ({limits.idle.get("postgres", 0):.3f} and
{limits.idle.get("kafka", 0):.3f} cores, measured for {IDLE_SECONDS:.0f} s before its steps), divided by the rows, commits or
messages of the step. Rates and latencies are wall-clock: on a busy machine they fall and grow with
the load; the CPU per operation holds better.

#### PostgreSQL: writing rows

An inbox-like table (text primary key, text, 32-byte bytea), {limits.inserts[0].count:,} rows a step, each batch its own
transaction (BEGIN, the statement, COMMIT with fsync):

{chr(10).join(inserts)}

#### PostgreSQL: a commit with fsync

{chr(10).join(commits)}

{commit_note(limits)}

#### Apache Kafka: aiokafka produce and consume

Messages of {limits.envelope_bytes} bytes (a `match.established` envelope) with a traceparent header, distinct
keys, one topic of {PARTITIONS} partitions; the producer is shared/kafka.py's (acks=all, idempotence, linger
{limits.linger_ms} ms); "{OUTBOX_BATCH} sends then wait" is how the outbox relay publishes a batch. The consumer is
assigned all partitions directly (no group, no offset commits).

{chr(10).join(kafka)}

#### What this means

{meaning(limits, TARGET_CPU_MS, TARGET_RATE)}

`python -m benchmarks.limits`.
"""


def _find(runs: list[Run], start: str) -> Run:
    return next(r for r in runs if r.what.startswith(start))


def commit_note(limits: Limits) -> str:
    on, off = limits.commits[0], limits.commits[1]
    one, eight = _find(limits.commits, "commits a second, 1 "), _find(limits.commits, "commits a second, 8 ")
    return (
        f"The wait for the WAL flush is {on.ms(0.5) - off.ms(0.5):.2f} ms of the {on.ms(0.5):.2f} ms p50 of a one-row "
        f"insert + COMMIT (BEGIN, INSERT, COMMIT: three round trips). Eight connections committing at once "
        f"achieve {eight.rate / one.rate:.1f}× the commits of one ({eight.rate:,.0f} against {one.rate:,.0f} a second): "
        "Postgres flushes the WAL of commits that arrive together once (group commit)."
    )


def meaning(limits: Limits, target_cpu_ms: float, target_rate: dict[str, int]) -> str:
    batch = _find(limits.inserts, f"INSERT ... unnest, {CONSUMER_BATCH} ")
    consume = _find(limits.kafka, "consume")
    produce = _find(limits.kafka, f"produce, {OUTBOX_BATCH} ")
    single = _find(limits.kafka, "produce, send_and_wait")
    trip, bare_trip = limits.kafka[-2], limits.kafka[-1]
    on, off = limits.commits[0], limits.commits[1]
    client = consume.us("client") + produce.us("client") + batch.us("client")
    servers = consume.us("kafka") + produce.us("kafka") + batch.us("postgres")
    floor = client + servers
    with_outbox = floor + batch.us("client") + batch.us("postgres")
    best = max(target_rate.values())
    return f"""An event that costs one consume, one share of a {CONSUMER_BATCH}-row insert and one produce (as batched above)
costs at the least **{floor:.0f} µs of CPU**: {client:.0f} µs in the service's process (consume {consume.us("client"):.0f},
insert {batch.us("client"):.0f}, produce {produce.us("client"):.0f}) and {servers:.0f} µs in the servers (Kafka {consume.us("kafka") + produce.us("kafka"):.0f}, Postgres
{batch.us("postgres"):.0f}). On this machine's {CORES} cores that is a ceiling of **{CORES * 1e6 / floor:,.0f} events/s** for everything
together, and one service process (Python runs on one core) can do at most {1e6 / client:,.0f} events/s of that work.
Tandem's services write two rows an event (the inbox claim and the outbox row, which the relay
deletes once published), so their floor is at least {with_outbox:.0f} µs, a ceiling of {CORES * 1e6 / with_outbox:,.0f} events/s on
{CORES} cores. Against the targets: the bare client work is {client / (1000 * target_cpu_ms):.0%} of the {target_cpu_ms} ms of service CPU
an event may cost, and {best:,} events/s would take {best * floor / 1e6:.2f} cores at this floor
({best * with_outbox / 1e6:.2f} with the outbox) before any of a handler's own work.

Waiting, not CPU: a one-row insert + COMMIT takes {on.ms(0.5):.2f} ms (p50), {on.ms(0.5) - off.ms(0.5):.2f} ms of it the wait
for the WAL flush, so a consumer that committed every event on one connection could not pass
{1000 / on.ms(0.5):,.0f} events/s; at one commit a batch of {CONSUMER_BATCH} that is {1000 * on.ms(0.5) / CONSUMER_BATCH:.1f} µs an event. A producer
that waits for each acknowledgement gets {single.rate:,.0f} messages/s ({1000 / single.rate:.1f} ms each, the {limits.linger_ms} ms
linger included), against {produce.rate:,.0f}/s sent {OUTBOX_BATCH} at a time; the broker's CPU goes by request more than by
message ({single.us("kafka"):,.0f} µs for a message sent alone, {produce.us("kafka"):.0f} µs for one in a batch). Each Kafka hop takes at least
{trip.ms(0.5):.1f} ms (p50, produce → consume; {bare_trip.ms(0.5):.1f} ms without the linger), so a chain of events through several services pays that once per hop."""


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="development: a tenth of the counts; nothing written")
    parser.add_argument("--rows", type=int, help=f"rows per insert step ({ROWS:,})")
    parser.add_argument("--messages", type=int, help=f"messages produced in batches and consumed ({MESSAGES:,})")
    parser.add_argument("--singles", type=int, help=f"messages sent one send_and_wait at a time ({SINGLE_SENDS:,})")
    parser.add_argument("--commits", type=int, help=f"one-row commits timed one by one ({COMMITS:,})")
    parser.add_argument("--group-seconds", type=float, help=f"seconds per group-commit step ({GROUP_COMMIT_SECONDS})")
    parser.add_argument("--trips", type=int, help=f"produce → consume round trips ({ROUND_TRIPS:,})")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args, _ = parser.parse_known_args()  # `make bench` hands every benchmark the same arguments
    scale = 10 if args.quick else 1
    for key, value in (
        ("rows", ROWS),
        ("messages", MESSAGES),
        ("singles", SINGLE_SENDS),
        ("commits", COMMITS),
        ("group_seconds", GROUP_COMMIT_SECONDS),
        ("trips", ROUND_TRIPS),
    ):
        if getattr(args, key) is None:
            setattr(args, key, value / scale if isinstance(value, float) else value // scale)

    # The CPU of this benchmark's own Postgres and Kafka processes is counted: never servers given by the environment.
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.pop(variable, None)
    load_before, started = uptime(), time.monotonic()
    with local_infrastructure() as (infra, url):
        kafka = infra.kafka
        assert infra.postgres is not None and infra.postgres.process is not None  # started here: the env is cleared
        assert isinstance(kafka, LocalKafka) and kafka.process is not None
        meter = Meter(
            CpuMeter({"client": [os.getpid()], "postgres": [infra.postgres.process.pid], "kafka": [kafka.process.pid]})
        )
        limits = uvloop.run(measure_all(url, infra.bootstrap_servers, meter, args))
    body = render(limits, load_before, uptime())
    counts = {"rows": ROWS, "messages": MESSAGES, "singles": SINGLE_SENDS, "commits": COMMITS, "trips": ROUND_TRIPS}
    if any(getattr(args, key) != default for key, default in counts.items()):
        body += (
            f"\nRun with smaller counts than the defaults (`--rows {args.rows} --messages {args.messages} --singles "
            f"{args.singles} --commits {args.commits} --trips {args.trips}`; the defaults are "
            + ", ".join(f"{default:,} {key}" for key, default in counts.items())
            + ") to keep it to a few minutes on the busy machine.\n"
        )
    body += f"\nThe whole benchmark took {(time.monotonic() - started) / 60:.1f} min.\n"
    print(body)
    if args.quick or args.no_write:
        print("(--quick or --no-write: docs/benchmarks.md not written)")
    else:
        write_section("limits", "What this machine can do at most: bare inserts, commits, Kafka", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
