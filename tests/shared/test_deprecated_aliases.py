"""Type strings an earlier docs/events.md published are still read: `match.accepted` and
`match.declined` on match-responses.v1 arrive as `proposal.accepted` / `proposal.declined`, are
counted, and reach the handler of the current type."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from shared.consumer import Consumer, InvalidMessage, Runtime, parse_event
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.events import DEPRECATED_ALIASES, canonical_type, model_for

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


def raw(event_type: str, data: dict, event_id: str = "old-1") -> bytes:
    return json.dumps({"specversion": "1.0", "id": event_id, "source": "/legacy/portal", "type": event_type,
                       "time": "2027-01-04T08:00:00Z", "data": data}).encode()


def deprecated_count(topic: str, event_type: str) -> float:
    return REGISTRY.get_sample_value("tandem_deprecated_event_types_total", {"topic": topic, "type": event_type}) or 0.0


def test_the_alias_table_resolves_only_on_its_own_topic():
    assert model_for(topics.MATCH_RESPONSES, "match.accepted") is ev.ProposalAccepted
    assert model_for(topics.MATCH_RESPONSES, "match.declined") is ev.ProposalDeclined
    assert model_for(topics.MATCHES, "match.declined") is ev.MatchDeclined  # the fact, unchanged
    assert model_for(topics.MATCHES, "match.accepted") is None
    assert canonical_type(topics.MATCH_RESPONSES, "match.accepted") == "proposal.accepted"
    assert canonical_type(topics.MATCHES, "match.declined") == "match.declined"
    for topic, aliases in DEPRECATED_ALIASES.items():
        for alias, current in aliases.items():
            assert current in ev.CATALOGUE[topic] and alias not in ev.CATALOGUE[topic]


def test_match_accepted_on_match_responses_parses_to_proposal_accepted_and_is_counted():
    before = deprecated_count(topics.MATCH_RESPONSES, "match.accepted")
    envelope, data = parse_event(topics.MATCH_RESPONSES,
                                 raw("match.accepted", {"proposal_id": "prop-91ab", "participant_id": "p-000777"}))
    assert data == ev.ProposalAccepted(proposal_id="prop-91ab", participant_id="p-000777")
    assert envelope.type == "proposal.accepted" and envelope.id == "old-1" and envelope.source == "/legacy/portal"
    assert deprecated_count(topics.MATCH_RESPONSES, "match.accepted") == before + 1


def test_match_declined_on_match_responses_is_the_mentors_answer_with_its_reason():
    before = deprecated_count(topics.MATCH_RESPONSES, "match.declined")
    envelope, data = parse_event(topics.MATCH_RESPONSES, raw("match.declined", {
        "proposal_id": "prop-91ab", "participant_id": "p-000777", "reason": "no time this quarter"}))
    assert isinstance(data, ev.ProposalDeclined) and data.reason == "no time this quarter"
    assert envelope.type == "proposal.declined"
    assert deprecated_count(topics.MATCH_RESPONSES, "match.declined") == before + 1


def test_the_match_declined_fact_on_matches_is_not_an_alias_and_not_counted():
    before = deprecated_count(topics.MATCHES, "match.declined")
    envelope, data = parse_event(topics.MATCHES, raw("match.declined", {
        "proposal_id": "prop-91ab", "program_id": "global-2027", "mentee_id": "p-000123", "mentor_id": "p-000777"}))
    assert isinstance(data, ev.MatchDeclined) and envelope.type == "match.declined"
    assert deprecated_count(topics.MATCHES, "match.declined") == before


def test_current_types_are_not_counted_as_deprecated():
    before = deprecated_count(topics.MATCH_RESPONSES, "proposal.accepted")
    parse_event(topics.MATCH_RESPONSES, raw("proposal.accepted", {"proposal_id": "p", "participant_id": "m"}))
    assert deprecated_count(topics.MATCH_RESPONSES, "proposal.accepted") == before == 0


@pytest.mark.parametrize("topic, event_type, data, reason", [
    (topics.MATCH_RESPONSES, "match.accepted", {"proposal_id": "prop-91ab"},
     "invalid match.accepted (deprecated name of proposal.accepted) data: participant_id: Field required"),
    # The matches.v1 fact sent to match-responses.v1 is not a mentor's answer.
    (topics.MATCH_RESPONSES, "match.declined", {"proposal_id": "prop-91ab", "program_id": "global-2027",
                                                "mentee_id": "p-000123", "mentor_id": "p-000777"},
     "participant_id: Field required"),
    (topics.MATCHES, "match.accepted", {"proposal_id": "prop-91ab", "participant_id": "p-000777"},
     "unknown event type 'match.accepted' on matches.v1"),
])
def test_an_alias_still_refuses_what_the_current_type_refuses(topic, event_type, data, reason):
    with pytest.raises(InvalidMessage) as info:
        parse_event(topic, raw(event_type, data))
    assert reason in str(info.value)


class _Inbox:
    """The consumer's view of a unit of work: the inbox claim, recorded."""

    def __init__(self, uow) -> None:
        self.uow, self.claimed = uow, []

    @asynccontextmanager
    async def transaction(self):
        async def claim_inbox(topic, event_id, event_type, digest):
            self.claimed.append((topic, event_id, event_type))
            return True
        self.uow.claim_inbox = claim_inbox
        yield self.uow


