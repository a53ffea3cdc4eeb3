"""Slow endpoints are contained: real Kafka, real Postgres, real SMTP and real local webhooks.

One participant's chat endpoint trickles its answer a byte at a time, for ever; another answers
100 MB. Everyone else's messages (mail and another webhook) all go out while those are still
unsettled; the two then end failed, for reasons that quote nothing of what they answered, and of the
100 MB no more than the answer cap (and what the kernel's buffers held) was ever taken.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.entrypoints.app import build_service
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday noon UTC
CAP = 64 * 1024


@pytest.fixture
def settings(database_url, bootstrap_servers, topic_prefix, infrastructure):
    return settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=START, clock_speed=1.0,
                        smtp_port=infrastructure.smtp_port, webhook_allow_hosts="127.0.0.1",
                        # One attempt each, so they end failed rather than waiting for a retry.
                        delivery_max_attempts=1, webhook_timeout_seconds=8.0, webhook_max_answer_bytes=CAP,
                        # Little room, so a loop that let slow sends take it all would show.
                        delivery_concurrency=4, webhook_per_endpoint=2, smtp_concurrency=2)


async def test_a_trickling_and_a_huge_endpoint_delay_nobody_else(settings, bootstrap_servers, topic_prefix):
    tag = uuid.uuid4().hex[:6]
    with WebhookReceiver(trickle=1.0) as trickling, WebhookReceiver(answer_size=100 * 1024 * 1024) as huge, \
            WebhookReceiver() as good:
        # (mentor, their route), (mentee, their route) for each pair: a route is a webhook or mail.
        routes = [(trickling, None), (trickling, None), (trickling, good), (huge, good), (good, None), (None, None)]
        people: dict[str, WebhookReceiver | None] = {}
        async with build_service(settings).running(), \
                Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
                Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            for n, (mentee_route, mentor_route) in enumerate(routes):
                mentee, mentor = f"mentee-{tag}-{n}", f"mentor-{tag}-{n}"
                for pid, route, roles in ((mentee, mentee_route, ("mentee",)), (mentor, mentor_route, ("mentor",))):
                    people[pid] = route
                    chat = {"channel": "webhook", "webhook_url": route.url} if route else {}
                    await pub.publish(onboarded(pid=pid, roles=roles, seniority=7, capacity=1, **chat))
            for n in range(len(routes)):
                await pub.publish(ev.MatchEstablished(
                    relationship_id=f"rel-{tag}-{n}", proposal_id=f"p-{n}", program_id="prog-1",
                    mentee_id=f"mentee-{tag}-{n}", mentor_id=f"mentor-{tag}-{n}", established_at=START,
                    goals=["public speaking"]))
            everyone_else = {pid for pid, route in people.items() if route not in (trickling, huge)}
            slow = {pid for pid, route in people.items() if route in (trickling, huge)}

            def delivered_to(watcher) -> set[str]:
                return {o.data["recipient_id"] for o in watcher.of_type("notification.delivered")}

            await out.wait_for(lambda w: everyone_else <= delivered_to(w), 60, "everyone else's messages")
            # At that moment the trickling endpoint has not finished a single answer (it never does),
            # and nothing to a slow endpoint counts as delivered.
            assert not delivered_to(out) & slow
            assert trickling.received == [] and trickling.posts >= 1
            assert len(good.received) == sum(route is good for route in people.values())

            def failed(watcher) -> dict[str, str]:
                return {o.data["recipient_id"]: o.data["error"] for o in watcher.of_type("notification.failed")}

            await out.wait_for(lambda w: set(failed(w)) == slow, 90, "the slow endpoints' messages to fail")
            await eventually(lambda: _at_least(huge.gone, 1), 20, "the huge answer to be left")
        errors = failed(out)
        for pid in slow:
            expected = "deadline_exceeded" if people[pid] is trickling else "answer_too_large"
            assert expected in errors[pid], errors[pid]
            assert "xxx" not in errors[pid] and "\x00" not in errors[pid]  # nothing of what they answered
        # Of the 100 MB, the cap and what the kernel buffered (a 16 KiB send buffer, the receive window).
        assert huge.posts == 1 and huge.answer_written <= CAP + 4 * 1024 * 1024
    rows = await fetch(settings.database_url, "SELECT status, count(*) AS n FROM notifications.deliveries "
                                              "GROUP BY status")
    assert {r["status"]: r["n"] for r in rows} == {"delivered": len(everyone_else), "failed": len(slow)}


async def _at_least(value: int, least: int) -> bool:
    return value >= least
