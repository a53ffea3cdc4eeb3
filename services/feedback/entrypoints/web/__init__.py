"""The feedback service's own web app (mounted by `Service(web=build_web, web_prefixes=...)`): the
program team's JSON API under /api and its dashboard under /dashboard."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.feedback.entrypoints.web import api, dashboard, errors, filters, sso
from services.feedback.entrypoints.web.auth import Access, Sessions

HERE = Path(__file__).resolve().parent
PREFIXES = ("/api", "/dashboard")


class ConfigurationError(ValueError):
    """The web app's settings contradict each other; the message names the variables."""


def build_web(service):
    settings = service.settings
    if settings.oidc_issuer and not settings.oidc_client_id:
        raise ConfigurationError("TANDEM_OIDC_ISSUER is set but TANDEM_OIDC_CLIENT_ID is not")
    if settings.sso and settings.ops_session_key is None:
        raise ConfigurationError("single sign-on (TANDEM_OIDC_ISSUER) needs TANDEM_OPS_SESSION_KEY to sign sessions")
    app = FastAPI(title="Tandem program operations", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.service = service
    templates = Jinja2Templates(directory=HERE / "templates")
    filters.install(templates.env)
    app.state.templates = templates
    errors.install(app)
    sessions = Sessions(settings.ops_session_key, settings.ops_session_hours * 3600, settings.ops_token)
    app.state.sessions = sessions
    app.state.roles = roles = settings.roles
    app.state.oidc = sso.client(settings)
    app.include_router(api.router)
    app.include_router(sso.router)
    app.include_router(dashboard.router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="static")
    inner = sso.with_flow_state(app, settings) if app.state.oidc is not None else app
    return errors.CatchAll(errors.SecurityHeaders(Access(inner, service, sessions, roles),
                                                  sign_in_origin=sso.origin(settings.oidc_issuer) if settings.sso
                                                  else None))
