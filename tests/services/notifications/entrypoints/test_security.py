"""Headers every participant page is sent with, and the stylesheet's (no service needed for either)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx

from services.notifications.entrypoints.web import build_web
from services.notifications.entrypoints.web.security import FormGuard


async def test_static_files_may_be_kept_and_pages_may_not():
    app = build_web(SimpleNamespace())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages") as client:
        css = await client.get("/a/static/pages.css")
        assert css.status_code == 200 and css.headers["cache-control"] == "public, max-age=86400"
        assert "default-src 'none'" in css.headers["content-security-policy"]
        missing = await client.get("/a/static/nothing.css")
        assert missing.status_code == 404 and missing.headers["referrer-policy"] == "no-referrer"
        weird = await client.get("/a/", headers={"accept": "application/json"})
        assert weird.status_code == 404 and weird.headers["cache-control"] == "no-store"


def test_a_form_token_is_bound_to_its_cookie_and_its_link():
    guard = FormGuard("old,new")
    field = guard.field("cookie-1", "token-1")
    assert guard.valid("cookie-1", field, "token-1")
    assert not guard.valid("cookie-2", field, "token-1")  # another browser's cookie
    assert not guard.valid("cookie-1", field, "token-2")  # another link's form
    assert not guard.valid(None, field, "token-1") and not guard.valid("cookie-1", None, "token-1")
