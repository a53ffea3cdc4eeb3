"""Behind a TLS proxy the form cookie is Secure: uvicorn, run as every service runs it
(shared.service.http_server_options), believes X-Forwarded-Proto from a trusted proxy only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from services.notifications.domain.links import ActionLink, LinkSigner
from services.notifications.entrypoints.app import build_service
from services.notifications.entrypoints.web import build_web
from services.notifications.settings import NotificationSettings
from shared.service import http_server_options
from tandem.client import Publisher
from tandem.local.stack import free_port
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
KEY = "current-key"


@contextlib.asynccontextmanager
async def serving(app, settings: NotificationSettings):
    """The pages served by uvicorn over real TCP, configured as the service configures it."""
    options = {**http_server_options(settings), "lifespan": "off"}  # the service runs apart (service.running)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started), 30, "uvicorn to listen")
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        server.should_exit = True
        await task


def form_cookie(response: httpx.Response) -> str:
    (cookie,) = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("tandem_form=")]
    return cookie


async def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(database_url, bootstrap_servers, topic_prefix,
                                                                   infrastructure):
    settings = settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, smtp_port=infrastructure.smtp_port,
                            public_url="http://127.0.0.1", link_keys=KEY, http_host="127.0.0.1")
    behind_proxy = settings.model_copy(update={"http_port": free_port(), "trusted_proxies": "127.0.0.1"})
    untrusting = settings.model_copy(update={"http_port": free_port()})  # TANDEM_TRUSTED_PROXIES unset
    elsewhere = settings.model_copy(update={"http_port": free_port(), "trusted_proxies": "10.0.0.0/8"})
    person = f"mentee-{uuid.uuid4().hex[:6]}"
    token = LinkSigner([KEY]).token(ActionLink(person, "participant", person, "preferences",
                                               START + timedelta(days=30)))
    service = build_service(settings)
    async with service.running(), Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        await pub.publish(onboarded(pid=person))

        async def known():
            return await fetch(settings.database_url, "SELECT 1 FROM notifications.participants "
                                                      "WHERE participant_id = $1", person)
        await eventually(known, 30, "the participant known here")
        web = build_web(service)
        https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        async with serving(web, behind_proxy) as trusted, serving(web, untrusting) as direct, \
                serving(web, elsewhere) as other, httpx.AsyncClient(timeout=10) as client:
            proxied = await client.get(f"{trusted}/a/{token}", headers=https)
            assert proxied.status_code == 200 and "; secure" in form_cookie(proxied).lower()
            plain = await client.get(f"{trusted}/a/{token}")  # the proxy's own http request
            assert plain.status_code == 200 and "secure" not in form_cookie(plain).lower()
            # From a peer that is not a trusted proxy, the header is anybody's word: ignored.
            for base in (direct, other):
                forged = await client.get(f"{base}/a/{token}", headers=https)
                assert forged.status_code == 200 and "secure" not in form_cookie(forged).lower()
