"""Matching as a service on a real PostgreSQL and Apache Kafka: the proposal life-cycle, expiry on
the program clock, offboarding with re-matching, cohort rounds, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.matching.entrypoints.app import build_service
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
WATCH = [topics.MATCHES, topics.dlq(topics.MATCH_REQUESTS), topics.dlq(topics.MATCH_RESPONSES),
         topics.dlq(topics.RELATIONSHIP_COMMANDS)]


class Portal(Publisher):
    def __init__(self, bootstrap_servers: str, topic_prefix: str, database_url: str) -> None:
        super().__init__(bootstrap_servers, topic_prefix=topic_prefix)
        self.database_url = database_url


@pytest.fixture
def make_settings(database_url, bootstrap_servers, topic_prefix):
    def make(**overrides) -> MatchingSettings:
        return settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, **overrides)
    return make


def mentor(pid: str, **kw) -> ev.ParticipantOnboarded:
    defaults = dict(roles=("mentor",), seniority=8, capacity=1, skills=("public speaking", "negotiation"))
    return onboarded(pid=pid, **{**defaults, **kw})


def mentee(pid: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, **{**dict(seniority=2, goals=("public speaking",)), **kw})


async def onboard(pub: Publisher, *people) -> None:
    """Publish profiles and wait until matching has them (they travel on another topic than requests)."""
    for p in people:
        await pub.publish(p)
    url = pub.database_url

    async def stored():
        rows = await fetch(url, "SELECT count(*) AS n FROM matching.participants")
        return rows[0]["n"] >= len(people)
    await eventually(stored, 30, "the profiles")


async def test_proposal_accept_establishes_and_decline_proposes_the_next_mentor(make_settings, bootstrap_servers, topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("best"), mentor("second", skills=("negotiation",)), mentee("ana"), mentee("bo"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        first = (await w.wait_for(lambda w: w.of_type("match.proposed"), 30, "a proposal"))[0].data
        assert first["mentor_id"] == "best" and first["explanation"]
        await pub.publish(ev.ProposalDeclined(proposal_id=first["proposal_id"], participant_id="best", reason="busy",
                                              reason_code="no_time"))
        second = (await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2 and w.of_type("match.proposed"),
                                   30, "the next proposal"))[1].data
        assert second["mentor_id"] == "second" and second["mentee_id"] == "ana"
        await pub.publish(ev.ProposalAccepted(proposal_id=second["proposal_id"], participant_id="second"))
        established = (await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match"))[0].data
        # Ana is matched now: asking again changes nothing. Bo gets the remaining mentor, "best".
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
        third = (await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 3 and w.of_type("match.proposed"),
                                  30, "Bo's proposal"))[2].data
    assert [(o.data["reason"], o.data["reason_code"]) for o in w.of_type("match.declined")] == [("busy", "no_time")]
    assert established["mentor_id"] == "second" and established["goals"] == ["public speaking"]
    assert third["mentee_id"] == "bo" and third["mentor_id"] == "best"
    assert len(w.of_type("match.proposed")) == 3


async def test_unanswered_proposals_expire_on_the_program_clock(make_settings, bootstrap_servers, topic_prefix, database_url):
    # 72 program hours pass in about 7 real seconds.
    settings = make_settings(clock_speed=36_000.0)
    async with build_service(settings).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("slow"), mentor("quick", skills=("negotiation",)), mentee("ana"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        await w.wait_for(lambda w: w.of_type("match.expired") and len(w.of_type("match.proposed")) >= 2, 60,
                         "expiry and a new proposal")
    expired = w.of_type("match.expired")[0].data
    proposals = [o.data for o in w.of_type("match.proposed")]
    assert expired["mentor_id"] == "slow" and proposals[1]["mentor_id"] == "quick"
    hours = (datetime.fromisoformat(expired["expired_at"]) - datetime.fromisoformat(proposals[0]["expires_at"]))
    assert hours.total_seconds() >= 0  # never before the response window ends


async def test_offboarding_a_mentor_ends_the_relationship_and_rematches_only_that_mentee(make_settings, bootstrap_servers, topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("leaving", capacity=1), mentor("staying", capacity=2, skills=("negotiation",)),
                      mentee("ana"), mentee("bo", goals=("negotiation",)))
        for pid in ("ana", "bo"):
            await pub.publish(ev.MatchRequested(mentee_id=pid, program_id="prog-1"))
        proposals = await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2 and w.of_type("match.proposed"),
                                     30, "two proposals")
        for p in proposals:
            await pub.publish(ev.ProposalAccepted(proposal_id=p.data["proposal_id"], participant_id=p.data["mentor_id"]))
        await w.wait_for(lambda w: len(w.of_type("match.established")) >= 2, 30, "two matches")
        pairs = {o.data["mentee_id"]: o.data for o in w.of_type("match.established")}
        assert pairs["ana"]["mentor_id"] == "leaving" and pairs["bo"]["mentor_id"] == "staying"
        await pub.publish(ev.ParticipantOffboarded(participant_id="leaving", program_id="prog-1", reason="offboarded"))
        await w.wait_for(lambda w: w.of_type("match.ended") and len(w.of_type("match.proposed")) >= 3, 30,
                         "the end and a new proposal")
    ended = w.of_type("match.ended")
    assert [(o.data["relationship_id"], o.data["reason"]) for o in ended] == [(pairs["ana"]["relationship_id"], "offboarded")]
    rematch = w.of_type("match.proposed")[2].data
    assert rematch["mentee_id"] == "ana" and rematch["mentor_id"] == "staying"


async def test_cohort_round_proposes_for_every_matchable_mentee_and_explains_the_rest(make_settings, bootstrap_servers, topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("m1", capacity=2), mentor("m2", capacity=1, languages=("es",)),
                      mentee("ana"), mentee("bo"), mentee("cy", languages=("ja",)), mentee("di", languages=("es",)))
        await pub.publish(ev.CohortRoundRequested(program_id="prog-1", round_id="r1"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) + len(w.of_type("match.unavailable")) >= 4, 30,
                         "the round's outcome")
    proposed = {o.data["mentee_id"]: o.data["mentor_id"] for o in w.of_type("match.proposed")}
    assert proposed == {"ana": "m1", "bo": "m1", "di": "m2"}
    assert all(o.data["round_id"] == "r1" for o in w.of_type("match.proposed"))
    (unmatched,) = w.of_type("match.unavailable")
    assert unmatched.data["mentee_id"] == "cy" and "language" in unmatched.data["reason"]
    rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.proposals WHERE status = 'pending'")
    assert rows[0]["n"] == 3


async def test_bad_requests_and_answers_are_dead_lettered(make_settings, bootstrap_servers, topic_prefix, database_url):
    settings = make_settings(max_deferrals=3)
    async with build_service(settings).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("m1"), mentee("ana"))
        await pub.publish(ev.MatchRequested(mentee_id="m1", program_id="prog-1"))
        await pub.publish(ev.MatchRequested(mentee_id="ghost", program_id="prog-1"))
        await pub.publish(ev.ProposalAccepted(proposal_id="no-such-proposal", participant_id="m1"))
        await pub.send_raw(topics.MATCH_REQUESTS, b'{"specversion": "1.0", "type": "match.requested"}', key="x")
        await w.wait_for(lambda w: len(w.on_topic(topics.dlq(topics.MATCH_REQUESTS))) >= 3
                         and w.on_topic(topics.dlq(topics.MATCH_RESPONSES)), 60, "dead letters")
    requests = sorted(o.headers["dlq.error"] for o in w.on_topic(topics.dlq(topics.MATCH_REQUESTS)))
    assert requests[0] == "m1 is not a mentee"
    assert requests[1].startswith("not a CloudEvents 1.0 envelope")
    assert requests[2] == "still unknown after 3 attempts: no profile yet for ghost"
    assert w.on_topic(topics.dlq(topics.MATCH_RESPONSES))[0].headers["dlq.error"] == "unknown proposal no-such-proposal"


async def test_people_are_matched_within_their_own_program(make_settings, bootstrap_servers, topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("other-program", program_id="prog-2"), mentee("ana"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        (unavailable,) = await w.wait_for(lambda w: w.of_type("match.unavailable"), 30, "the answer")
    assert not w.of_type("match.proposed")
    assert unavailable.data["mentee_id"] == "ana"


async def test_updates_change_future_matching_only_and_a_leaving_mentee_ends_their_relationship(make_settings, bootstrap_servers, topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("m1", capacity=1), mentee("ana"), mentee("bo"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        first = (await w.wait_for(lambda w: w.of_type("match.proposed"), 30, "a proposal"))[0].data
        await pub.publish(ev.ProposalAccepted(proposal_id=first["proposal_id"], participant_id="m1"))
        await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match")
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
        await w.wait_for(lambda w: w.of_type("match.unavailable"), 30, "no place for Bo")
        # The mentor now takes two mentees and moves to other hours: Ana's relationship stays.
        updated = mentor("m1", capacity=2, start="10:00", end="18:00").model_dump(mode="json")
        await pub.publish(ev.ParticipantUpdated.model_validate(updated))

        async def capacity_stored():
            rows = await fetch(database_url, "SELECT mentor_capacity FROM matching.participants WHERE participant_id = 'm1'")
            return rows[0]["mentor_capacity"] == 2
        await eventually(capacity_stored, 30, "the update")
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2, 30, "Bo's proposal")
        await pub.publish(ev.ParticipantOffboarded(participant_id="ana", program_id="prog-1", reason="left the company"))
        await w.wait_for(lambda w: w.of_type("match.ended"), 30, "Ana's relationship ending")
    assert w.of_type("match.unavailable")[0].data["reason_code"] == "mentors_at_capacity"
    assert w.of_type("match.proposed")[1].data["mentee_id"] == "bo"
    (ended,) = w.of_type("match.ended")
    assert ended.data["mentee_id"] == "ana" and ended.data["reason"] == "left the company"
    relationships = await fetch(database_url, "SELECT mentee_id, status FROM matching.relationships")
    assert [(r["mentee_id"], r["status"]) for r in relationships] == [("ana", "ended")]


async def test_two_replicas_in_one_consumer_group_answer_every_request(make_settings, bootstrap_servers, topic_prefix,
                                                                      database_url):
    """The measured failure before: a second replica never saw new mentors and dead-lettered requests."""
    settings = make_settings()
    async with build_service(settings).running(), build_service(settings).running(), \
            Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, *[mentor(f"m{i}", capacity=2) for i in range(4)],
                      *[mentee(f"e{i}") for i in range(8)])
        for i in range(8):  # keyed by mentee: spread over the partitions, so over both replicas
            await pub.publish(ev.MatchRequested(mentee_id=f"e{i}", program_id="prog-1"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 8, 60, "a proposal for every mentee")
        # A mentor who joins now is seen by whichever replica takes the next request.
        await onboard(pub, mentor("late", capacity=1), mentee("e8"))
        await pub.publish(ev.MatchRequested(mentee_id="e8", program_id="prog-1"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 9, 60, "the late mentee's proposal")
    proposed = [o.data for o in w.of_type("match.proposed")]
    assert sorted(p["mentee_id"] for p in proposed) == sorted(f"e{i}" for i in range(9))
    assert proposed[-1]["mentor_id"] == "late"
    loads = {}
    for p in proposed:
        loads[p["mentor_id"]] = loads.get(p["mentor_id"], 0) + 1
    assert max(loads.values()) <= 2
    assert not w.on_topic(topics.dlq(topics.MATCH_REQUESTS)) and not w.of_type("match.unavailable")


async def test_the_team_ends_a_relationship_with_a_rematch_and_keeps_the_two_apart(make_settings, bootstrap_servers,
                                                                                  topic_prefix, database_url):
    async with build_service(make_settings()).running(), Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await onboard(pub, mentor("m1", capacity=2), mentor("m2", skills=("negotiation",)), mentee("ana"),
                      mentee("bo"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        first = (await w.wait_for(lambda w: w.of_type("match.proposed"), 30, "a proposal"))[0].data
        await pub.publish(ev.ProposalAccepted(proposal_id=first["proposal_id"], participant_id="m1"))
        rid = (await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match"))[0].data["relationship_id"]

        # Bo is a participant, but not one of the two: refused, and nothing changes.
        await pub.publish(ev.RelationshipEndRequested(relationship_id=rid, requested_by="bo", reason="not mine",
                                                      do_not_pair_again=True))
        command = ev.RelationshipEndRequested(relationship_id=rid, requested_by="ops:sanne", reason="a fresh start",
                                              rematch=True, do_not_pair_again=True)
        envelope = await pub.publish(command)
        await pub.send_raw(topics.RELATIONSHIP_COMMANDS, envelope.to_json(), key=rid)  # delivered twice
        await pub.publish(command)  # and asked again once it has ended
        await pub.publish(ev.RelationshipEndRequested(relationship_id="rel-nope", requested_by="ops:sanne",
                                                      reason="typo"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2
                         and len(w.on_topic(topics.dlq(topics.RELATIONSHIP_COMMANDS))) >= 2, 30,
                         "the rematch and two dead letters")
        # m1's place is free again: Bo gets it (and m1 still has one more).
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
        await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 3, 30, "Bo's proposal")
        # m2 declines Ana: m1 has a free place but is kept apart from her, so nobody is left.
        rematch = w.of_type("match.proposed")[1].data
        await pub.publish(ev.ProposalDeclined(proposal_id=rematch["proposal_id"], participant_id="m2"))
        await w.wait_for(lambda w: w.of_type("match.unavailable"), 30, "no mentor left for Ana")
        await pub.publish(ev.CohortRoundRequested(program_id="prog-1", round_id="r1", mentee_ids=["ana"]))
        await w.wait_for(lambda w: len(w.of_type("match.unavailable")) >= 2, 30, "nor in a cohort round")

        async def both_commands_taken():  # the first and the one after the end (the redelivery is skipped)
            rows = await fetch(database_url, "SELECT count(*) AS n FROM matching.inbox "
                                             "WHERE event_type = 'relationship.end.requested'")
            return rows[0]["n"] == 2
        await eventually(both_commands_taken, 30, "both end commands")
    (ended,) = w.of_type("match.ended")
    assert ended.data["relationship_id"] == rid and ended.data["reason_code"] == "ended_on_request"
    assert ended.data["requested_by"] == "ops:sanne" and ended.data["reason"] == "a fresh start"
    assert (rematch["mentee_id"], rematch["mentor_id"]) == ("ana", "m2")
    bo = w.of_type("match.proposed")[2].data
    assert (bo["mentee_id"], bo["mentor_id"]) == ("bo", "m1")
    assert [(u.data["mentee_id"], u.data["reason_code"]) for u in w.of_type("match.unavailable")] == \
        [("ana", "previously_paired")] * 2
    assert len(w.of_type("match.proposed")) == 3
    assert sorted(o.headers["dlq.error"] for o in w.on_topic(topics.dlq(topics.RELATIONSHIP_COMMANDS))) == \
        [f"bo is not part of relationship {rid}", "unknown relationship rel-nope"]
    kept = await fetch(database_url, "SELECT mentee_id, mentor_id, decided_by FROM matching.kept_apart")
    assert [tuple(r.values()) for r in kept] == [("ana", "m1", "ops:sanne")]
