"""Errors as the program team's clients see them: JSON with a plain-words `error` under /api (and
for htmx requests), a short HTML page on the dashboard. Bad parameters are 400, unknown things
404, refused actions 409; anything unexpected is a 500 without details, logged with code
locations only (an exception's message might carry data)."""

from __future__ import annotations

import json
import logging
import traceback
from html import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from services.feedback.entrypoints.web.filters import without_bidi_controls
from shared.retry import is_infrastructure

log = logging.getLogger("tandem.feedback.web")


def error_response(request: Request, status: int, message: str, details: list | None = None):
    if request.url.path.startswith("/api"):
        body = {"error": message, **({"details": details} if details else {})}
        return JSONResponse(body, status_code=status)
    if "hx-request" in request.headers:  # a fragment, swapped into the page's status line
        text = message if not details else f"{message}: " + "; ".join(f"{d['where']} {d['message']}" for d in details)
        return HTMLResponse(f'<p class="error">{escape(without_bidi_controls(text))}</p>', status_code=status)
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


def describe(exc: RequestValidationError) -> list[dict[str, str]]:
    return [{"where": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request",
             "message": e.get("msg", "invalid")} for e in exc.errors()[:10]]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError):
        return error_response(request, 400, "bad request", describe(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        # Starlette answers with this, then re-raises for CatchAll (below) to log.
        status = 503 if is_infrastructure(exc) else 500
        return JSONResponse({"error": "temporarily unavailable" if status == 503 else "internal error"},
                            status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such page"
        elif exc.status_code == 405:
            message = "method not allowed"
        response = error_response(request, exc.status_code, message)
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response


class CatchAll:
    """Outermost ASGI layer: an unexpected error becomes a JSON 500 (503 while the database or
    broker is away) instead of a dropped connection, and is logged without its message."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: answer, log, go on
            unavailable = is_infrastructure(exc)
            log.error("%s on %s %s at %s", type(exc).__name__, scope.get("method"), scope.get("path"),
                      " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}"
                                  for f in reversed(traceback.extract_tb(exc.__traceback__)[-6:])))
            if started:
                return
            status = 503 if unavailable else 500
            body = json.dumps({"error": "temporarily unavailable" if unavailable else "internal error"}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """No remote anything: the pages load only this service's own files. Referrer-Policy same-origin:
    no address leaves for another site, while a form's POST still carries this site's Origin (with
    no-referrer a browser sends `Origin: null`, which the CSRF check refuses). Style attributes are
    allowed (htmx and uPlot set some while they work); style sheets and scripts come from here only."""

    POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
              "img-src 'self' data:; connect-src 'self'; "
              "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

    def __init__(self, app, sign_in_origin: str | None = None) -> None:
        """`sign_in_origin`: the identity provider's, where the sign-in form's redirect leads (a form's
        redirects fall under form-action too)."""
        self.app = app
        self.policy = self.POLICY if sign_in_origin is None else self.POLICY.replace(
            "form-action 'self'", f"form-action 'self' {sign_in_origin}")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/dashboard/static/")

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                            (b"content-security-policy", self.policy.encode()), (b"x-frame-options", b"DENY")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