async def test_matchings_consumer_establishes_the_match_from_a_match_accepted_envelope():
    """Matching's table is keyed by ProposalAccepted; a `match.accepted` message reaches that handler."""
    from services.matching.service_layer.handlers import (
        SUBSCRIPTIONS,
        on_proposal_accepted,
    )
    from services.matching.service_layer.matchmaking import MatchingDeps
    from services.matching.settings import MatchingSettings
    from tests.services.matching.fakes import FakeMatchingUnitOfWork
    from tests.support.fakes import FixedClock, claim_through_uow, deliver
    from tests.support.people import onboarded

    assert SUBSCRIPTIONS[ev.ProposalAccepted] is on_proposal_accepted
    uow, deps = FakeMatchingUnitOfWork(FixedClock(NOW)), MatchingDeps.from_settings(MatchingSettings())
    for event in (onboarded(pid="m1", roles=("mentor",), seniority=8, capacity=1, skills=("negotiation",)),
                  onboarded(pid="ana", seniority=2, goals=("negotiation",)),
                  ev.MatchRequested(mentee_id="ana", program_id="prog-1")):
        await deliver(SUBSCRIPTIONS, event, uow, deps)
    for queued in uow.of_type(ev.ProfileChangeQueued) + uow.of_type(ev.MatchRequestQueued):  # matching's own queue
        await deliver(SUBSCRIPTIONS, queued, uow, deps)
    (proposal,) = uow.of_type(ev.MatchProposed)

    inbox = _Inbox(uow)
    consumer = Consumer("matching", SUBSCRIPTIONS)
    runtime = Runtime(name="matching", topic_prefix="", producer=None, transaction=inbox.transaction, deps=deps,
                      claim_inbox=claim_through_uow)
    value = raw("match.accepted", {"proposal_id": proposal.proposal_id, "participant_id": "m1"}, event_id="legacy-7")
    record = ConsumerRecord(topics.MATCH_RESPONSES, 0, 0, 0, 0, None, value, None, 0, len(value), ())
    before = deprecated_count(topics.MATCH_RESPONSES, "match.accepted")

    assert await consumer.dispatch(runtime, topics.MATCH_RESPONSES, record) == "handled"
    (established,) = uow.of_type(ev.MatchEstablished)
    assert (established.mentee_id, established.mentor_id) == ("ana", "m1")
    assert inbox.claimed == [(topics.MATCH_RESPONSES, "legacy-7", "proposal.accepted")]
    assert uow.cause.type == "proposal.accepted"
    assert deprecated_count(topics.MATCH_RESPONSES, "match.accepted") == before + 1
    assert REGISTRY.get_sample_value("tandem_events_consumed_total", {
        "service": "matching", "topic": topics.MATCH_RESPONSES, "type": "proposal.accepted", "outcome": "handled"})
