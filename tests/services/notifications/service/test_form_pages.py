"""A form a person sends with a value that will not do comes back to them (400) with everything they
entered still in it and, beside the field, what to change, in their language; a client that asks for
JSON gets the JSON error instead. Nothing is published or recorded until the form is right. Real
Kafka and Postgres; the pages through the service's own web app."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notifications.domain.links import ActionLink, LinkSigner
from services.notifications.entrypoints.app import build_service
from services.notifications.entrypoints.web import build_web
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
UNTIL = START + timedelta(days=30)
SIGNER = LinkSigner(["current-key"])


@pytest.fixture
def ids():
    tag = uuid.uuid4().hex[:6]
    return {"mentor": f"mentor-{tag}", "mentee": f"mentee-{tag}", "rel": f"rel-{tag}", "proposal": f"prop-{tag}"}


@pytest.fixture
def settings(database_url, bootstrap_servers, topic_prefix, infrastructure):
    return settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=START, clock_speed=1.0,
                        smtp_port=infrastructure.smtp_port, public_url="https://mentoring.example",
                        link_keys="retired-key,current-key")


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def shown(page: str) -> str:
    """The page's HTML with its entities read back (what a person sees in the fields)."""
    return html.unescape(page)


async def paired(pub: Publisher, ids: dict[str, str], *, mentee_locale: str) -> None:
    await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), locale="nl-NL", languages=("nl", "en"),
                                seniority=7, capacity=1))
    await pub.publish(onboarded(pid=ids["mentee"], locale=mentee_locale, goals=("public speaking",)))
    await pub.publish(ev.MatchEstablished(relationship_id=ids["rel"], proposal_id=ids["proposal"],
                                          program_id="prog-1", mentee_id=ids["mentee"], mentor_id=ids["mentor"],
                                          established_at=START - timedelta(days=1), goals=["public speaking"]))


async def page_of(browser: httpx.AsyncClient, token: str, page_name: str) -> httpx.Response:
    """The link's page once this service knows what it is about (a GET: it changes nothing)."""
    async def ready():
        page = await browser.get(f"/a/{token}")
        return page if page.status_code == 200 and f'data-page="{page_name}"' in page.text else None
    return await eventually(ready, 30, f"the {page_name} page")


