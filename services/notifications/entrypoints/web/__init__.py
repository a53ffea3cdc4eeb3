"""Notifications' own web app (mounted by `Service(web=build_web, web_prefixes=("/a",))`): the small
pages behind the action links in participants' messages (`/a/<token>`), and their stylesheet."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.notifications.entrypoints.web import pages
from services.notifications.entrypoints.web.security import SecurityHeaders

HERE = Path(__file__).resolve().parent
PREFIXES = ("/a",)


def build_web(service):
    app = FastAPI(title="Tandem participant pages", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.mount("/a/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    pages.install_errors(app)
    return SecurityHeaders(app)
