"""A real OpenID Provider for the tests (tandem/local/oidc.py: node-oidc-provider), with one client,
`tandem-dashboard`, and five users whose groups cover the dashboard's roles.

Fixtures (registered for every test by tests/conftest.py):
- `oidc_provider` (session): one provider whose client accepts `http://127.0.0.1:<any port>/dashboard/auth/callback`
  (a loopback "native" client, RFC 8252: the port is not compared), and the same for post-logout
  redirects to `http://127.0.0.1:<any port>/dashboard/`.
- `start_oidc_provider(redirect_uris=[...], post_logout_redirect_uris=[...])` (per test): a provider of
  its own whose client accepts exactly these URIs; stopped after the test.
Both give an `OidcTestProvider`; `sign_in` walks its login page with httpx as a browser would, `sign_out`
its logout page.
There is no consent page: every scope the client asks for among `openid profile email groups` is granted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tandem.local.oidc import LocalOpenIDProvider
from tandem.local.stack import free_port

CLIENT_ID = "tandem-dashboard"
# login -> (name, groups). Passwords are random per provider.
PEOPLE: dict[str, tuple[str, list[str]]] = {
    "ana": ("Ana Admin", ["tandem-program-p1-admins"]),
    "ben": ("Ben Viewer", ["tandem-program-p1-viewers"]),
    "cleo": ("Cleo Other", ["tandem-program-p2-admins"]),
    "root": ("Root Operator", ["tandem-admins"]),
    "nobody": ("No Body", []),
}


@dataclass(frozen=True)
class OidcUser:
    login: str  # also the `sub` of its tokens
    password: str
    name: str
    email: str
    groups: list[str]


@dataclass
class OidcTestProvider:
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    users: dict[str, OidcUser]
    process: LocalOpenIDProvider

    def user(self, login: str) -> OidcUser:
        return self.users[login]

    def password(self, login: str) -> str:
        return self.users[login].password


def start_provider(home: Path, redirect_uris: Sequence[str], post_logout_redirect_uris: Sequence[str] = (),
                   *, application_type: str = "web") -> OidcTestProvider:
    """Start a provider with the `tandem-dashboard` client and the five users; the caller stops it
    (`.process.stop()`)."""
    users = {login: OidcUser(login, secrets.token_urlsafe(12), name, f"{login}@example.org", groups)
             for login, (name, groups) in PEOPLE.items()}
    client = {"client_id": CLIENT_ID, "client_secret": secrets.token_urlsafe(24),
              "redirect_uris": list(redirect_uris), "post_logout_redirect_uris": list(post_logout_redirect_uris),
              "application_type": application_type}
    process = LocalOpenIDProvider(
        home, free_port(), [client],
        {u.login: {"password": u.password, "name": u.name, "email": u.email, "groups": u.groups}
         for u in users.values()})
    process.start(home / "oidc.log")
    return OidcTestProvider(process.issuer, process.discovery_url, CLIENT_ID, client["client_secret"],
                            list(redirect_uris), list(post_logout_redirect_uris), users, process)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcTestProvider]:
    provider = start_provider(tmp_path_factory.mktemp("oidc"), ["http://127.0.0.1/dashboard/auth/callback"], ["http://127.0.0.1/dashboard/"],
                              application_type="native")
    try:
        yield provider
    finally:
        provider.process.stop()


@pytest.fixture
def start_oidc_provider(tmp_path: Path) -> Iterator[Callable[..., OidcTestProvider]]:
    started: list[OidcTestProvider] = []

    def start(redirect_uris: Sequence[str], post_logout_redirect_uris: Sequence[str] = ()) -> OidcTestProvider:
        provider = start_provider(tmp_path / f"oidc-{len(started)}", redirect_uris, post_logout_redirect_uris)
        started.append(provider)
        return provider

    try:
        yield start
    finally:
        for provider in started:
            provider.process.stop()


_FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')


def form_action(page: httpx.Response) -> str:
    """The absolute URL the provider's page's form posts to."""
    found = _FORM_ACTION.search(page.text)
    if found is None:
        raise AssertionError(f"no form on {page.url} (status {page.status_code}): {page.text[:300]}")
    return urljoin(str(page.url), unescape(found.group(1)))


def sign_in(http: httpx.Client, authorization_url: str, login: str, password: str) -> httpx.Response:
    """Open the authorization URL, fill in the login form (or press "Continue" when `http` is signed
    in already), and follow the provider's redirects until one leaves the provider: that response (its
    `Location` is the client's redirect URI with `code`, `state` and `iss`, or with an `error`) is
    returned without being followed. When the password is refused, the provider's page (the login
    form again, with an error) is returned instead. `http` keeps the provider's cookies as a browser
    does."""
    page = _follow_within(http, http.get(authorization_url))
    for _ in range(3):
        if page.is_redirect or page.status_code != 200:
            return page
        action = form_action(page)
        if action.endswith("/login"):
            page = _follow_within(http, http.post(action, data={"login": login, "password": password}))
            if not page.is_redirect:
                return page  # refused: the form again
        elif action.endswith("/confirm"):
            page = _follow_within(http, http.post(action))
        else:
            raise AssertionError(f"unexpected form on {page.url}: {action}")
    raise AssertionError(f"the sign-in did not end: {page.url}")


_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


def sign_out(http: httpx.Client, end_session_url: str) -> httpx.Response:
    """Open the provider's end-session URL (RP-initiated logout, with `id_token_hint`,
    `post_logout_redirect_uri`, `state` as the client sends them) and press "Sign me out". Returns the
    redirect that leaves the provider (to the post-logout redirect URI), or the provider's last page."""
    page = _follow_within(http, http.get(end_session_url))
    if page.is_redirect or page.status_code != 200:
        return page
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    return _follow_within(http, http.post(form_action(page), data={**fields, "logout": "yes"}))


def _follow_within(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    origin = response.url.copy_with(path="/", query=None, fragment=None)
    while response.is_redirect:
        target = response.url.join(response.headers["location"])
        if target.copy_with(path="/", query=None, fragment=None) != origin:
            return response
        response = http.get(target)
    return response