async def test_an_agreement_with_too_many_goals_comes_back_with_what_was_entered_and_why(
        settings, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.RELATIONSHIP_COMMANDS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await paired(pub, ids, mentee_locale="pt-BR")
        token = SIGNER.token(ActionLink(ids["mentee"], "relationship", ids["rel"], "agreement", UNTIL))
        page = await page_of(browser, token, "agreement")
        goals = "\n".join(f"meta {n}" for n in range(1, 12))  # eleven: one more than a pair may set
        form = {"csrf": csrf_of(page.text), "cadence_days": "14", "duration_minutes": "60", "place": "in_person",
                "place_details": "Café Central, sala 2 <fundos>", "response_time_hours": "36", "goals": goals,
                "boundaries": "Sem reuniões às sextas"}

        again = await browser.post(f"/a/{token}", data=form)

        assert again.status_code == 400
        assert 'data-page="agreement"' in again.text and 'lang="pt-BR"' in again.text and 'method="post"' in again.text
        seen = shown(again.text)
        # Everything entered is still there, escaped as text (the "<fundos>" is no markup).
        assert 'value="Café Central, sala 2 <fundos>"' in seen and "&lt;fundos&gt;" in again.text
        assert "<fundos>" not in again.text
        assert 'name="place" value="in_person" required checked' in again.text
        assert 'value="36"' in again.text and 'value="60"' in again.text
        assert ">Sem reuniões às sextas</textarea>" in seen and f">{goals}</textarea>" in seen
        # Beside the goals, in Portuguese, what needs another value; the field is marked invalid.
        error = re.search(r'<p class="error" id="goals-error" role="alert">([^<]+)</p>\s*<textarea id="goals"',
                          again.text)
        assert error and "Este campo precisa de outro valor" in html.unescape(error.group(1))
        assert re.search(r'<textarea id="goals"[^>]*aria-invalid="true"', again.text)
        assert again.text.count('class="error"') == 1

        # A client that asks for JSON gets the error as JSON, still a 400.
        as_json = await browser.post(f"/a/{token}", data=form, headers={"accept": "application/json"})
        assert as_json.status_code == 400 and as_json.json()["error"] == "bad_field"
        assert as_json.headers["content-type"].startswith("application/json")

        # Nothing was published or recorded: the corrected form is the one that counts.
        assert await fetch(settings.database_url, "SELECT 1 FROM notifications.link_acts") == []
        done = await browser.post(f"/a/{token}", data={**form, "csrf": csrf_of(again.text),
                                                       "goals": "meta 1\nmeta 2"})
        assert done.status_code == 200 and 'data-page="done"' in done.text
        recorded = await out.wait_for(lambda w: w.of_type("relationship.agreement.recorded"), 30, "the agreement")
    assert len(recorded) == 1 and recorded[0].data["goals"] == ["meta 1", "meta 2"]
    assert recorded[0].data["place_details"] == "Café Central, sala 2 <fundos>"


async def test_preferences_with_a_quiet_hour_that_is_no_time_keep_every_choice(
        settings, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.PARTICIPANTS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await pub.publish(onboarded(pid=ids["mentee"], locale="de-DE"))
        token = SIGNER.token(ActionLink(ids["mentee"], "participant", ids["mentee"], "preferences", UNTIL))
        page = await page_of(browser, token, "preferences")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
        form = {"csrf": csrf_of(page.text), "nonce": nonce, "want_checkins": "on", "quiet_start": "25:00",
                "quiet_end": "07:00", "locale": "ja", "style": "indirect"}

        again = await browser.post(f"/a/{token}", data=form)

        assert again.status_code == 400 and 'data-page="preferences"' in again.text and 'lang="de"' in again.text
        assert 'name="want_checkins" value="on" checked' in again.text
        assert 'name="want_reminders" value="on" >' in again.text  # unticked stays unticked
        assert 'value="25:00"' in again.text and 'value="07:00"' in again.text
        assert '<option value="ja" lang="ja" selected>' in again.text
        assert 'name="style" value="indirect" checked' in again.text
        assert f'name="nonce" value="{nonce}"' in again.text  # the same page load: a resend counts once
        error = re.search(r'<p class="error" id="quiet_start-error" role="alert">([^<]+)</p>\s*<input type="time" '
                          r'id="quiet_start"', again.text)
        assert error and "Dieses Feld braucht einen anderen Wert" in html.unescape(error.group(1))

        done = await browser.post(f"/a/{token}", data={**form, "quiet_start": "22:00"})
        assert done.status_code == 200
        changed = await out.wait_for(lambda w: w.of_type("participant.preferences.changed"), 30, "the change")
    assert len(changed) == 1 and changed[0].data["quiet_hours"] == {"start": "22:00", "end": "07:00"}


async def test_an_answered_agreement_opens_again_read_only_with_what_was_agreed(
        settings, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.RELATIONSHIP_COMMANDS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await paired(pub, ids, mentee_locale="ja-JP")
        mentee_link = SIGNER.token(ActionLink(ids["mentee"], "relationship", ids["rel"], "agreement", UNTIL))
        mentor_link = SIGNER.token(ActionLink(ids["mentor"], "relationship", ids["rel"], "agreement", UNTIL))
        page = await page_of(browser, mentee_link, "agreement")
        answer = {"csrf": csrf_of(page.text), "cadence_days": "7", "duration_minutes": "45", "place": "in_person",
                  "place_details": "渋谷オフィス 3F", "response_time_hours": "36", "goals": "人前で話す\n交渉",
                  "boundaries": "金曜日は不可"}
        assert (await browser.post(f"/a/{mentee_link}", data=answer)).status_code == 200

        # The link again, at once and as often as anyone opens it: what was agreed, in Japanese, to read.
        for _ in range(3):
            again = await browser.get(f"/a/{mentee_link}")
            assert again.status_code == 200 and 'data-page="agreed"' in again.text and 'lang="ja"' in again.text
            assert "<form" not in again.text and "<input" not in again.text
        seen = shown(again.text)
        assert "に回答済みです" in seen or "ご回答いただき" in seen
        assert "<dd>毎週</dd>" in seen and "45 分" in seen and "36 時間" in seen  # every week, never "1 週間"
        assert "渋谷オフィス 3F" in seen and "<li>人前で話す</li><li>交渉</li>" in seen and "金曜日は不可" in seen
        assert "その回答が有効です" not in seen  # nobody answered after her

        # The mentor answers later, from his own link, with other terms: hers then shows what stands now.
        page = await page_of(browser, mentor_link, "agreement")
        assert 'value="7"' in page.text  # her answer filled in for him
        later = {**answer, "csrf": csrf_of(page.text), "cadence_days": "14", "place": "video", "place_details": ""}
        assert (await browser.post(f"/a/{mentor_link}", data=later)).status_code == 200
        seen = shown((await browser.get(f"/a/{mentee_link}")).text)
        assert "<dd>2週間ごとに</dd>" in seen and "渋谷オフィス" not in seen and "その回答が有効です" in seen
        mentor_view = await browser.get(f"/a/{mentor_link}")
        assert 'data-page="agreed"' in mentor_view.text and 'lang="nl"' in mentor_view.text
        assert "elke 2 weken" in mentor_view.text

        await out.wait_for(lambda w: len(w.of_type("relationship.agreement.recorded")) >= 2, 30, "both answers")
    # Opening the links published and recorded nothing more than the two answers.
    recorded = out.of_type("relationship.agreement.recorded")
    assert sorted(r.data["participant_id"] for r in recorded) == sorted([ids["mentee"], ids["mentor"]])
    assert len(out.of_type("relationship.agreement.recorded")) == 2
    acts = await fetch(settings.database_url, "SELECT choice FROM notifications.link_acts")
    assert [r["choice"] for r in acts] == ["agree", "agree"]
