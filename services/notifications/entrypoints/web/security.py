"""What every participant page is sent with, and the forms' CSRF check.

Headers: a strict Content-Security-Policy (nothing but this site's stylesheet; forms post only
here; no framing), no referrer (a link's token must not leak to another site), no caching (a page
shows one person's data; the stylesheet and icon may be kept a day), no MIME sniffing.

CSRF: double submit, signed. A page sets a random cookie and puts `HMAC(key, cookie | token)` in
its form; a post is taken only with both, and they must match. The link's own token already is a
secret a forger would need; this also stops a page of another site from posting a token it got
hold of. RFC 8058's one-click unsubscribe is the exception: the mail client posts it, with no page
and no cookie, and it can only switch a kind of message off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The stylesheet and icon hold nothing personal: a browser may keep them for a day.
STATIC = "/a/static/"
STATIC_HEADERS = [h for h in HEADERS if h[0] != b"cache-control"] + [(b"cache-control", b"public, max-age=86400")]
COOKIE = "tandem_form"


def cookie_secure(scheme: str, public_url: str) -> bool:
    """The form cookie is Secure when the page came over https: the request's own scheme, which
    behind a trusted proxy (TANDEM_TRUSTED_PROXIES) is the forwarded one, or the public address."""
    return scheme == "https" or public_url.startswith("https://")


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        static = scope.get("path", "").startswith(STATIC)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = STATIC_HEADERS if static else HEADERS
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)


class FormGuard:
    def __init__(self, keys: str) -> None:
        newest = [k.strip() for k in keys.split(",") if k.strip()][-1]
        self._key = hashlib.sha256(b"tandem.csrf/" + newest.encode()).digest()

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def field(self, cookie: str, token: str) -> str:
        return hmac.new(self._key, f"{cookie}|{token}".encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, field: str | None, token: str) -> bool:
        return bool(cookie and field) and hmac.compare_digest(self.field(cookie, token), field)
