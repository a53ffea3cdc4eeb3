"""The program team's alerts and daily digest, with real Kafka, Postgres, SMTP and a chat webhook."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notifications.adapters.senders import EndpointSecrets
from services.notifications.entrypoints.app import build_service
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.types import Reason
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.integration
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEBHOOK_SECRET = "program-team-test-secret"


@pytest.fixture
def ids():
    tag = uuid.uuid4().hex[:6]
    return {"mentor": f"mentor-{tag}", "mentee": f"mentee-{tag}", "rel": f"rel-{tag}", "program": f"prog-{tag}",
            "ops": f"ops-{tag}@example.com"}


@pytest.fixture
def make_settings(database_url, bootstrap_servers, topic_prefix, infrastructure):
    def make(**overrides) -> NotificationSettings:
        return settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, smtp_port=infrastructure.smtp_port,
                            dashboard_url="https://tandem.example/dashboard", webhook_allow_hosts="127.0.0.1",
                            webhook_secret=WEBHOOK_SECRET, **overrides)
    return make


def team(ids, hook: WebhookReceiver) -> ev.ProgramConfigured:
    return ev.ProgramConfigured(program_id=ids["program"], name="Pilot", timezone="Europe/Amsterdam", ops_contacts=[
        {"name": "Sanne de Vries", "email": ids["ops"], "locale": "nl-NL"},
        {"name": "Program team", "email": "team@example.com", "channel": "chat", "webhook_url": hook.url}])


async def a_pair(pub: Publisher, ids, at: datetime) -> None:
    await pub.publish(onboarded(pid=ids["mentor"], name="Bram", roles=("mentor",), seniority=7, capacity=1,
                                program_id=ids["program"]))
    await pub.publish(onboarded(pid=ids["mentee"], name="Ana", program_id=ids["program"]))
    await pub.publish(ev.MatchEstablished(relationship_id=ids["rel"], proposal_id="p", program_id=ids["program"],
                                          mentee_id=ids["mentee"], mentor_id=ids["mentor"], established_at=at))


def mails_to(infrastructure, address: str):
    return [m for m in read_mailbox(infrastructure.mail_dir) if m["To"] == address]


async def test_an_at_risk_relationship_alerts_the_team_once_per_change_of_state(make_settings, infrastructure, ids,
                                                                             bootstrap_servers, topic_prefix,
                                                                             database_url):
    start = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    rid = ids["rel"]
    with WebhookReceiver() as hook:
        async with build_service(make_settings(clock_start=start)).running(), \
                Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
                Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            await pub.publish(team(ids, hook))

            async def configured():  # programs.v1 is another topic: the alert must find the team's contacts
                return await fetch(database_url, "SELECT 1 FROM notifications.programs")
            await eventually(configured, 30, "the program's settings")
            await a_pair(pub, ids, start)
            await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2, 30, "the introductions")

            def alerts(w):
                return [o for o in w.of_type("notification.delivered") if o.data["template"] == "ops_relationship_at_risk"]

            reasons = ["recent ratings are low (average 1.0 of 5)", "1 of 1 meetings missed"]
            await pub.publish(ev.RelationshipHealthChanged(relationship_id=rid, previous="healthy", current="at_risk",
                                                           score=20.0, reasons=reasons))
            first = await pub.publish(ev.RelationshipAtRisk(relationship_id=rid, score=20.0, reasons=reasons))
            await pub.send_raw(topics.FEEDBACK, first.to_json(), key=rid)  # delivered twice
            await pub.publish(ev.RelationshipAtRisk(relationship_id=rid, score=15.0, reasons=reasons))  # no change
            await out.wait_for(lambda w: len(alerts(w)) >= 2, 30, "the first alert, to both contacts")
            # It recovers a little, then falls again: a new change of state, a new alert. Same key, same
            # partition: once this one is out, the repeats before it have all been handled.
            await pub.publish(ev.RelationshipHealthChanged(relationship_id=rid, previous="at_risk", current="watch",
                                                           score=50.0, reasons=reasons))
            await pub.publish(ev.RelationshipHealthChanged(relationship_id=rid, previous="watch", current="at_risk",
                                                           score=30.0, reasons=reasons))
            second = await pub.publish(ev.RelationshipAtRisk(relationship_id=rid, score=30.0, reasons=reasons))
            await out.wait_for(lambda w: len(alerts(w)) >= 4, 30, "the second alert")
            await eventually(hook.has(2), 10, "both chat messages")
    assert sorted(a.data["cause_event_id"] for a in alerts(out)) == sorted([first.id] * 2 + [second.id] * 2)
    to_sanne = mails_to(infrastructure, ids["ops"])
    assert len(to_sanne) == 2 and to_sanne[0]["Subject"] == "Risico: Bram & Ana (Pilot)"
    text = to_sanne[0].get_body(("plain",)).get_content()
    # Reasons without codes (an older producer) keep the event's own words.
    assert "- recent ratings are low (average 1.0 of 5)" in text and "gezondheidsscore van 20 van de 100" in text
    assert f"https://tandem.example/dashboard/programs/{ids['program']}?state=at_risk" in text
    # Signed per Standard Webhooks with the endpoint's own secret, and checked with that spec's library.
    secret = EndpointSecrets(WEBHOOK_SECRET).secret_for(hook.url)
    assert [m.verified_with(secret)["data"]["subject"] for m in hook.received] == ["At risk: Bram & Ana (Pilot)"] * 2
    assert len({m.headers["webhook-id"] for m in hook.received}) == 2
    rows = await fetch(database_url,
                       "SELECT recipient_id, recipient_kind, channel FROM notifications.deliveries "
                       "WHERE template = 'ops_relationship_at_risk'")
    assert {(r["recipient_kind"], r["channel"]) for r in rows} == {("ops_contact", "email"), ("ops_contact", "webhook")}
    assert all(r["recipient_id"].startswith("ops-") for r in rows)


async def test_an_alert_before_the_programs_settings_reaches_the_team_once_they_arrive(
        make_settings, infrastructure, ids, bootstrap_servers, topic_prefix, database_url):
    start = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    codes = [Reason(code="meetings_missed", params={"missed": 1, "held": 1})]
    with WebhookReceiver() as hook:
        async with build_service(make_settings(clock_start=start)).running(), \
                Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
                Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            await a_pair(pub, ids, start)  # programs.v1 has told notifications nothing of this program yet
            await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2, 30, "the introductions")

            def alerts(w):
                return [o for o in w.of_type("notification.delivered") if o.data["template"] == "ops_relationship_at_risk"]

            risk = await pub.publish(ev.RelationshipAtRisk(relationship_id=ids["rel"], score=20.0,
                                                           reasons=["1 of 1 meetings missed"], reason_codes=codes))

            async def held():
                return await fetch(database_url, "SELECT 1 FROM notifications.risk_alerts WHERE NOT told")
            await eventually(held, 30, "the alert, held")
            assert not await fetch(database_url, "SELECT 1 FROM notifications.deliveries "
                                                 "WHERE template = 'ops_relationship_at_risk'")

            settings = await pub.publish(team(ids, hook))
            await out.wait_for(lambda w: len(alerts(w)) >= 2, 30, "the held alert, to both contacts")
            await eventually(hook.has(1), 10, "the chat alert")
            # Redelivered, then configured again: nothing more is sent. Same key, same partition: once
            # the rename is kept, both before it have been handled.
            await pub.send_raw(topics.PROGRAMS, settings.to_json(), key=ids["program"])
            await pub.publish(team(ids, hook))
            await pub.publish(team(ids, hook).model_copy(update={"name": "Pilot 2"}))

            async def renamed():
                return await fetch(database_url, "SELECT 1 FROM notifications.programs WHERE name = 'Pilot 2'")
            await eventually(renamed, 30, "the last settings")
    assert sorted(a.data["cause_event_id"] for a in alerts(out)) == [risk.id] * 2
    (to_sanne,) = mails_to(infrastructure, ids["ops"])
    assert to_sanne["Subject"] == "Risico: Bram & Ana (Pilot)"
    text = to_sanne.get_body(("plain",)).get_content()
    assert "gezondheidsscore van 20 van de 100" in text and "1 of 1 meetings missed" not in text  # from the code
    assert f"https://tandem.example/dashboard/programs/{ids['program']}?state=at_risk" in text
    assert [m.data["subject"] for m in hook.received] == ["At risk: Bram & Ana (Pilot)"]
    rows = await fetch(database_url, "SELECT cause_event_id FROM notifications.deliveries "
                                     "WHERE template = 'ops_relationship_at_risk'")
    assert [r["cause_event_id"] for r in rows] == [risk.id] * 2  # written once, by the first settings
    rows = await fetch(database_url, "SELECT told FROM notifications.risk_alerts")
    assert [r["told"] for r in rows] == [True]


async def test_the_daily_digest_arrives_at_eight_in_the_programs_zone_from_one_of_two_replicas(
        make_settings, infrastructure, ids, bootstrap_servers, topic_prefix, database_url):
    # The day's news is gathered in the early morning (program time runs at real speed while the test
    # sets up), then two replicas run on a fast clock from 07:59 in Amsterdam.
    early = make_settings(clock_start=datetime(2027, 1, 5, 6, 0, tzinfo=AMSTERDAM))
    with WebhookReceiver() as hook:
        async with build_service(early).running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
            await pub.publish(team(ids, hook))

            async def configured():
                return await fetch(database_url, "SELECT 1 FROM notifications.programs")
            await eventually(configured, 30, "the program's settings")
            await a_pair(pub, ids, early.clock_start)
            await pub.publish(ev.MatchUnavailable(program_id=ids["program"], mentee_id=ids["mentee"],
                                                  reason="no mentor shares a language",
                                                  reason_code="no_shared_language"))
            await pub.publish(ev.RelationshipUnschedulable(relationship_id=ids["rel"], program_id=ids["program"],
                                                           mentor_id=ids["mentor"], mentee_id=ids["mentee"],
                                                           reason="no common hours"))
            # Dead-lettered here: bytes that name no program are no program team's business (only the
            # deployment's administrators', and none are set); an event naming the program is its team's.
            await pub.send_raw(topics.REMINDERS, b"not an event", key=ids["rel"])
            await pub.send_raw(topics.REMINDERS, json.dumps({
                "specversion": "1.0", "id": "bad-reminder", "source": "/x", "type": "reminder.due",
                "time": "2027-01-05T05:00:00Z", "data": {"program_id": ids["program"]}}).encode(), key=ids["rel"])

            async def gathered():
                rows = await fetch(database_url, "SELECT kind FROM notifications.digest_items")
                return sorted(r["kind"] for r in rows) == ["dead_letter", "unmatched", "unschedulable"]
            await eventually(gathered, 30, "the digest items")
        assert not await fetch(database_url, "SELECT 1 FROM notifications.digests")  # not before 08:00

        at_eight = make_settings(clock_start=datetime(2027, 1, 5, 7, 59, tzinfo=AMSTERDAM), clock_origin=time.time(),
                                 clock_speed=60.0)
        async with build_service(at_eight).running(), build_service(at_eight).running(), \
                Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out:

            def digests(w):
                return [o for o in w.of_type("notification.delivered") if o.data["template"] == "ops_daily_digest"]
            await out.wait_for(lambda w: len(digests(w)) >= 2, 40, "the digest, to both contacts")
            await eventually(hook.has(1), 10, "the chat digest")
    claimed = await fetch(database_url, "SELECT local_date, items, composed_at FROM notifications.digests")
    assert [(r["local_date"].isoformat(), r["items"]) for r in claimed] == [("2027-01-05", 3)]
    composed = claimed[0]["composed_at"].astimezone(AMSTERDAM)
    assert datetime(2027, 1, 5, 8, 0, tzinfo=AMSTERDAM) <= composed < datetime(2027, 1, 5, 8, 30, tzinfo=AMSTERDAM)
    (mail,) = mails_to(infrastructure, ids["ops"])
    assert mail["Subject"] == "Pilot, 5 januari 2027: 3 dingen om naar te kijken"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # The unmatched reason is worded from its code, in Dutch.
    assert "- Ana: geen enkele mentor deelt een taal met deze mentee" in text and "- Bram & Ana\n" in text
    assert "- reminders.v1 reminder.due: invalid reminder.due data: " in text and "not JSON" not in text
    (chat,) = hook.received
    assert chat.data["subject"] == "Pilot, January 5, 2027: 3 things to look at"
