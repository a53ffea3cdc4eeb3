"""The feedback service's own web app (mounted by `Service(web=build_web, web_prefixes=...)`): the
program team's JSON API under /api and its dashboard under /dashboard."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.feedback.entrypoints.web import api, dashboard, errors, filters
from services.feedback.entrypoints.web.auth import OpsAuth

HERE = Path(__file__).resolve().parent
PREFIXES = ("/api", "/dashboard")


def build_web(service):
    app = FastAPI(title="Tandem program operations", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.service = service
    templates = Jinja2Templates(directory=HERE / "templates")
    filters.install(templates.env)
    app.state.templates = templates
    errors.install(app)
    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="static")
    settings = service.settings
    return errors.CatchAll(errors.SecurityHeaders(OpsAuth(app, settings.ops_token, settings.ops_session_hours)))
