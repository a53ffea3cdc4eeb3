"""Matching owns programs, on a real PostgreSQL and Apache Kafka: requests queued on match-work.v1
keyed by program, several replicas with no program lock contention, a batch of one program's
requests costing its standing and its proposal per request, and a rolled-back batch forgotten."""

from __future__ import annotations

import logging
from collections import Counter

import asyncpg
import pytest

from services.matching.entrypoints.app import build_service
from services.matching.service_layer.handlers import on_match_request_queued, on_match_work
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from shared.waves import Applied
from tandem.client import Watcher
from tests.services.matching.service.test_matching_service import (
    START,
    WATCH,
    Portal,
    mentee,
    mentor,
    onboard,
)
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
LOCK = "SELECT k, CASE WHEN"  # ProgramRepository.lock: any number of programs in one statement


@pytest.fixture
def make_settings(database_url, bootstrap_servers, topic_prefix):
    def make(**overrides) -> MatchingSettings:
        return settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, **overrides)
    return make


async def test_replicas_share_programs_and_never_wait_for_each_others_locks(make_settings, bootstrap_servers,
                                                                           topic_prefix, database_url, caplog):
    caplog.set_level(logging.WARNING)
    settings = make_settings()
    programs = ("prog-1", "prog-2", "prog-3")
    async with build_service(settings).running(), build_service(settings).running(), \
            Watcher(bootstrap_servers, [*WATCH, topics.MATCH_WORK], topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, *[mentor(f"{p}-m{i}", program_id=p, capacity=3) for p in programs for i in range(2)],
                      *[mentee(f"{p}-e{i}", program_id=p) for p in programs for i in range(6)])
        for i in range(6):  # keyed by mentee on match-requests.v1: both replicas take some in
            for p in programs:
                await pub.publish(ev.MatchRequested(mentee_id=f"{p}-e{i}", program_id=p))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 18, 60, "a proposal for every mentee")
    queued = w.of_type("match.request.queued")
    assert len(queued) == 18 and all(o.key == o.data["program_id"] for o in queued)
    proposed = [o.data for o in w.of_type("match.proposed")]
    assert sorted(p["mentee_id"] for p in proposed) == sorted(f"{p}-e{i}" for p in programs for i in range(6))
    assert all(p["mentor_id"].startswith(p["program_id"]) for p in proposed)
    held = Counter(p["mentor_id"] for p in proposed)
    assert max(held.values()) == 3  # six mentees, two mentors of three places each, per program
    assert not w.on_topic(topics.dlq(topics.MATCH_REQUESTS)) and not w.on_topic(topics.dlq(topics.MATCH_WORK))
    assert not [r for r in caplog.records if "being matched by another transaction" in r.getMessage()]


class RoundTrips:
    """Statements sent on one connection, by the start of their text."""

    def __init__(self, monkeypatch) -> None:
        self.conn: asyncpg.Connection | None = None
        self.sent: list[str] = []
        for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"):
            original = getattr(asyncpg.Connection, name)

            def counted(conn, *args, __original=original, __name=name, **kwargs):
                if conn is self.conn:
                    self.sent.append(" ".join(str(args[0]).split()) if args else __name)
                return __original(conn, *args, **kwargs)
            monkeypatch.setattr(asyncpg.Connection, name, counted)

    def of(self, start: str) -> int:
        return sum(1 for text in self.sent if text.startswith(start))

    def stop(self) -> None:
        """The connection goes back to the pool, where the service's own consumers may take it next."""
        self.conn = None


async def test_a_batch_of_one_programs_requests_costs_two_statements_each(make_settings, bootstrap_servers,
                                                                          topic_prefix, database_url, monkeypatch):
    service = build_service(make_settings())
    counted = RoundTrips(monkeypatch)
    async with service.running(), Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, *[mentor(f"m{i}", capacity=2) for i in range(5)], *[mentee(f"e{i}") for i in range(10)])
        async with service.transaction() as uow:  # as the consumer applies a batch: one transaction
            counted.conn = uow.conn._con  # the pool's proxy wraps the connection
            for i in range(10):
                await on_match_request_queued(
                    ev.MatchRequestQueued(program_id="prog-1", mentee_id=f"e{i}", request_id=f"r{i}"), uow, service.deps)
        counted.stop()
    assert counted.of("INSERT INTO proposals") == 10 and counted.of("SELECT EXISTS") == 10  # per request
    # Per program and batch, whatever the number of requests: the lock, the stamp and the settings
    # read once, the index caught up once (the profiles, stamped meanwhile or not: at most three
    # reads), the stamps written once; then the outbox, its wake-up and the commit.
    assert counted.of(LOCK) == 1 and counted.of("SELECT version FROM program_versions") == 1
    assert counted.of("SELECT mentor_id, count(*)") <= 1 and counted.of("SELECT participant_id FROM index_changes") <= 1
    assert counted.of("WITH v AS ( INSERT INTO program_versions") == 1  # the stamps, of programs and people
    assert len(counted.sent) <= 2 * 10 + 14, counted.sent


