"""How the program team's web app is configured decides who gets in: with nothing configured nobody
does (never an open API), an empty token is no token, the session cookie is Secure over https, and
settings that contradict each other stop the start with the variable's name."""

from __future__ import annotations

import httpx
import pytest

from services.feedback.entrypoints.app import build_service
from services.feedback.entrypoints.web import ConfigurationError, build_web
from services.feedback.entrypoints.web.auth import COOKIE
from services.feedback.settings import FeedbackSettings

PATHS = ("/api/programs", "/api/programs/p1/kpis", "/api/programs/p1/export.csv", "/api/nothing",
         "/api/openapi.json")


def _web(**settings):
    return build_web(build_service(FeedbackSettings(**settings)))


def _client(web, base="http://127.0.0.1:8084"):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=base)


@pytest.mark.parametrize("settings", [{}, {"ops_token": ""}, {"ops_token": "   ", "ops_session_key": ""},
                                      {"ops_session_key": "a-key-but-no-way-to-sign-in"}])
async def test_with_no_way_to_sign_in_everything_refuses(settings):
    async with _client(_web(**settings)) as client:
        for path in PATHS:
            answer = await client.get(path)
            assert answer.status_code == 401, (settings, path, answer.status_code)
        for header in ("Bearer", 'Bearer ""', "Bearer x"):
            assert (await client.get("/api/programs", headers={"Authorization": header})).status_code == 401
        assert (await client.get("/dashboard")).headers["location"].startswith("/dashboard/sign-in")
        fragment = await client.get("/dashboard/programs/p1/overview", headers={"hx-request": "true"})
        assert fragment.status_code == 401 and fragment.headers["hx-redirect"] == "/dashboard/sign-in"
        page = await client.get("/dashboard/sign-in")
        assert page.status_code == 200 and "No way to sign in is configured" in page.text
        assert 'name="token"' not in page.text and "/dashboard/auth/start" not in page.text
        # An empty token is never a token: not at the form, not as a cookie keyed with "".
        same_site = {"origin": "http://127.0.0.1:8084"}
        assert (await client.post("/dashboard/sign-in", data={"token": ""}, headers=same_site)).status_code == 401
        assert (await client.get("/api/programs", headers={"cookie": f"{COOKIE}=ops.1.x"})).status_code == 401


def test_empty_settings_from_compose_mean_unset():
    settings = FeedbackSettings(ops_token="", ops_session_key="", oidc_issuer="", oidc_client_id="",
                                oidc_client_secret="", ops_url="", role_map="")
    assert settings.ops_token is None and settings.ops_session_key is None and not settings.sso
    assert settings.ops_url is None and settings.roles.grants(["anyone"]).any is False


async def test_the_break_glass_session_cookie_is_secure_over_https_and_ends_with_a_new_token():
    web = _web(ops_token="break-glass-token", ops_session_key="session-key-for-this-test")
    async with _client(web, "https://127.0.0.1") as client:
        signed = await client.post("/dashboard/sign-in", data={"token": "break-glass-token"},
                                   headers={"origin": "https://127.0.0.1"})
        assert signed.status_code == 303
        set_cookie = signed.headers["set-cookie"].lower()
        assert "secure" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
        cookie = signed.cookies[COOKIE]
        assert "break-glass-token" not in cookie
        # Served on http, the Origin must say http: an https page's form is another origin.
    async with _client(web, "http://127.0.0.1") as client:
        refused = await client.post("/dashboard/sign-in", data={"token": "break-glass-token"},
                                    headers={"origin": "https://127.0.0.1"})
        assert refused.status_code == 403
    # The same session key with another ops token: the break-glass session is over.
    other = _web(ops_token="a-new-break-glass-token", ops_session_key="session-key-for-this-test")
    async with _client(other, "https://127.0.0.1") as client:
        assert (await client.get("/dashboard/sign-in", headers={"cookie": f"{COOKIE}={cookie}"})).status_code == 200
        assert (await client.get("/api/programs", headers={"cookie": f"{COOKIE}={cookie}"})).status_code == 401


async def test_without_a_session_key_the_token_works_only_as_a_bearer():
    async with _client(_web(ops_token="break-glass-token")) as client:
        page = await client.get("/dashboard/sign-in")
        assert 'name="token"' not in page.text
        assert (await client.post("/dashboard/sign-in", data={"token": "break-glass-token"},
                                  headers={"origin": "http://127.0.0.1:8084"})).status_code == 401


@pytest.mark.parametrize(("settings", "names"), [
    ({"oidc_issuer": "https://id.example.com"}, "TANDEM_OIDC_CLIENT_ID"),
    ({"oidc_issuer": "https://id.example.com", "oidc_client_id": "tandem"}, "TANDEM_OPS_SESSION_KEY"),
])
def test_single_sign_on_without_its_other_settings_stops_the_start(settings, names):
    with pytest.raises(ConfigurationError, match=names):
        _web(**settings)


def test_a_role_map_that_does_not_parse_stops_the_start():
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        FeedbackSettings(role_map='{"team": {"p1": "owner"}}')


async def test_only_loopback_hosts_or_the_configured_public_one_are_served():
    web = _web(ops_token="t", ops_url="https://ops.example.com")
    bearer = {"Authorization": "Bearer t"}
    async with _client(web, "https://ops.example.com") as client:
        assert (await client.get("/dashboard/sign-in")).status_code == 200
        assert (await client.get("/api/nothing", headers=bearer)).status_code == 404
        for host in ("evil.example", "ops.example.com.evil.example", "ops.example.com:444"):
            answer = await client.get("/dashboard/sign-in", headers={"host": host})
            assert answer.status_code == 400 and answer.json() == {"error": "unknown host"}
    async with _client(web, "http://localhost:8084") as client:
        assert (await client.get("/dashboard/sign-in")).status_code == 200


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
async def test_the_sign_in_flow_cookie_follows_the_scheme_and_the_provider_gets_pkce(oidc_provider, scheme, secure):
    web = _web(oidc_issuer=oidc_provider.issuer, oidc_client_id=oidc_provider.client_id,
               oidc_client_secret=oidc_provider.client_secret, ops_session_key="session-key-for-this-test")
    base = f"{scheme}://127.0.0.1:8084"
    async with _client(web, base) as client:
        page = await client.get("/dashboard/sign-in")
        assert "Sign in with single sign-on" in page.text and 'name="token"' not in page.text
        started = await client.post("/dashboard/auth/start", data={"next": "https://evil.example/"},
                                    headers={"origin": base})
        assert started.status_code == 302
        location = httpx.URL(started.headers["location"])
        assert str(location).startswith(oidc_provider.issuer)
        params = location.params
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) >= 43
        assert params["redirect_uri"] == f"{base}/dashboard/auth/callback" and params["nonce"] and params["state"]
        set_cookie = started.headers["set-cookie"].lower()
        assert set_cookie.startswith("tandem_ops_sign_in=") and "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert ("secure" in set_cookie) is secure
        assert f"{oidc_provider.issuer}" in started.headers["content-security-policy"]
        # A callback without the flow's cookie (another browser, a replay) is refused.
        client.cookies.clear()
        stray = await client.get(f"/dashboard/auth/callback?code=x&state={params['state']}")
        assert stray.status_code == 400
