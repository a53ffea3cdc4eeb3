"""An upstream system written to the earlier docs/events.md answers proposals as `match.declined` and
`match.accepted` on match-responses.v1: over a real Kafka and PostgreSQL, matching applies both (the
next mentor is asked, then the match is established), dead-letters neither, and counts both on its
/metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, generate_latest

from services.matching.entrypoints.app import build_service
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher, new_id
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


def old_style(event_type: str, data: dict) -> bytes:
    """An envelope as the earlier docs described it."""
    return json.dumps({"specversion": "1.0", "id": new_id("legacy-"), "source": "/legacy/portal", "type": event_type,
                       "time": "2027-01-04T08:00:00Z", "subject": data["participant_id"], "data": data}).encode()


def counted(event_type: str) -> float:
    return REGISTRY.get_sample_value("tandem_deprecated_event_types_total",
                                     {"topic": topics.MATCH_RESPONSES, "type": event_type}) or 0.0


async def test_old_answer_names_still_decline_and_establish(database_url, bootstrap_servers, topic_prefix):
    settings = settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START)
    watch = [topics.MATCHES, topics.dlq(topics.MATCH_RESPONSES)]
    before = {t: counted(t) for t in ("match.accepted", "match.declined")}
    async with build_service(settings).running(), Watcher(bootstrap_servers, watch, topic_prefix) as w, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        for person in (onboarded(pid="best", roles=("mentor",), seniority=8, capacity=1, skills=("public speaking",)),
                       onboarded(pid="second", roles=("mentor",), seniority=8, capacity=1, skills=("negotiation",)),
                       onboarded(pid="ana", seniority=2, goals=("public speaking",))):
            await pub.publish(person)

        async def stored():
            return (await fetch(database_url, "SELECT count(*) AS n FROM matching.participants"))[0]["n"] >= 3
        await eventually(stored, 30, "the profiles")

        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        first = (await w.wait_for(lambda w: w.of_type("match.proposed"), 30, "a proposal"))[0].data
        assert first["mentor_id"] == "best"
        await pub.send_raw(topics.MATCH_RESPONSES, old_style("match.declined", {
            "proposal_id": first["proposal_id"], "participant_id": "best", "reason": "no time this quarter"}), key="best")
        second = (await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2 and w.of_type("match.proposed"),
                                   30, "the next proposal"))[1].data
        assert second["mentor_id"] == "second"
        await pub.send_raw(topics.MATCH_RESPONSES, old_style("match.accepted", {
            "proposal_id": second["proposal_id"], "participant_id": "second"}), key="second")
        established = (await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match"))[0].data

    assert (established["mentee_id"], established["mentor_id"]) == ("ana", "second")
    assert [o.data["reason"] for o in w.of_type("match.declined", topics.MATCHES)] == ["no time this quarter"]
    assert not w.on_topic(topics.dlq(topics.MATCH_RESPONSES))
    assert {t: counted(t) - before[t] for t in before} == {"match.accepted": 1, "match.declined": 1}
    scraped = generate_latest(REGISTRY).decode()  # what the service's /metrics serves
    assert 'tandem_deprecated_event_types_total{topic="match-responses.v1",type="match.accepted"}' in scraped