async def test_a_wave_of_requests_of_two_programs_costs_a_few_statements_in_all(make_settings, bootstrap_servers,
                                                                               topic_prefix, database_url, monkeypatch):
    """Applied as one wave (`on_match_work`), 20 requests of two programs cost no statement
    each: the locks of both programs in one, the standings in one, the proposals in one."""
    service = build_service(make_settings())
    counted = RoundTrips(monkeypatch)
    programs = ("prog-1", "prog-2")
    async with service.running(), Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, *[mentor(f"{p}-m{i}", program_id=p, capacity=2) for p in programs for i in range(5)],
                      *[mentee(f"{p}-e{i}", program_id=p) for p in programs for i in range(10)])
        wave = [Applied(new_envelope(type="match.request.queued", source="/tandem/matching", data=data, time=START),
                        data)
                for i in range(10) for p in programs
                for data in [ev.MatchRequestQueued(program_id=p, mentee_id=f"{p}-e{i}", request_id=f"r-{p}-{i}")]]
        async with service.transaction() as uow:
            counted.conn = uow.conn._con
            await on_match_work(wave, uow, service.deps)
        counted.stop()
    proposed = await fetch(database_url, "SELECT program_id, mentor_id FROM matching.proposals")
    assert len(proposed) == 20 and all(r["mentor_id"].startswith(r["program_id"]) for r in proposed)
    assert counted.of(LOCK) == 1 and counted.of("WITH new AS") == 1 and counted.of("SELECT w.mentee_id") == 1
    # The stamps and the settings of both programs in one statement each.
    assert counted.of("SELECT program_id, version FROM program_versions") == 1
    assert counted.of("SELECT version FROM program_versions") == 0
    assert counted.of("WITH v AS ( INSERT INTO program_versions") == 1
    # Per program the index caught up (at most three reads); then the outbox and the commit.
    assert len(counted.sent) <= 2 * 3 + 11, counted.sent


async def test_a_wave_of_profiles_and_requests_as_they_alternate_costs_a_few_statements_in_all(
        make_settings, bootstrap_servers, topic_prefix, database_url, monkeypatch):
    """Two programs whose new pairs come as they do on match-work.v1 (the mentor's profile stamp, the
    mentee's, then the request, program after program) are one wave (`on_match_work`): the people
    stamped read ahead in two statements, not read back before each request, and the proposals of
    one program written before the next stamp of that program only."""
    service = build_service(make_settings())
    counted = RoundTrips(monkeypatch)
    programs = ("prog-1", "prog-2")
    async with service.running(), Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, *[mentor(f"{p}-m0", program_id=p, capacity=1) for p in programs],
                      *[mentee(f"{p}-e0", program_id=p) for p in programs])
        async with service.transaction() as uow:  # the indexes built, as in a service that ran a while
            await uow.programs.lock(*programs)
            await service.deps.indexes.prepare(uow, programs)
        await onboard(pub, *[mentor(f"{p}-m{i}", program_id=p, capacity=1) for p in programs for i in range(1, 6)],
                      *[mentee(f"{p}-e{i}", program_id=p) for p in programs for i in range(1, 6)])

        async def all_stored():  # `onboard` counts every profile stored, those of the first call included
            return (await fetch(database_url, "SELECT count(*) AS n FROM matching.participants"))[0]["n"] == 24
        await eventually(all_stored, 30, "the second profiles")

        def applied(data) -> Applied:
            kind = "profile.change.queued" if isinstance(data, ev.ProfileChangeQueued) else "match.request.queued"
            return Applied(new_envelope(type=kind, source="/tandem/matching", data=data, time=START), data)

        wave = [applied(data) for i in range(1, 6) for p in programs
                for data in (ev.ProfileChangeQueued(program_id=p, participant_id=f"{p}-m{i}"),
                             ev.ProfileChangeQueued(program_id=p, participant_id=f"{p}-e{i}"),
                             ev.MatchRequestQueued(program_id=p, mentee_id=f"{p}-e{i}", request_id=f"r-{p}-{i}"))]
        async with service.transaction() as uow:
            counted.conn = uow.conn._con
            await on_match_work(wave, uow, service.deps)
        counted.stop()
    proposed = await fetch(database_url, "SELECT mentee_id, mentor_id FROM matching.proposals")
    assert len(proposed) == 10, proposed
    assert counted.of(LOCK) == 1 and counted.of("SELECT w.mentee_id") == 1  # the locks, the standings
    # People and loads: each program's catch-up with what the service's own consumer stamped meanwhile
    # (here it stamped the new people already), and the wave's read-ahead; none per request.
    assert counted.of("SELECT mentor_id, count(*)") <= 3 and counted.of("SELECT participant_id, program_id") <= 3
    # The proposals: written before a program's stamp when that program was answered since the last write.
    assert counted.of("WITH new AS") <= 5
    assert len(counted.sent) <= 30, counted.sent


async def test_a_rolled_back_batch_leaves_the_index_as_the_record_says(make_settings, bootstrap_servers,
                                                                       topic_prefix, database_url):
    service = build_service(make_settings())
    async with service.running(), Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("m1", capacity=1), mentee("ana"), mentee("bo"))

        def queued(mentee_id: str) -> ev.MatchRequestQueued:
            return ev.MatchRequestQueued(program_id="prog-1", mentee_id=mentee_id, request_id=f"r-{mentee_id}")

        with pytest.raises(RuntimeError, match="the batch fails after the proposal"):
            async with service.transaction() as uow:
                await on_match_request_queued(queued("ana"), uow, service.deps)  # m1's one place, in memory
                raise RuntimeError("the batch fails after the proposal")
        async with service.transaction() as uow:
            await on_match_request_queued(queued("bo"), uow, service.deps)
    # The rolled-back proposal is forgotten by the index too: m1's place went to Bo.
    rows = await fetch(database_url, "SELECT mentee_id, mentor_id, status FROM matching.proposals")
    assert [tuple(r) for r in rows] == [("bo", "m1", "pending")]
