"""Who may read the program team's numbers and act on relationships.

When `TANDEM_OPS_TOKEN` is set, every request under /api and /dashboard carries it, either as
`Authorization: Bearer <token>` (tools, scripts) or as the session cookie the sign-in page sets
(people). The cookie holds the signed-in name, when it was issued and an HMAC of both keyed with
the token, never the token itself: every replica can check it, and changing the token signs
everybody out. It is HttpOnly and SameSite=Strict; comparisons are constant-time. The sign-in page
and the vendored static files (no data in them) are the only open paths.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import SecretStr

COOKIE = "tandem_ops_session"
SIGN_IN = "/dashboard/sign-in"
OPEN_PATHS = (SIGN_IN,)
OPEN_PREFIXES = ("/dashboard/static/",)
GUARDED_PREFIXES = ("/api", "/dashboard")
USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
CLOCK_SKEW = 60  # seconds a cookie may seem issued in the future (replicas' clocks differ a little)


def valid_user(name: str) -> bool:
    return bool(USER.match(name))


def token_matches(given: str, token: SecretStr) -> bool:
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def _mac(token: SecretStr, user: str, issued: int) -> str:
    return hmac.new(token.get_secret_value().encode(), f"tandem-ops-session|{user}|{issued}".encode(),
                    hashlib.sha256).hexdigest()


def session_cookie(token: SecretStr, user: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return f"{user}.{issued}.{_mac(token, user, issued)}"


def session_user(value: str, token: SecretStr, *, max_age: float, now: float | None = None) -> str | None:
    """The signed-in name, when the cookie is genuine and fresh."""
    try:
        user, issued_text, mac = value.rsplit(".", 2)
        issued = int(issued_text)
    except ValueError:
        return None
    now = now if now is not None else time.time()
    if not valid_user(user) or not (now - max_age <= issued <= now + CLOCK_SKEW):
        return None
    return user if hmac.compare_digest(mac, _mac(token, user, issued)) else None


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value.strip('"')
    return found


@dataclass(frozen=True)
class Caller:
    user: str | None  # the signed-in name, or None (a bearer token, or no token configured)
    by_cookie: bool


class OpsAuth:
    """ASGI middleware in front of the web app: it checks before routing, so even an unknown path
    under /api or /dashboard says 401, not 404, to a caller without the token."""

    def __init__(self, app, token: SecretStr | None, session_hours: float) -> None:
        self.app, self.token, self.max_age = app, token, session_hours * 3600

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        caller = self.identify(scope["path"], headers)
        if caller is None:
            return await self.refuse(scope, headers, send)
        if caller.by_cookie and scope["method"] not in ("GET", "HEAD") and not _same_origin(headers):
            return await _send(send, 403, {"content-type": "application/json"},
                               json.dumps({"error": "cross-site request refused"}).encode())
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    def identify(self, path: str, headers: dict[str, str]) -> Caller | None:
        token = self.token
        if token is None:
            return Caller(None, False)
        cookie = _cookies(headers.get("cookie", "")).get(COOKIE)
        user = session_user(cookie, token, max_age=self.max_age) if cookie else None
        if user is not None:
            return Caller(user, True)
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given and token_matches(given.strip(), token):
            return Caller(None, False)
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) \
                or not any(path == p or path.startswith(p + "/") for p in GUARDED_PREFIXES):
            return Caller(None, False)
        return None

    async def refuse(self, scope, headers: dict[str, str], send) -> None:
        path = scope["path"]
        if path.startswith("/dashboard") and scope["method"] == "GET" and "hx-request" not in headers:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return await _send(send, 303, {"location": f"{SIGN_IN}?next={quote(target, safe='')}"}, b"")
        extra = {"hx-redirect": SIGN_IN} if "hx-request" in headers else {}
        await _send(send, 401, {"content-type": "application/json", "www-authenticate": 'Bearer realm="tandem"',
                                **extra},
                    json.dumps({"error": "sign in, or send Authorization: Bearer <TANDEM_OPS_TOKEN>"}).encode())


def _same_origin(headers: dict[str, str]) -> bool:
    """A browser's unsafe request from a signed-in session must come from this site (SameSite=Strict
    already keeps the cookie off cross-site requests; this also refuses a mismatched Origin)."""
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == headers.get("host", "")


async def _send(send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
