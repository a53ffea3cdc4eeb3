"""The program team's dashboard in a real Chromium, on the four services as processes: a small
program published through the topics shows on the page with the same numbers as the API and as
what was published, updates without a reload, lists the pair at risk with its reasons, and its
nudge (reached from the keyboard) goes out on Kafka. Leaves a screenshot in docs/dashboard.png."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.stack import Services, free_http_ports
from tests.support.people import onboarded
from tests.support.runtime import eventually

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
TOKEN = "e2e-" + uuid.uuid4().hex
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
PROGRAM = "global-2027"
# Tiles read off the page and compared with the API.
TILES = ("participants", "mentors", "mentees", "mentees_waiting", "proposals_pending", "matches_established",
         "relationships_active", "meetings_scheduled", "meetings_missed", "feedback_received", "at_risk")

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (`make install` installs it when run as root)", allow_module_level=True)


@pytest.fixture
def system(infrastructure, database_url, topic_prefix, tmp_path):
    clock = ProgramClock(start=START, speed=1.0)
    services = Services.on(
        database_url=database_url, bootstrap_servers=infrastructure.bootstrap_servers,
        smtp_port=infrastructure.smtp_port, http_ports=free_http_ports(), log_dir=tmp_path / "logs",
        topic_prefix=topic_prefix, clock_env=clock.env(),
        extra={"TANDEM_OUTBOX_POLL_SECONDS": "0.5", "TANDEM_RETRY_BACKOFF_MAX_SECONDS": "1",
               "TANDEM_OPS_TOKEN": TOKEN, "TANDEM_OPS_SESSION_KEY": uuid.uuid4().hex,
               "TANDEM_DASHBOARD_REFRESH_SECONDS": "1"},
    )
    services.start()
    try:
        services.wait_ready(timeout=90)
        yield services, clock
    finally:
        services.stop()


async def _publish_program(pub: Publisher, now: datetime) -> None:
    await pub.publish(ev.ProgramConfigured(program_id=PROGRAM, name="Global mentoring 2027",
                                           timezone="Europe/Amsterdam"))
    people = [("sanne-mentor", {"roles": ("mentor",), "capacity": 2, "seniority": 8}),
              ("kenji-mentor", {"roles": ("mentor",), "capacity": 2, "seniority": 8, "region": "APAC", "tz": "Asia/Tokyo",
                                    "country": "JP"}),
              ("ana-mentee", {"region": "LATAM", "tz": "America/Sao_Paulo", "country": "BR"}),
              ("lars-mentee", {}),
              ("mei-mentee", {"region": "APAC", "tz": "Asia/Singapore", "country": "SG"})]
    for pid, kwargs in people:
        await pub.publish(onboarded(pid=pid, program_id=PROGRAM, **kwargs))
    for n, (mentee, mentor) in enumerate([("ana-mentee", "sanne-mentor"), ("lars-mentee", "kenji-mentor"),
                                          ("mei-mentee", "kenji-mentor")], start=1):
        await pub.publish(ev.MatchProposed(proposal_id=f"prop-{n}", program_id=PROGRAM, mentee_id=mentee,
                                           mentor_id=mentor, score=0.8, explanation={},
                                           expires_at=now + timedelta(days=3)))
    for n, (mentee, mentor) in enumerate([("ana-mentee", "sanne-mentor"), ("lars-mentee", "kenji-mentor")], start=1):
        await pub.publish(ev.MatchEstablished(relationship_id=f"rel-{n}", proposal_id=f"prop-{n}", program_id=PROGRAM,
                                              mentee_id=mentee, mentor_id=mentor, established_at=now))
    earlier = now - timedelta(hours=2)
    await pub.publish(ev.MeetingMissed(meeting_id="meet-missed-1", relationship_id="rel-1", program_id=PROGRAM,
                                       mentor_id="sanne-mentor", mentee_id="ana-mentee", occurrence=1, start=earlier,
                                       end=earlier + timedelta(minutes=45), absent=["sanne-mentor"]))
    await pub.publish(ev.FeedbackSubmitted(feedback_id="fb-poor-1", relationship_id="rel-1",
                                           participant_id="ana-mentee", rating=1, progress=1))


def _published(watcher: Watcher) -> dict[str, int]:
    """What the published events say the tiles must show (scheduling places meetings of its own: every
    meeting any meeting event names counts as scheduled)."""
    placed = {o.data["meeting_id"] for t in ("meeting.scheduled", "meeting.missed") for o in watcher.of_type(t)}
    return {"participants": 5, "mentors": 2, "mentees": 3, "mentees_waiting": 0, "proposals_pending": 1,
            "matches_established": 2, "relationships_active": 2, "meetings_scheduled": len(placed),
            "meetings_missed": 1, "feedback_received": 1, "at_risk": 1}


async def _tiles(page) -> dict[str, int]:
    values = await page.eval_on_selector_all(
        "#overview [data-kpi] .value", "els => els.map(e => [e.closest('[data-kpi]').dataset.kpi, e.textContent])")
    found = {}
    for key, text in values:
        if key in TILES:
            found[key] = int(text.replace(",", "").strip())
    return found


async def test_the_dashboard_shows_the_program_live_and_its_actions_reach_kafka(system, infrastructure, topic_prefix):
    from playwright.async_api import async_playwright

    services, clock = system
    base = f"http://127.0.0.1:{services.replica('feedback').port}"
    bootstrap = infrastructure.bootstrap_servers
    all_topics = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
    async with Watcher(bootstrap, all_topics, topic_prefix) as watcher, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as pub, \
            httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as api, \
            async_playwright() as pw:
        await _publish_program(pub, clock.now())

        async def api_kpis():
            answer = await api.get(f"/api/programs/{PROGRAM}/kpis")
            return answer.status_code == 200 and answer.json()

        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"{m.text} at {m.location}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
            page.on("response", lambda r: problems.append(f"{r.status} for {r.url}") if r.status >= 400 else None)
            page.on("request", lambda r: problems.append(f"remote request {r.url}")
                    if not r.url.startswith(base) else None)

            # Signing in (break-glass: no identity provider here): the page asks for the token, then comes
            # back to the dashboard.
            await page.goto(f"{base}/dashboard")
            assert "/dashboard/sign-in" in page.url
            await page.fill("#token", TOKEN)
            await page.click("#sign-in-token")
            await page.wait_for_url(f"**/dashboard/programs/{PROGRAM}*")
            assert await page.locator("#program-picker").input_value() == PROGRAM

            # The numbers on the page, from the API, and from what was published, all agree.
            async def agreed():
                shown, kpis = await _tiles(page), await api_kpis()
                expected = _published(watcher)
                ok = kpis and shown == {k: kpis[k] for k in TILES} == expected
                agreed.last = (shown, kpis and {k: kpis[k] for k in TILES}, expected)
                return ok and (shown, kpis)

            try:
                shown, kpis = await eventually(agreed, 60, "page, API and published events to agree")
            except AssertionError:
                raise AssertionError(f"page, API, published: {agreed.last}") from None
            assert shown["at_risk"] == 1 and kpis["by_region"]["LATAM"]["at_risk"] == 1

            # The at-risk list names the pair and says why.
            pair = page.locator('#relationships [data-relationship="rel-1"]')
            await pair.wait_for()
            text = await pair.inner_text()
            assert "Ana Mentee" in text and "Sanne Mentor" in text
            assert "1 of 1 meetings missed" in text and "recent ratings are low (average 1.0 of 5)" in text

            # Live: a new participant shows up without a reload.
            await pub.publish(onboarded(pid="omar-mentee", program_id=PROGRAM, region="MEA", tz="Asia/Dubai"))
            participants = page.locator('#overview [data-kpi="participants"] .value')
            await eventually(lambda: _text_is(participants, "6"), 30, "the live update")

            # The keyboard reaches the pair's actions.
            await page.locator("#main").focus()
            reached = []
            for _ in range(150):
                await page.keyboard.press("Tab")
                reached.append(await page.evaluate("document.activeElement && document.activeElement.id"))
                if reached[-1] == "end-open-rel-1":
                    break
            assert "nudge-rel-1" in reached and reached[-1] == "end-open-rel-1", reached
            await page.keyboard.press("Shift+Tab")
            assert await page.evaluate("document.activeElement.id") == "nudge-rel-1"

            await page.screenshot(path=str(SCREENSHOT), full_page=True)

            # Nudge: the command leaves through feedback's outbox onto Kafka.
            await page.click("#nudge-rel-1")
            await page.locator("#action-status", has_text="Nudge sent").wait_for()
            nudges = await watcher.wait_for(lambda w: w.of_type("relationship.nudge.requested"), 30, "the nudge")
            assert nudges[0].data["relationship_id"] == "rel-1"
            assert nudges[0].data["requested_by"] == "ops:break-glass"
            assert not problems, problems
        finally:
            await browser.close()


async def _text_is(locator, expected: str) -> bool:
    return (await locator.inner_text()).strip() == expected
