"""`GET /a/<token>`: the page of an action link, with the choice already made (changes nothing: mail
scanners open every link). `POST /a/<token>`: its one button (service_layer/acts.py decides and
publishes). Every word comes from the reader's catalogue, in their tone; errors are pages too, in
their language when the link says who they are (403 forged or not theirs, 410 expired, 404
unknown, 409 ended or no longer open), or JSON for a client that asks for it. A form sent with a value
that will not do is shown again (400) with what the person entered and the field to change (`Sent`).
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException

from services.notifications.domain import compose, forms, links
from services.notifications.domain.messages import actions as action_texts
from services.notifications.domain.messages import pages as texts
from services.notifications.domain.messages.structure import DIRECT, Text
from services.notifications.domain.render import Writer
from services.notifications.entrypoints.web.security import COOKIE, FormGuard, cookie_secure
from services.notifications.i18n.catalogues import language_for
from services.notifications.i18n.values import Moment, Span, Zone
from services.notifications.metrics import LINK_ACTS
from services.notifications.service_layer import acts

log = logging.getLogger("tandem.notifications.pages")
router = APIRouter()
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058's body

# What a refusal's page says: (title, body, status).
REFUSALS: dict[str, tuple[str, str]] = {
    "expired": ("EXPIRED_TITLE", "EXPIRED"),
    "refused": ("REFUSED_TITLE", "REFUSED"),
    "not_found": ("NOT_FOUND_TITLE", "NOT_FOUND"),
    "ended": ("ENDED_TITLE", "ENDED"),
    "closed": ("SITE", "PROPOSAL_CLOSED"),
    "gone": ("SITE", "MEETING_GONE"),
    "already_done": ("DONE_TITLE", "ALREADY_DONE"),
    "bad_field": ("BAD_FIELD_TITLE", "BAD_FIELD"),
    "form_expired": ("SITE", "FORM_EXPIRED"),
    "unavailable": ("SITE", "UNAVAILABLE"),
}
# A field named in a 400 page by its label.
FIELD_LABELS = {
    "answer": "PROPOSAL_ANSWER", "reason_code": "END_WHY", "note": "NOTE_FOR_TEAM", "cadence_days": "CADENCE",
    "duration_minutes": "DURATION", "place": "PLACE", "place_details": "PLACE_DETAILS",
    "response_time_hours": "RESPONSE_TIME", "goals": "GOALS_EDIT", "boundaries": "BOUNDARIES", "slot": "MOVE_TO",
    "rating": "RATING", "comment": "COMMENT", "fit": "FIT", "channel": "CHANNEL", "quiet_start": "QUIET_FROM",
    "quiet_end": "QUIET_UNTIL", "locale": "LANGUAGE", "style": "TONE",
}


@dataclass(frozen=True)
class Sent:
    """What the person posted, for a form shown again because one field needs another value (a 400
    page): each control keeps what they entered, and the field says what is wrong beside it. A page
    opened with GET has none (`NOTHING_SENT`): its controls show what is known so far."""

    form: Mapping[str, str] | None = None
    field: str | None = None
    message: str = ""

    def get(self, name: str, default: Any = None) -> Any:
        """What they entered (empty when they left it out), or `default` when nothing was posted."""
        return default if self.form is None else self.form.get(name, "")

    def on(self, name: str, default: bool) -> bool:
        """Whether a checkbox was ticked (an unticked box is not posted at all)."""
        return default if self.form is None else forms.ticked(self.form, name)

    def invalid(self, name: str) -> Markup:
        return Markup(' aria-invalid="true"') if name == self.field else Markup("")

    def error(self, name: str) -> Markup:
        if name != self.field:
            return Markup("")
        return Markup('<p class="error" id="{}-error" role="alert">{}</p>').format(name, self.message)


NOTHING_SENT = Sent()
TEMPLATES.env.globals["sent"] = NOTHING_SENT  # a page's own `sent` (a 400) replaces it


class Words:
    """The page's words in one reader's language and tone: `t("NAME", **params)` for a text of
    messages/pages.py (or messages/actions.py), `when(moment)` for a time on their clock."""

    def __init__(self, locale: str, tone: str, timezone: str = "UTC") -> None:
        self.language = language_for(locale)
        self.tone = tone if tone in ("direct", "indirect") else DIRECT
        self.writer = Writer(self.language, self.tone)
        self.timezone = timezone

    @property
    def lang(self) -> str:
        return self.language.tag

    def t(self, name: str, **params: Any) -> str:
        text = getattr(texts, name, None) or getattr(action_texts, name)
        if isinstance(text, dict):
            text = text.get(self.tone) or text[DIRECT]
        assert isinstance(text, Text), name
        return self.writer.fill(text, params).text

    def when(self, moment: datetime) -> str:
        return self.writer.show(Moment(moment, self.timezone)).text

    def zone(self) -> str:
        return self.writer.show(Zone(self.timezone)).text

    def every(self, days: int) -> str:
        """How often a pair meets: "every week", "every 10 days"."""
        return self.writer.show(compose.recurrence(days)).text

    def length(self, *, minutes: int = 0, hours: int = 0) -> str:
        return self.writer.show(Span(timedelta(minutes=minutes, hours=hours))).text

    def language_name(self, tag: str) -> str:
        try:
            return Locale.parse(tag, sep="-").get_display_name(tag.replace("-", "_")) or tag
        except (ValueError, TypeError):
            return tag


def _words_for(person, request: Request) -> Words:
    if person is not None:
        return Words(person.locale, person.communication.style, person.timezone)
    accepted = (request.headers.get("accept-language") or "en").split(",")[0].split(";")[0].strip() or "en"
    return Words(accepted, DIRECT)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _refusal(request: Request, words: Words, kind: str, status: int, **params: Any) -> Response:
    title, body = REFUSALS[kind]
    message = words.t(body, **params)
    if _wants_json(request):
        return JSONResponse({"error": kind, "message": message}, status_code=status)
    return TEMPLATES.TemplateResponse(request, "message.html", {"w": words, "title": words.t(title), "body": message,
                                                                 "kind": kind, "page_name": kind},
                                      status_code=status)


async def _open(request: Request, token: str, choice: str | None):
    """The link, and the person it is for; or the refusal page to answer with."""
    service = request.app.state.service
    deps = service.deps
    now = service.clock.now()
    try:
        link = deps.signer.read(token, now)
    except links.LinkExpired as expired:
        async with service.transaction() as uow:
            person = await uow.participants.get(expired.link.participant_id)
        return None, _refusal(request, _words_for(person, request), "expired", 410)
    except links.LinkRefused:
        return None, _refusal(request, _words_for(None, request), "refused", 403)
    return acts.Request(link, None, now, choice), None  # type: ignore[arg-type]


def _never_a_500(handler):
    """A failure nobody foresaw answers with a kind 503 page (the database may be away), logged by
    type and code location only: an exception's message might carry a person's data."""

    @functools.wraps(handler)
    async def guarded(request: Request, *args, **kwargs):
        try:
            return await handler(request, *args, **kwargs)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            log.error("page failed: %s at %s:%s", type(exc).__name__, where.filename if where else "?",
                      where.lineno if where else "?")
            return _refusal(request, _words_for(None, request), "unavailable", 503)

    return guarded


@router.get("/a/{token}", response_class=HTMLResponse)
@_never_a_500
async def show(request: Request, token: str, choice: str | None = None):
    opened, refusal = await _open(request, token, choice)
    if refusal is not None:
        return refusal
    service = request.app.state.service
    guard = FormGuard(service.settings.link_keys.get_secret_value())
    person = None
    try:
        async with service.transaction() as uow:
            person = await acts.person_of(uow, opened.link)
            r = acts.Request(opened.link, person, opened.now, choice if choice and len(choice) < 40 else None)
            page = await acts.show(uow, r, service.settings)
    except acts.Refused as refused:
        return _refusal(request, _words_for(person, request), refused.kind, refused.status)
    cookie = request.cookies.get(COOKIE) or guard.new_cookie()
    words = _words_for(person, request)
    response = TEMPLATES.TemplateResponse(request, f"{page.template}.html", {
        "w": words, "person": person, "csrf": guard.field(cookie, token), "choice": r.choice,
        "page_name": page.template, **page.data},
        status_code=page.status)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/a/",
                        secure=cookie_secure(request.url.scheme, service.settings.public_url))
    return response


@router.post("/a/{token}", response_class=HTMLResponse)
@_never_a_500
async def post(request: Request, token: str):
    opened, refusal = await _open(request, token, None)
    if refusal is not None:
        return refusal
    service = request.app.state.service
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    one_click = opened.link.kind == links.UNSUBSCRIBE and form.get(ONE_CLICK[0]) == ONE_CLICK[1]
    guard = FormGuard(service.settings.link_keys.get_secret_value())
    person = None
    try:
        async with service.transaction() as uow:
            person = await acts.person_of(uow, opened.link)
            words = _words_for(person, request)
            if not one_click and not guard.valid(request.cookies.get(COOKIE), form.get("csrf"), token):
                raise acts.Refused("form_expired", 403)
            r = acts.Request(opened.link, person, opened.now)
            page = await acts.act(uow, r, form, service.settings, one_click=one_click)
    except acts.Refused as refused:
        if one_click and refused.kind == "already_done":
            return Response(status_code=200)  # a mail client's retry: stopped already
        return _refusal(request, _words_for(person, request), refused.kind, refused.status)
    except forms.FieldError as bad:
        words = _words_for(person, request)
        label = FIELD_LABELS.get(bad.field.split("_")[0] if bad.field.startswith("goal_") else bad.field)
        field = words.t(label) if label else bad.field
        if bad.field.startswith("goal_"):
            field = words.t("GOAL_PROGRESS")
        if _wants_json(request):
            return _refusal(request, words, "bad_field", 400, field=field)
        return await _form_again(request, token, opened, form, Sent(form, bad.field, words.t("BAD_FIELD", field=field)))
    LINK_ACTS.labels(action=f"{opened.link.subject_kind}.{opened.link.action}").inc()
    if one_click:
        return Response(status_code=200)
    data = dict(page.data)
    mentee = data.pop("mentee", None)
    message = words.t(data.pop("message"), **({"mentee_name": mentee.name} if mentee is not None else {}))
    if _wants_json(request):
        return JSONResponse({"status": "done", "message": message})
    return TEMPLATES.TemplateResponse(request, "message.html", {"w": words, "title": words.t("DONE_TITLE"),
                                                                 "body": message, "kind": "done",
                                                                 "page_name": "done"})


async def _form_again(request: Request, token: str, opened: acts.Request, form: dict[str, str], sent: Sent) -> Response:
    """The form, shown again with what the person entered and the field to correct (400): read as a
    GET reads it (nothing is published: the post that failed recorded nothing either)."""
    service = request.app.state.service
    person = None
    try:
        async with service.transaction() as uow:
            person = await acts.person_of(uow, opened.link)
            r = acts.Request(opened.link, person, opened.now)
            page = await acts.show(uow, r, service.settings)
    except acts.Refused as refused:
        return _refusal(request, _words_for(person, request), refused.kind, refused.status)
    guard = FormGuard(service.settings.link_keys.get_secret_value())
    cookie = request.cookies.get(COOKIE) or guard.new_cookie()
    data = dict(page.data)
    if "nonce" in data and form.get("nonce"):
        data["nonce"] = form["nonce"][:64]  # the same page load: a second send still counts once
    return TEMPLATES.TemplateResponse(request, f"{page.template}.html", {
        "w": _words_for(person, request), "person": person, "csrf": guard.field(cookie, token), "choice": None,
        "page_name": page.template, **data, "sent": sent}, status_code=400)


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        words = _words_for(None, request)
        kind = "not_found" if exc.status_code == 404 else "refused"
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return _refusal(request, words, kind, status)

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        return _refusal(request, _words_for(None, request), "refused", 400)
