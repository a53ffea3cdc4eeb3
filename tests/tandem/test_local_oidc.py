"""The local OpenID Provider (tandem/local/oidc.py) does the real authorization code + PKCE flow: a
password is checked, PKCE is required, and the ID token it signs carries the user's groups."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tandem.local.oidc import LocalOpenIDProvider
from tandem.local.ports import PortTaken
from tandem.local.stack import free_port
from tests.support.oidc import OidcTestProvider, sign_in, sign_out

pytestmark = pytest.mark.integration


def _discovery(provider: OidcTestProvider) -> dict:
    return httpx.get(provider.discovery_url).raise_for_status().json()


def _authorization_url(provider: OidcTestProvider, redirect_uri: str, *, pkce: str | None, state: str,
                       nonce: str) -> str:
    params = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email groups", "state": state, "nonce": nonce}
    if pkce is not None:
        params |= {"code_challenge": create_s256_code_challenge(pkce), "code_challenge_method": "S256"}
    return f"{_discovery(provider)['authorization_endpoint']}?{urlencode(params)}"


def _callback(answer: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The query the provider sent the browser back to the client with."""
    assert answer.is_redirect, f"expected a redirect to the client, got {answer.status_code}: {answer.text[:300]}"
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _redeem(provider: OidcTestProvider, code: str, redirect_uri: str, verifier: str) -> httpx.Response:
    return httpx.post(_discovery(provider)["token_endpoint"], auth=(provider.client_id, provider.client_secret),
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                            "code_verifier": verifier})


def _verified_claims(provider: OidcTestProvider, id_token: str, nonce: str) -> dict:
    keys = KeySet.import_key_set(httpx.get(_discovery(provider)["jwks_uri"]).raise_for_status().json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])  # raises on a bad signature
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": provider.issuer},
                          aud={"essential": True, "value": provider.client_id},
                          nonce={"essential": True, "value": nonce},
                          sub={"essential": True}, exp={"essential": True}).validate(token.claims)
    assert token.header["alg"] == "RS256"
    return token.claims


