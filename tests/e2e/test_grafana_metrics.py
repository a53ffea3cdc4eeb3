"""Every metric the Grafana dashboards query is one a running service really exports: the four
services run as processes, a little traffic goes through (including a dead letter and a retry),
and each /metrics is scraped."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher
from tests.support.people import onboarded
from tests.support.promql import dashboards, expressions, metric_names
from tests.support.runtime import eventually

pytestmark = pytest.mark.e2e
PROGRAM = "prog-metrics"


def _served(ports: list[int]) -> set[str]:
    names = set()
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        names |= {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    return names


async def test_every_panel_queries_metrics_the_services_export(system, infrastructure, topic_prefix):
    services, clock = system
    wanted = {name for board in dashboards().values() for _, expr in expressions(board) for name in metric_names(expr)}
    tag = uuid.uuid4().hex[:6]
    mentor, mentee, rid = f"mentor-{tag}", f"mentee-{tag}", f"rel-{tag}"
    async with Publisher(infrastructure.bootstrap_servers, topic_prefix=topic_prefix, now=clock.now) as pub:
        await pub.publish(onboarded(pid=mentor, roles=("mentor",), capacity=1, seniority=8, program_id=PROGRAM))
        await pub.publish(onboarded(pid=mentee, program_id=PROGRAM))
        now = clock.now()
        await pub.publish(ev.MatchProposed(proposal_id=f"p-{tag}", program_id=PROGRAM, mentee_id=mentee,
                                           mentor_id=mentor, score=0.9, explanation={},
                                           expires_at=now + timedelta(days=3)))
        await pub.publish(ev.MatchEstablished(relationship_id=rid, proposal_id=f"p-{tag}", program_id=PROGRAM,
                                              mentee_id=mentee, mentor_id=mentor, established_at=now))
        for n, model in enumerate((ev.MeetingCompleted, ev.MeetingMissed)):
            start = now - timedelta(days=2 - n)
            await pub.publish(model(meeting_id=f"m{n}-{tag}", relationship_id=rid, program_id=PROGRAM,
                                    mentor_id=mentor, mentee_id=mentee, occurrence=n + 1, start=start,
                                    end=start + timedelta(minutes=45),
                                    **({"absent": [mentor]} if model is ev.MeetingMissed else {})))
        await pub.publish(ev.FeedbackSubmitted(feedback_id=f"f-{tag}", relationship_id=rid, participant_id=mentee,
                                               rating=4))
        # Not an event at all (dead-lettered at once), and feedback on a pair nobody knows (retried first).
        await pub.send_raw(topics.FEEDBACK_SUBMISSIONS, b"not json", key=rid)
        await pub.publish(ev.FeedbackSubmitted(feedback_id=f"f2-{tag}", relationship_id=f"nobody-{tag}",
                                               participant_id=mentee, rating=4))

    ports = [p.port for p in services.processes.values()]

    async def all_served():
        missing = wanted - _served(ports)
        all_served.missing = missing
        return not missing

    try:
        await eventually(all_served, 90, "every dashboard metric to be served")
    except AssertionError:
        raise AssertionError(f"queried by a panel but exported by no service: {sorted(all_served.missing)}") from None
