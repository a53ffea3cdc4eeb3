"""The program team's read model and API on a real Kafka and Postgres: a small program's events go
in through the topics (one of them twice), the KPIs come out of the HTTP API; the API's guards,
errors and actions (published through feedback's outbox) behave."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from services.feedback.entrypoints.app import build_service
from services.feedback.entrypoints.web import build_web
from services.feedback.entrypoints.web.auth import COOKIE
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import new_envelope
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, settings_for

pytestmark = pytest.mark.integration
NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
START = NOW - timedelta(days=2)  # when the program's people joined (the events' time)
TOKEN = "s3cret-ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
P = "prog-ops"


def _settings(database_url, bootstrap_servers, topic_prefix) -> FeedbackSettings:
    return settings_for(FeedbackSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=NOW, ops_token=TOKEN, metrics_refresh_seconds=0.2,
                        ops_session_key="a-session-key-for-the-tests-only")


def _meeting(model, mid: str, rid: str, mentee: str, mentor: str, start: datetime, **extra):
    return model(meeting_id=mid, relationship_id=rid, program_id=P, mentor_id=mentor, mentee_id=mentee, occurrence=1,
                 start=start, end=start + timedelta(minutes=45), **extra)


async def _publish_program(pub: Publisher) -> None:
    await pub.publish(ev.ProgramConfigured(program_id=P, name="Ops pilot", timezone="Europe/Amsterdam"))
    for pid, kwargs in [("mentor-emea", {"roles": ("mentor",), "capacity": 2, "seniority": 8}),
                        ("mentor-apac", {"roles": ("mentor",), "capacity": 2, "seniority": 8, "region": "APAC",
                                             "tz": "Asia/Tokyo"}),
                        ("ana-emea", {}), ("ben-apac", {"region": "APAC", "tz": "Asia/Tokyo"}),
                        ("caro-latam", {"region": "LATAM", "tz": "America/Sao_Paulo"}), ("dirk-emea", {})]:
        await pub.publish(onboarded(pid=pid, program_id=P, **kwargs))
    for prop, mentee, mentor in [("p1", "ana-emea", "mentor-emea"), ("p2", "ben-apac", "mentor-apac"),
                                 ("p3", "caro-latam", "mentor-emea"), ("p4", "dirk-emea", "mentor-apac")]:
        await pub.publish(ev.MatchProposed(proposal_id=prop, program_id=P, mentee_id=mentee, mentor_id=mentor,
                                           score=0.8, explanation={}, expires_at=NOW + timedelta(days=3)))
    await pub.publish(ev.MatchDeclined(proposal_id="p3", program_id=P, mentee_id="caro-latam",
                                       mentor_id="mentor-emea", reason="no time"))
    for rid, prop, mentee, mentor, hours in [("r1", "p1", "ana-emea", "mentor-emea", 10),
                                             ("r2", "p2", "ben-apac", "mentor-apac", 30)]:
        await pub.publish(ev.MatchEstablished(relationship_id=rid, proposal_id=prop, program_id=P, mentee_id=mentee,
                                              mentor_id=mentor, established_at=START + timedelta(hours=hours)))
    day = START + timedelta(days=1)
    await pub.publish(_meeting(ev.MeetingScheduled, "m1", "r1", "ana-emea", "mentor-emea", day, ics="x"))
    await pub.publish(_meeting(ev.MeetingCompleted, "m1", "r1", "ana-emea", "mentor-emea", day))
    await pub.publish(_meeting(ev.MeetingScheduled, "m2", "r2", "ben-apac", "mentor-apac", day, ics="x"))
    missed = await pub.publish(_meeting(ev.MeetingMissed, "m2", "r2", "ben-apac", "mentor-apac", day,
                                        absent=["mentor-apac"]))
    await pub.publish(_meeting(ev.MeetingScheduled, "m3", "r1", "ana-emea", "mentor-emea", NOW + timedelta(days=20),
                               ics="x"))
    await pub.publish(ev.MeetingUnplaceable(relationship_id="r2", program_id=P, occurrence=3, reason="no slot"))
    good = await pub.publish(ev.FeedbackSubmitted(feedback_id="f1", relationship_id="r1", participant_id="ana-emea",
                                                  meeting_id="m1", rating=5, progress=4))
    await pub.publish(ev.FeedbackSubmitted(feedback_id="f2", relationship_id="r2", participant_id="ben-apac",
                                           rating=1, progress=1))
    await pub.publish(ev.NotificationDelivered(notification_id="n1", recipient_id="ana-emea", channel="email",
                                               template="t", language="en", cause_event_id="e", delivered_at=NOW))
    await pub.publish(ev.NotificationFailed(notification_id="n2", recipient_id="mentor-apac", channel="email",
                                            template="t", cause_event_id="e", error="550", attempts=1))
    # Redelivered: the same events again, with the same ids (what a producer retry or a replay does).
    for envelope, topic in ((missed, topics.MEETINGS), (good, topics.FEEDBACK_SUBMISSIONS)):
        await pub.send_raw(topic, envelope.to_json(), key=envelope.subject)
    # An event this service cannot take: dead-lettered, and then counted under the program it named.
    bad = new_envelope(type="match.proposed", source="/test", data=ev.ProgramConfigured(program_id=P, name="x"),
                       time=NOW)
    await pub.send_raw(topics.MATCHES, bad.to_json(), key="x")


EXPECTED = {
    "participants": 6, "mentors": 2, "mentees": 4, "mentees_waiting": 1, "proposals_pending": 1,
    "proposals_declined": 1, "proposals_expired": 0, "matches_established": 2, "relationships_active": 2,
    "relationships_ended": 0, "meetings_scheduled": 3, "meetings_upcoming": 1, "meetings_completed": 1,
    "meetings_missed": 1, "meetings_cancelled": 0, "meetings_unplaceable": 1, "feedback_requested": 2,
    "feedback_answered": 1, "feedback_received": 2, "at_risk": 1, "relationships_healthy": 1,
    "notifications_delivered": 1, "notifications_failed": 1, "dead_letters": 1,
    "attendance_rate": 0.5, "response_rate": 0.5, "average_rating": 3.0,
    "time_to_match_hours": {"p50": 20.0, "p90": 28.0, "mentees": 2},
}


def _matches(kpis: dict) -> bool:
    return {k: kpis.get(k) for k in EXPECTED} == EXPECTED


async def test_a_small_program_reads_back_as_kpis_once_each(database_url, bootstrap_servers, topic_prefix):
    service = build_service(_settings(database_url, bootstrap_servers, topic_prefix))
    async with service.running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix, now=lambda: START) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)), base_url="http://127.0.0.1",
                              headers=AUTH) as api:
        await _publish_program(pub)

        last: dict = {}

        async def kpis():
            answer = (await api.get(f"/api/programs/{P}/kpis")).json()
            last.update(answer)
            return answer if _matches(answer) else False

        try:
            # Twenty events through a broker that may be busy with other tests: a generous bound.
            found = await eventually(kpis, 120, "the program's KPIs")
        except AssertionError as exc:
            differ = {k: (last.get(k), v) for k, v in EXPECTED.items() if last.get(k) != v}
            raise AssertionError(f"{exc}; (got, expected) where they differ: {differ}") from exc
        assert all(isinstance(found[k], int) for k in EXPECTED if k not in ("attendance_rate", "response_rate",
                                                                            "average_rating", "time_to_match_hours"))
        assert found["health"] == {"healthy": 1, "watch": 0, "at_risk": 1, "unassessed": 0}
        assert found["dead_letters_by_topic"] == {"matches.v1": 1}
        assert [s["mentees"] for s in found["funnel"]] == [4, 4, 2, 1, 2]
        regions = found["by_region"]
        assert {r: (v["participants"], v["relationships_active"], v["at_risk"]) for r, v in regions.items()} == {
            "APAC": (2, 1, 1), "EMEA": (3, 1, 0), "LATAM": (1, 0, 0)}
        assert regions["EMEA"]["time_to_match_hours"]["p50"] == 10.0
        assert found["by_timezone"]["Asia/Tokyo"]["participants"] == 2
        # Per day in the program's zone (Amsterdam): one match on 30 and one on 31 January.
        series = found["series"]
        by_day = dict(zip(series["days"], series["matches_established"], strict=True))
        assert (by_day["2027-01-30"], by_day["2027-01-31"], by_day["2027-02-01"]) == (1, 1, 0)
        assert sum(series["onboarded"]) == 6 and sum(series["meetings_missed"]) == 1
        assert sum(series["feedback_received"]) == 2 and sum(series["at_risk_alerts"]) == 1

        at_risk = (await api.get(f"/api/programs/{P}/relationships", params={"state": "at_risk"})).json()
        (pair,) = at_risk["relationships"]
        assert pair["relationship_id"] == "r2" and pair["mentee"]["name"] == "Ben Apac"
        assert pair["mentor"]["name"] == "Mentor Apac" and pair["health_score"] < 45
        assert "1 of 1 meetings missed" in pair["reasons"]
        assert "recent ratings are low (average 1.0 of 5)" in pair["reasons"]
        assert pair["last_meeting"]["outcome"] == "missed" and pair["next_meeting"] is None
        healthy = (await api.get(f"/api/programs/{P}/relationships", params={"state": "healthy"})).json()
        assert healthy["relationships"][0]["next_meeting"]["meeting_id"] == "m3"

        programs = (await api.get("/api/programs")).json()["programs"]
        assert programs == [{"program_id": P, "name": "Ops pilot", "timezone": "Europe/Amsterdam", "configured": True}]
        export = await api.get(f"/api/programs/{P}/export.csv")
        assert export.headers["content-type"].startswith("text/csv")
        assert f"{P},program,at_risk,1" in export.text and f"{P},region:APAC,at_risk,1" in export.text

        # The dashboard shows the same numbers, and loads nothing from anywhere else.
        for path in (f"/dashboard/programs/{P}", f"/dashboard/programs/{P}/overview",
                     f"/dashboard/programs/{P}/relationships?state=all"):
            page = await api.get(path)
            assert page.status_code == 200, (path, page.text)
            assert not re.search(r"(src|href|action)=\"(?![/#]|data:)", page.text) and "http://" not in page.text, path
        page = (await api.get(f"/dashboard/programs/{P}")).text
        assert re.search(r'data-kpi="at_risk">\s*<span class="label">At risk</span> <span class="value">1</span>', page)
        assert "recent ratings are low (average 1.0 of 5)" in page and 'id="nudge-r2"' in page
        assert "Content-Security-Policy".lower() in (await api.get(f"/dashboard/programs/{P}")).headers

        # The redelivered events were seen, and skipped.
        duplicates = REGISTRY.get_sample_value("tandem_events_consumed_total", {
            "service": "feedback", "topic": topics.FEEDBACK_SUBMISSIONS, "type": "feedback.submitted",
            "outcome": "duplicate"})
        assert duplicates and duplicates >= 1
        # The same numbers as Prometheus gauges, labelled by program and region only.
        gauge = await eventually(lambda: _gauge("tandem_program_at_risk", program=P, region="APAC"), 30, "gauges")
        assert gauge == 1.0


async def _gauge(name: str, **labels: str):
    return REGISTRY.get_sample_value(name, labels)


async def test_the_api_guards_answers_errors_in_json_and_publishes_actions(database_url, bootstrap_servers,
                                                                           topic_prefix):
    service = build_service(_settings(database_url, bootstrap_servers, topic_prefix))
    web = build_web(service)
    async with service.running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix, now=lambda: NOW) as pub, \
            Watcher(bootstrap_servers, [topics.RELATIONSHIP_COMMANDS, topics.MATCH_REQUESTS], topic_prefix) as out, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://127.0.0.1") as client:
        await pub.publish(onboarded(pid="ana-emea", program_id=P))
        await pub.publish(onboarded(pid="mentor-emea", program_id=P, roles=("mentor",), capacity=1, seniority=8))
        await pub.publish(ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id=P,
                                              mentee_id="ana-emea", mentor_id="mentor-emea", established_at=NOW))

        # Without the token: 401 everywhere, even for paths that do not exist; the sign-in page is open.
        for path in (f"/api/programs/{P}/kpis", "/api/nothing", "/api/programs"):
            refused = await client.get(path)
            assert refused.status_code == 401 and "error" in refused.json()
        assert (await client.get(f"/api/programs/{P}/kpis", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await client.get("/dashboard")).headers["location"].startswith("/dashboard/sign-in")
        assert (await client.get("/dashboard/sign-in")).status_code == 200

        await eventually(lambda: _ready(client), 60, "the relationship")

        # Bad parameters are 400 and unknown things 404, always JSON, never 500.
        for path, status in [(f"/api/programs/{P}/relationships?state=sad", 400),
                             (f"/api/programs/{P}/relationships?limit=0", 400),
                             (f"/api/programs/{P}/relationships?limit=abc", 400),
                             (f"/api/programs/{'x' * 300}/kpis", 400), ("/api/programs/nope/kpis", 404),
                             ("/api/programs/nope/relationships", 404), ("/api/programs/nope/export.csv", 404),
                             ("/api/programs/%00%ff/kpis", 400), ("/api/programs/%ff/kpis", 404), ("/api/whatever", 404)]:
            answer = await client.get(path, headers=AUTH)
            assert answer.status_code == status, (path, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/json" and answer.json()["error"]
        for path, body, status in [(f"/api/programs/{P}/relationships/r9/nudge", {}, 404),
                                   ("/api/programs/nope/relationships/r1/nudge", {}, 404),
                                   (f"/api/programs/{P}/relationships/r1/end", {}, 400),
                                   (f"/api/programs/{P}/relationships/r1/end", {"reason": ""}, 400),
                                   (f"/api/programs/{P}/relationships/r1/nudge", {"user": "joe"}, 400),
                                   (f"/api/programs/{P}/relationships/r1/nudge", {"surprise": 1}, 400),
                                   (f"/api/programs/{P}/relationships/r1/rematch", {}, 409)]:
            answer = await client.post(path, json=body, headers=AUTH)
            assert answer.status_code == status, (path, answer.status_code, answer.text)
            assert answer.json()["error"]
        broken = await client.post(f"/api/programs/{P}/relationships/r1/nudge", content=b"{not json",
                                   headers={**AUTH, "content-type": "application/json"})
        assert broken.status_code == 400

        # Signing in with the break-glass token sets a cookie that is not the token, and the cookie opens the
        # API too; the name on actions is the authenticated one, whatever a form or header says.
        same_site = {"origin": "http://127.0.0.1"}
        signed = await client.post("/dashboard/sign-in", data={"token": TOKEN, "user": "sanne", "next": "/dashboard"},
                                   headers=same_site)
        assert signed.status_code == 303
        cookie = signed.cookies[COOKIE]
        client.cookies.clear()  # each request below says who it is
        assert TOKEN not in cookie
        set_cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "secure" not in set_cookie
        assert (await client.post("/dashboard/sign-in", data={"token": "wrong"}, headers=same_site)).status_code == 401
        assert (await client.post("/dashboard/sign-in", data={"token": ""}, headers=same_site)).status_code == 401

        # Actions go out through the outbox as commands; nobody else's tables are touched.
        nudged = await client.post(f"/api/programs/{P}/relationships/r1/nudge", json={"note": "Talk soon?"},
                                   headers={"cookie": f"{COOKIE}={cookie}", **same_site})
        assert nudged.status_code == 202 and nudged.json()["requested_by"] == "ops:break-glass"
        ended = await client.post(f"/api/programs/{P}/relationships/r1/end", headers={**AUTH, "X-Tandem-User": "joe"},
                                  json={"reason": "the mentor moved", "rematch": True})
        assert ended.status_code == 202 and ended.json()["requested_by"] == "ops:break-glass"
        again = await client.post(f"/api/programs/{P}/relationships/r1/end", headers=AUTH, json={"reason": "twice"})
        assert again.status_code == 409 and "already requested" in again.json()["error"]
        cross_site = await client.post(f"/api/programs/{P}/relationships/r1/nudge", headers={"cookie": f"{COOKIE}={cookie}", "origin": "https://evil.example"})
        assert cross_site.status_code == 403

        await out.wait_for(lambda w: w.of_type("relationship.nudge.requested") and
                           w.of_type("relationship.end.requested"), 30, "the commands")
        (nudge,) = out.of_type("relationship.nudge.requested")
        assert nudge.data == {"relationship_id": "r1", "requested_by": "ops:break-glass", "note": "Talk soon?"}
        assert out.of_type("relationship.end.requested")[0].data["requested_by"] == "ops:break-glass"

        # Matching ends it (here: the event it would publish); then ending is refused and a re-match asked for.
        await pub.publish(ev.MatchEnded(relationship_id="r1", program_id=P, mentee_id="ana-emea",
                                        mentor_id="mentor-emea", reason="ended by the team", ended_at=NOW,
                                        reason_code="ended_on_request", requested_by="ops:joe"))

        async def ended_here():
            answer = await client.post(f"/api/programs/{P}/relationships/r1/nudge", headers=AUTH)
            return answer.status_code == 409 and answer

        assert "already ended" in (await eventually(ended_here, 30, "the end")).json()["error"]
        rematched = await client.post(f"/api/programs/{P}/relationships/r1/rematch", headers=AUTH)
        assert rematched.status_code == 202 and rematched.json()["requested_by"] == "ops:break-glass"
        await out.wait_for(lambda w: w.of_type("match.requested"), 30, "the re-match")
        assert out.of_type("match.requested")[0].data == {"mentee_id": "ana-emea", "program_id": P}


async def _ready(client: httpx.AsyncClient):
    answer = await client.get(f"/api/programs/{P}/relationships", headers=AUTH)
    return answer.status_code == 200 and answer.json()["relationships"]