@pytest.mark.parametrize("login", ["ana", "ben", "cleo", "root", "nobody"])
def test_code_flow_with_pkce_gives_a_signed_id_token_with_the_users_groups(oidc_provider, login):
    user = oidc_provider.user(login)
    # The session provider's client accepts its callback on any loopback port.
    redirect_uri = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with httpx.Client() as browser:
        answer = sign_in(browser, _authorization_url(oidc_provider, redirect_uri, pkce=verifier, state=state,
                                                     nonce=nonce), login, user.password)
    callback = _callback(answer, redirect_uri)
    assert callback["state"] == state and callback["iss"] == oidc_provider.issuer

    tokens = _redeem(oidc_provider, callback["code"], redirect_uri, verifier)
    assert tokens.status_code == 200, tokens.text
    claims = _verified_claims(oidc_provider, tokens.json()["id_token"], nonce)
    assert claims["sub"] == login
    assert claims["groups"] == user.groups
    assert (claims["name"], claims["email"]) == (user.name, user.email)

    userinfo = httpx.get(_discovery(oidc_provider)["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == login and userinfo.json()["groups"] == user.groups

    again = _redeem(oidc_provider, callback["code"], redirect_uri, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # a code is good once


@pytest.mark.parametrize(("login", "password"), [("ana", "wrong password"), ("ana", ""), ("mallory", "anything")])
def test_a_wrong_password_or_unknown_login_gets_the_form_again_and_no_code(oidc_provider, login, password):
    redirect_uri = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    with httpx.Client() as browser:
        url = _authorization_url(oidc_provider, redirect_uri, pkce=secrets.token_urlsafe(48), state="s", nonce="n")
        answer = sign_in(browser, url, login, password)
        assert answer.status_code == 200 and not answer.is_redirect
        assert "Unknown login or wrong password." in answer.text
        assert 'name="password"' in answer.text
        # The same sign-in then succeeds with the right password: the failure did not end the interaction.
        if login == "ana":
            retry = browser.post(str(answer.url), data={"login": "ana", "password": oidc_provider.password("ana")})
            assert retry.is_redirect


def test_an_authorization_request_without_a_pkce_challenge_is_refused(oidc_provider):
    redirect_uri = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    with httpx.Client() as browser:
        url = _authorization_url(oidc_provider, redirect_uri, pkce=None, state="s", nonce="n")
        answer = browser.get(url)
    callback = _callback(answer, redirect_uri)
    assert callback["error"] == "invalid_request" and "code" not in callback
    assert "PKCE" in callback["error_description"]


def test_a_code_is_not_redeemed_without_its_verifier(oidc_provider):
    redirect_uri = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as browser:
        url = _authorization_url(oidc_provider, redirect_uri, pkce=verifier, state="s", nonce="n")
        callback = _callback(sign_in(browser, url, "ben", oidc_provider.password("ben")), redirect_uri)
    refused = _redeem(oidc_provider, callback["code"], redirect_uri, secrets.token_urlsafe(48))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_provider_of_its_own_accepts_only_its_registered_redirect_uris(start_oidc_provider):
    registered = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    provider = start_oidc_provider(redirect_uris=[registered])
    assert _discovery(provider)["code_challenge_methods_supported"] == ["S256"]
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as browser:
        other = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
        refused = browser.get(_authorization_url(provider, other, pkce=verifier, state="s", nonce="n"))
        assert refused.status_code == 400 and not refused.is_redirect  # never sent to an unregistered URI
        answer = sign_in(browser, _authorization_url(provider, registered, pkce=verifier, state="s", nonce="n"),
                         "root", provider.password("root"))
    tokens = _redeem(provider, _callback(answer, registered)["code"], registered, verifier)
    assert _verified_claims(provider, tokens.json()["id_token"], "n")["groups"] == ["tandem-admins"]


def test_signed_in_already_a_new_sign_in_needs_no_password_but_a_continue(oidc_provider):
    """The session client is "native" (any loopback port): RFC 8252 wants the user to confirm each time."""
    redirect_uri = f"http://127.0.0.1:{free_port()}/dashboard/auth/callback"
    with httpx.Client() as browser:
        first = _authorization_url(oidc_provider, redirect_uri, pkce=secrets.token_urlsafe(48), state="1", nonce="n")
        assert "code" in _callback(sign_in(browser, first, "cleo", oidc_provider.password("cleo")), redirect_uri)
        verifier = secrets.token_urlsafe(48)
        second = _authorization_url(oidc_provider, redirect_uri, pkce=verifier, state="2", nonce="n2")
        start = browser.get(second)
        page = browser.get(start.url.join(start.headers["location"]))
        assert page.status_code == 200 and 'name="password"' not in page.text and "Continue" in page.text
        callback = _callback(sign_in(browser, second, "cleo", "not asked"), redirect_uri)
    tokens = _redeem(oidc_provider, callback["code"], redirect_uri, verifier)
    assert _verified_claims(oidc_provider, tokens.json()["id_token"], "n2")["sub"] == "cleo"


def test_a_config_without_clients_is_refused_with_a_clear_error(tmp_path):
    provider = LocalOpenIDProvider(tmp_path, free_port(), [], {"ana": {"password": "x"}})
    with pytest.raises(RuntimeError, match=r"exited with 2:[\s\S]*\"clients\" \(a non-empty list\) is required"):
        provider.start(tmp_path / "oidc.log")


def test_a_port_in_use_is_reported_not_shared(oidc_provider, tmp_path):
    taken = int(oidc_provider.issuer.rsplit(":", 1)[1])
    second = LocalOpenIDProvider(tmp_path, taken, oidc_provider.process.clients, {})
    with pytest.raises(PortTaken, match=f"port {taken} is needed for the local OpenID Provider"):
        second.start(tmp_path / "oidc.log")


def test_signing_out_at_the_provider_returns_to_the_client_and_ends_the_session(oidc_provider):
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/dashboard/auth/callback"
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as browser:
        url = _authorization_url(oidc_provider, redirect_uri, pkce=verifier, state="s", nonce="n")
        callback = _callback(sign_in(browser, url, "ana", oidc_provider.password("ana")), redirect_uri)
        id_token = _redeem(oidc_provider, callback["code"], redirect_uri, verifier).json()["id_token"]
        after = f"http://127.0.0.1:{port}/dashboard/"
        end = _discovery(oidc_provider)["end_session_endpoint"] + "?" + urlencode(
            {"id_token_hint": id_token, "post_logout_redirect_uri": after, "state": "bye"})
        assert _callback(sign_out(browser, end), after)["state"] == "bye"
        # Signed out: a new sign-in asks for the password again.
        again = browser.get(_authorization_url(oidc_provider, redirect_uri, pkce=verifier, state="s", nonce="n"))
        assert 'name="password"' in browser.get(again.url.join(again.headers["location"])).text


def test_a_client_with_an_invalid_redirect_uri_stops_the_start(tmp_path):
    client = {"client_id": "tandem-dashboard", "client_secret": "s", "redirect_uris": ["not a uri"]}
    provider = LocalOpenIDProvider(tmp_path, free_port(), [client], {"ana": {"password": "x"}})
    with pytest.raises(RuntimeError, match="client tandem-dashboard: redirect_uris must only contain valid uris"):
        provider.start(tmp_path / "oidc.log")
