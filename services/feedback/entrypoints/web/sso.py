"""Single sign-on for the program team: OpenID Connect, authorization code with PKCE (S256), through
Authlib's Starlette client. The provider's metadata comes from its discovery document; Authlib
checks the state, the nonce and the ID token's signature, issuer, audience and expiry.

/dashboard/auth/start (POST, from the sign-in page's button) sends the browser to the provider;
/dashboard/auth/callback takes its answer, reads the subject and the groups claim (from the ID
token, else from userinfo), and sets the session cookie (auth.Sessions). The flow's own state
(state, nonce, code verifier, where to go after) lives for ten minutes in a separate signed cookie
(Starlette's SessionMiddleware), SameSite=Lax so it comes back with the provider's redirect.
"""

from __future__ import annotations

import logging
import warnings
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from httpx import HTTPError
from starlette.middleware.sessions import SessionMiddleware

import authlib.deprecate  # noqa: F401, E402 - first: it sets its warnings to "always", which the filter below overrides

with warnings.catch_warnings():
    # Authlib announces that it will move from httpx to its fork httpx2; this project uses httpx, which
    # Authlib still supports. Without this, every start would log the notice.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth

from services.feedback.entrypoints.web import auth
from services.feedback.entrypoints.web.common import local_page, service_of, signed_in
from services.feedback.entrypoints.web.errors import error_response

log = logging.getLogger("tandem.feedback.web")
router = APIRouter(prefix="/dashboard")
FLOW_COOKIE = "tandem_ops_sign_in"
FLOW_SECONDS = 600


def client(settings):
    """Authlib's client for the configured provider; None when single sign-on is off."""
    if not settings.sso:
        return None
    oauth = OAuth()
    oauth.register(
        "idp", client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10},
    )
    return oauth.create_client("idp")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class FlowState:
    """The sign-in flow's cookie (Starlette's SessionMiddleware), signed with the session key (never the
    ops token); Secure when the request came over https, as the session cookie is."""

    def __init__(self, app, key: str) -> None:
        options = {"secret_key": key, "session_cookie": FLOW_COOKIE, "max_age": FLOW_SECONDS, "path": "/dashboard",
                   "same_site": "lax"}
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope, receive, send) -> None:
        chosen = self.secure if scope.get("scheme") == "https" else self.plain
        await chosen(scope, receive, send)


def with_flow_state(app, settings) -> FlowState:
    return FlowState(app, settings.ops_session_key.get_secret_value())


def redirect_uri(request: Request) -> str:
    settings = service_of(request).settings
    if settings.ops_url:
        return settings.ops_url.rstrip("/") + auth.CALLBACK
    return f"{request.url.scheme}://{request.headers['host']}{auth.CALLBACK}"


@router.post("/auth/start")
async def start(request: Request, next: Annotated[str, Form(max_length=2000)] = "/dashboard"):
    idp = request.app.state.oidc
    if idp is None:
        return _failed(request, "single sign-on is not configured", 404)
    request.session.clear()
    request.session["next"] = local_page(next)
    try:
        return await idp.authorize_redirect(request, redirect_uri(request))
    except (HTTPError, OAuthError, ValueError, KeyError) as exc:
        log.warning("identity provider unreachable at sign-in start: %s", type(exc).__name__)
        return _failed(request, "the identity provider does not answer; try again shortly", 503)


@router.get("/auth/callback")
async def callback(request: Request):
    idp = request.app.state.oidc
    sessions: auth.Sessions = request.app.state.sessions
    if idp is None:
        return _failed(request, "single sign-on is not configured", 404)
    next_page = local_page(request.session.get("next") or "/dashboard")
    try:
        token = await idp.authorize_access_token(request)
    except OAuthError as exc:  # a refused login, a stale or forged state, a bad ID token
        log.info("sign-in refused by the identity provider or its answer: %s", exc.error)
        return _failed(request, "sign-in did not complete; please try again", 400)
    except (HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("sign-in callback failed: %s", type(exc).__name__)
        return _failed(request, "sign-in did not complete; please try again", 400)
    finally:
        request.session.clear()
    claims = dict(token.get("userinfo") or {})
    subject = claims.get("sub")
    groups = await _groups(idp, token, claims, service_of(request).settings.oidc_groups_claim)
    if not isinstance(subject, str) or not subject or len(subject) > auth.SUBJECT_MAX or subject == auth.BREAK_GLASS \
            or any(ord(c) < 32 or ord(c) == 127 for c in subject) or groups is None:
        return _failed(request, "the identity provider's answer lacks a usable subject or groups", 400)
    # Only the groups the role map names are kept: a cookie stays small for people in hundreds of groups.
    kept = sorted({g for g in groups if g in request.app.state.roles.groups})
    return signed_in(request, RedirectResponse(next_page, 303), sessions.for_person(subject, kept))


async def _groups(idp, token, claims: dict, claim: str) -> list[str] | None:
    """The groups claim of the ID token, else of userinfo; none at all is no groups (and no role)."""
    found = claims.get(claim)
    if found is None:
        try:
            found = (await idp.userinfo(token=token)).get(claim)
        except (HTTPError, OAuthError, ValueError) as exc:
            log.warning("userinfo failed: %s", type(exc).__name__)
            return None
    if found is None:
        return []
    if isinstance(found, str):
        found = [found]
    if not isinstance(found, list) or not all(isinstance(g, str) for g in found):
        return None
    return found


def _failed(request: Request, message: str, status: int):
    return error_response(request, status, message)
