"""The same in a real Chromium, as a participant meets it: an agreement sent with one goal too many
comes back with everything still filled in and, beside the goals, what to change, in Portuguese; sent
again it is recorded; and its link, opened again, shows what was agreed, with nothing to send. axe-core
finds nothing serious on any of these pages. Real Kafka and Postgres, the pages served by uvicorn."""

from __future__ import annotations

import os
import uuid

import pytest

from services.notifications.domain.links import ActionLink
from services.notifications.entrypoints.app import build_service
from services.notifications.entrypoints.web import build_web
from services.notifications.settings import NotificationSettings
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.stack import free_port
from tests.services.notifications.service.test_form_pages import SIGNER, START, UNTIL, paired
from tests.services.notifications.service.test_forwarded_scheme import serving
from tests.support.axe import assert_accessible
from tests.support.runtime import eventually, settings_for

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (`make install` installs it when run as root)", allow_module_level=True)


async def test_a_participant_corrects_an_agreement_and_reads_it_back(database_url, bootstrap_servers, topic_prefix,
                                                                    infrastructure):
    from playwright.async_api import async_playwright

    port = free_port()
    settings = settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, clock_speed=1.0,
                            smtp_port=infrastructure.smtp_port, public_url=f"http://127.0.0.1:{port}",
                            link_keys="current-key", http_host="127.0.0.1", http_port=port)
    tag = uuid.uuid4().hex[:6]
    ids = {"mentor": f"mentor-{tag}", "mentee": f"mentee-{tag}", "rel": f"rel-{tag}", "proposal": f"prop-{tag}"}
    token = SIGNER.token(ActionLink(ids["mentee"], "relationship", ids["rel"], "agreement", UNTIL))
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.RELATIONSHIP_COMMANDS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            serving(build_web(service), settings) as base, \
            async_playwright() as pw:
        await paired(pub, ids, mentee_locale="pt-BR")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(bypass_csp=True, locale="pt-BR")).new_page()
            url = f"{base}/a/{token}"

            async def the_form():  # once this service knows the pair (each a GET: it changes nothing)
                response = await page.goto(url)
                return response.status == 200 and await page.get_attribute("main", "data-page") == "agreement"
            await eventually(the_form, 30, "the agreement's form")

            goals = "\n".join(f"meta {n}" for n in range(1, 12))  # one more than a pair may set
            await page.check('input[name="place"][value="in_person"]')
            await page.fill("#place_details", "Café Central, sala 2")
            await page.fill("#goals", goals)
            await page.fill("#boundaries", "Sem reuniões às sextas")
            async with page.expect_navigation() as sent:
                await page.click('button[type="submit"]')
            assert (await sent.value).status == 400
            assert await page.get_attribute("main", "data-page") == "agreement"
            # What she entered is all still there; beside the goals, in Portuguese, what to change.
            assert await page.input_value("#goals") == goals
            assert await page.input_value("#place_details") == "Café Central, sala 2"
            assert await page.input_value("#boundaries") == "Sem reuniões às sextas"
            assert await page.is_checked('input[name="place"][value="in_person"]')
            error = page.locator("#goals-error")
            assert await error.is_visible() and "Este campo precisa de outro valor" in await error.inner_text()
            assert await page.get_attribute("#goals", "aria-invalid") == "true"
            await assert_accessible(page, "the agreement sent again")

            await page.fill("#goals", "meta 1\nmeta 2")
            async with page.expect_navigation() as sent:
                await page.click('button[type="submit"]')
            assert (await sent.value).status == 200
            assert await page.get_attribute("main", "data-page") == "done"

            # The link again: what was agreed, to read, nothing to send.
            response = await page.goto(url)
            assert response.status == 200 and await page.get_attribute("main", "data-page") == "agreed"
            assert await page.locator("form").count() == 0
            text = await page.inner_text("main")
            assert "a cada 2 semanas" in text and "Café Central, sala 2" in text and "meta 2" in text
            await assert_accessible(page, "the agreement read back")
        finally:
            await browser.close()
        recorded = await out.wait_for(lambda w: w.of_type("relationship.agreement.recorded"), 30, "the agreement")
    assert len(recorded) == 1 and recorded[0].data["goals"] == ["meta 1", "meta 2"]
