"""Who is calling /api and /dashboard, and whether the request may go on at all.

Three kinds of caller, each with grants per program (domain/access.py):
- a person signed in through single sign-on: the session cookie holds their subject and groups;
  the role map turns the groups into roles on every request, so a changed map applies at once;
- a machine with an API token (`Authorization: Bearer tandem_...`, `tandem token create`): one role
  on one program, or tandem-admin;
- the break-glass operator with `TANDEM_OPS_TOKEN` (Bearer, or the token form at sign-in): tandem-admin.

The cookie is signed with `TANDEM_OPS_SESSION_KEY` (itsdangerous; never the ops token), expires
after `ops_session_hours`, is HttpOnly, SameSite=Lax (the sign-in returns from the identity
provider's site) and Secure whenever the request came over https (the ASGI scheme, which uvicorn
takes from X-Forwarded-Proto of a trusted proxy). Against cross-site requests, every unsafe request
without a bearer token must carry an Origin equal to this site's; against DNS rebinding, the Host
must be a loopback name or that of `TANDEM_OPS_URL`. With no way to sign in configured, every path
under /api and /dashboard refuses: nothing is ever open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr

from services.feedback.adapters.api_tokens import ApiTokens
from services.feedback.domain.access import EVERYTHING, Grants, RoleMap

COOKIE = "tandem_ops_session"
SIGN_IN = "/dashboard/sign-in"
CALLBACK = "/dashboard/auth/callback"
OPEN_PATHS = (SIGN_IN, "/dashboard/auth/start", CALLBACK, "/dashboard/sign-out")
OPEN_PREFIXES = ("/dashboard/static/",)
GUARDED_PREFIXES = ("/api", "/dashboard")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SUBJECT_MAX = 190  # requested_by is `ops:<subject>`, at most 200 characters in the events
BREAK_GLASS = "break-glass"


@dataclass(frozen=True)
class Caller:
    subject: str  # the identity provider's subject, the API token's id, or "break-glass"
    kind: str  # "sso", "token" or "break-glass"
    grants: Grants
    by_cookie: bool

    @property
    def requested_by(self) -> str:
        """Who the audit trail names on an action: authenticated, never typed in."""
        if self.kind == "token":
            return f"token:{self.subject}"
        return f"ops:{self.subject}"

    @property
    def shown_as(self) -> str:
        return "break-glass operator" if self.kind == BREAK_GLASS else self.subject


def token_matches(given: str, token: SecretStr) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.get_secret_value().encode())


def _fingerprint(token: SecretStr) -> str:
    """Ties a break-glass session to the ops token it was opened with: a new token signs it out."""
    return hashlib.sha256(b"tandem-break-glass|" + token.get_secret_value().encode()).hexdigest()[:32]


class Sessions:
    """The signed session cookie: {sub, groups, via} plus its issue time (itsdangerous)."""

    def __init__(self, key: SecretStr | None, max_age: float, ops_token: SecretStr | None) -> None:
        self.max_age, self.ops_token = max_age, ops_token
        self.signer = URLSafeTimedSerializer(key.get_secret_value(), salt="tandem-ops-session") if key else None

    @property
    def enabled(self) -> bool:
        return self.signer is not None

    def for_person(self, subject: str, groups: list[str]) -> str:
        return self.signer.dumps({"sub": subject, "groups": groups, "via": "sso"})

    def for_break_glass(self) -> str:
        return self.signer.dumps({"sub": BREAK_GLASS, "via": BREAK_GLASS, "fp": _fingerprint(self.ops_token)})

    def read(self, value: str, roles: RoleMap) -> Caller | None:
        if self.signer is None or not value or len(value) > 8000:
            return None
        try:
            data = self.signer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sub"), str):
            return None
        if data.get("via") == BREAK_GLASS:
            if self.ops_token is None or not hmac.compare_digest(str(data.get("fp", "")),
                                                                 _fingerprint(self.ops_token)):
                return None
            return Caller(BREAK_GLASS, BREAK_GLASS, EVERYTHING, True)
        groups = data.get("groups")
        if data.get("via") != "sso" or not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        return Caller(data["sub"], "sso", roles.grants(groups), True)


def cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value.strip('"')
    return found


def guarded(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in GUARDED_PREFIXES)


class Access:
    """ASGI middleware in front of the web app: it checks before routing, so even an unknown path
    under /api or /dashboard says 401, not 404, to a caller who is not signed in."""

    def __init__(self, app, service, sessions: Sessions, roles: RoleMap) -> None:
        self.app, self.service, self.sessions, self.roles = app, service, sessions, roles
        settings = service.settings
        self.ops_token: SecretStr | None = settings.ops_token
        public = urlsplit(settings.ops_url) if settings.ops_url else None
        self.public_host = public.netloc.lower() if public else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host = headers.get("host", "")
        if not self.known_host(host):
            return await _refuse_json(send, 400, "unknown host")
        path, method = scope["path"], scope["method"]
        bearer = "authorization" in headers
        caller = await self.identify(headers)
        if bearer and caller is None:  # a wrong token is never "no token": it is refused, not sent to sign in
            return await self.refuse(scope, headers, send)
        if method not in SAFE_METHODS and not bearer and not same_origin(headers.get("origin"), scope, host):
            return await _refuse_json(send, 403, "cross-site request refused")
        open_path = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if caller is None and not open_path:
            return await self.refuse(scope, headers, send)
        state = scope.setdefault("state", {})
        state["caller"] = caller
        await self.app(scope, receive, send)

    def known_host(self, host: str) -> bool:
        host = host.lower()
        if self.public_host and host == self.public_host:
            return True
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
        return name in LOOPBACK

    async def identify(self, headers: dict[str, str]) -> Caller | None:
        if "authorization" in headers:
            scheme, _, given = headers["authorization"].partition(" ")
            given = given.strip()
            if scheme.lower() != "bearer" or not given:
                return None
            if self.ops_token is not None and token_matches(given, self.ops_token):
                return Caller(BREAK_GLASS, BREAK_GLASS, EVERYTHING, False)
            return await self.api_token(given)
        value = cookies(headers.get("cookie", "")).get(COOKIE)
        return self.sessions.read(value, self.roles) if value else None

    async def api_token(self, given: str) -> Caller | None:
        pool = self.service.pool
        if pool is None:
            return None
        async with pool.acquire() as conn:
            found = await ApiTokens(conn).valid(given)
        if found is None:
            return None
        return Caller(found.token_id, "token", Grants.of_role(found.role, found.program_id), False)

    async def refuse(self, scope, headers: dict[str, str], send) -> None:
        path = scope["path"]
        if path.startswith("/dashboard") and scope["method"] == "GET" and "hx-request" not in headers \
                and "authorization" not in headers:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return await _send(send, 303, {"location": f"{SIGN_IN}?next={quote(target, safe='')}"}, b"")
        extra = {"hx-redirect": SIGN_IN} if "hx-request" in headers else {}
        await _send(send, 401, {"content-type": "application/json", "www-authenticate": 'Bearer realm="tandem"',
                                **extra},
                    json.dumps({"error": "sign in, or send Authorization: Bearer <API token>"}).encode())


def same_origin(origin: str | None, scope, host: str) -> bool:
    """A browser's unsafe request must come from a page of this site: the Origin it sends is this
    site's scheme and host. No Origin, `null` or another site: refused."""
    if not origin or origin == "null":
        return False
    return origin.lower() == f"{scope.get('scheme', 'http')}://{host}".lower()


async def _refuse_json(send, status: int, message: str) -> None:
    await _send(send, status, {"content-type": "application/json"}, json.dumps({"error": message}).encode())


async def _send(send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
