"""A relationship's term on a real PostgreSQL and Apache Kafka, on a fast program clock: the heads-up
a week before, the end at `term_days` (`term_completed`), and the mentor's place taken again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.entrypoints.app import build_service
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Watcher
from tests.services.matching.service.test_matching_service import WATCH, Portal, mentee, mentor, onboard
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


async def test_a_short_term_ends_on_time_after_a_heads_up_and_the_mentors_place_is_reused(
        database_url, bootstrap_servers, topic_prefix):
    # A program day a real second; the response window (30 days) outlasts the test.
    settings = settings_for(MatchingSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, clock_speed=86_400.0,
                            response_window_hours=720.0, term_check_seconds=0.2)
    # Two replicas follow the terms: the heads-up and the end still happen once.
    async with build_service(settings).running(), build_service(settings).running(), \
            Watcher(bootstrap_servers, WATCH, topic_prefix) as w, \
            Portal(bootstrap_servers, topic_prefix, database_url) as pub:
        await pub.publish(ev.ProgramConfigured(program_id="prog-1", name="Short", term_days=9))

        async def configured():
            return await fetch(database_url, "SELECT 1 FROM matching.programs WHERE term_days = 9")
        await eventually(configured, 30, "the program's term")
        await onboard(pub, mentor("m1", capacity=1), mentee("ana"), mentee("bo"))
        await pub.publish(ev.MatchRequested(mentee_id="ana", program_id="prog-1"))
        proposal = (await w.wait_for(lambda w: w.of_type("match.proposed"), 60, "a proposal"))[0].data
        await pub.publish(ev.ProposalAccepted(proposal_id=proposal["proposal_id"], participant_id="m1"))
        established = (await w.wait_for(lambda w: w.of_type("match.established"), 60, "the match"))[0].data
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))  # m1 is full meanwhile
        await w.wait_for(lambda w: w.of_type("match.unavailable"), 30, "no mentor for Bo yet")
        notice = (await w.wait_for(lambda w: w.of_type("relationship.end.scheduled"), 30, "the heads-up"))[0]
        ended = (await w.wait_for(lambda w: w.of_type("match.ended"), 30, "the end of the term"))[0]
        await pub.publish(ev.MatchRequested(mentee_id="bo", program_id="prog-1"))
        second = (await w.wait_for(lambda w: len(w.of_type("match.proposed")) >= 2 and w.of_type("match.proposed"),
                                   30, "Bo's proposal"))[1].data
    ends_at = datetime.fromisoformat(established["established_at"]) + timedelta(days=9)
    assert notice.data == {"relationship_id": established["relationship_id"], "program_id": "prog-1",
                           "mentor_id": "m1", "mentee_id": "ana", "ends_at": ends_at.isoformat().replace("+00:00", "Z")}
    told = datetime.fromisoformat(notice.envelope["time"])
    assert timedelta(days=7) - timedelta(hours=12) <= ends_at - told <= timedelta(days=7)  # a week ahead
    assert (ended.data["reason_code"], ended.data["reason"]) == ("term_completed", "term completed")
    assert ends_at <= datetime.fromisoformat(ended.data["ended_at"]) <= ends_at + timedelta(hours=12)
    assert (second["mentee_id"], second["mentor_id"]) == ("bo", "m1")  # the mentor's place is free again
    assert len(w.of_type("relationship.end.scheduled")) == 1 and len(w.of_type("match.ended")) == 1
    assert not [o for o in w.seen if o.topic.endswith(topics.DLQ_SUFFIX)]
    rows = await fetch(database_url, "SELECT status, end_notice_at IS NOT NULL AS told FROM matching.relationships")
    assert [tuple(r.values()) for r in rows] == [("ended", True)]
