"""`tandem dlq`: list what a service gave up on, fix the cause, replay it; replaying twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.matching.entrypoints.app import build_service
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.cli import main
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration


async def test_list_then_replay_once_the_cause_is_fixed(database_url, bootstrap_servers, topic_prefix, capsys):
    settings = settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, max_deferrals=2, clock_start=datetime(2027, 1, 4, 6, tzinfo=UTC))
    cli = ["--bootstrap-servers", bootstrap_servers, "--prefix", topic_prefix]
    async with build_service(settings).running(), \
            Watcher(bootstrap_servers, [topics.MATCHES, topics.dlq(topics.MATCH_REQUESTS)], topic_prefix) as w, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        request = await pub.publish(ev.MatchRequested(mentee_id="late-ana", program_id="prog-1"))
        await w.wait_for(lambda w: w.on_topic(topics.dlq(topics.MATCH_REQUESTS)), 60, "the dead letter")

        assert await _run(["dlq", "list", "--topic", topics.MATCH_REQUESTS, *cli]) == 0
        listed = capsys.readouterr().out
        assert request.id in listed and "no profile yet for late-ana" in listed and "\tmatching\t" in listed
        assert "1 dead letters" in listed

        # The cause is fixed: the profiles arrive. Replaying the request now makes a proposal.
        await pub.publish(onboarded(pid="late-ana", seniority=2, goals=("leadership",)))
        await pub.publish(onboarded(pid="mentor-1", roles=("mentor",), seniority=8, capacity=2, skills=("leadership",)))

        async def known():
            return len(await fetch(database_url, "SELECT 1 FROM matching.participants")) == 2
        await eventually(known, 30, "the profiles")
        assert await _run(["dlq", "replay", "--topic", topics.MATCH_REQUESTS, "--id", request.id, *cli]) == 0
        await w.wait_for(lambda w: w.of_type("match.proposed"), 30, "the proposal")
        assert await _run(["dlq", "replay", "--topic", topics.MATCH_REQUESTS, *cli]) == 0  # again: harmless

        async def twice_consumed():
            rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.inbox WHERE event_id = $1", request.id)
            return rows[0]["n"] == 1
        await eventually(twice_consumed, 30, "the replays taken in")
    assert len(w.of_type("match.proposed")) == 1
    assert "replayed 1 dead letters" in capsys.readouterr().out


async def _run(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)


@pytest.mark.parametrize("argv, message", [
    (["dlq", "list", "--since", "yesterday"], "is not an ISO time"),
    (["dlq", "list", "--since", "2027-01-04T08:00"], "has no time zone"),
    (["dlq", "replay", "--topic", "nope.v1", "--bootstrap-servers", "127.0.0.1:1"], "unknown topic 'nope.v1'"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
