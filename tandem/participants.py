"""The demo's participants: people who read their mail and act from its links, as anyone would.

Every mail the demo's mail server receives is read once: its `To:` names the person (the
population's e-mail addresses), its plain text lists the actions as `Label: URL` lines before the
footer, and `List-Unsubscribe` carries the one-click link. What the mail is about (its template),
and what it was caused by, a person reads in its subject; the demo reads the same from the
delivery the mail belongs to (`X-Tandem-Delivery` is the `notification_id` of notification.delivered,
which names the template and the cause event), so it needs no dictionary of subjects in seven
languages.

Acting is what a browser does: GET the link (which changes nothing) and read the page's
`<main data-page="...">` and its form; fill the form as the person would (the prefilled values, the
hidden `csrf` field, and the person's own choices); POST it to the same path with the cookie the GET
set (one cookie jar per person). The answer page's data-page says what happened: `done`, or why not
(`already_done`, `expired`, `ended`, ...). A page whose subject has not reached notifications yet
(`not_found`), or a service that is briefly away (`unavailable`), is tried again a little later.

What the people do (deterministic from the seed and the subject, whatever order mails arrive in):

| mail                                         | who               | does                                                     |
|----------------------------------------------|-------------------|----------------------------------------------------------|
| match_proposed                               | the mentor        | accepts; `decline_rate` decline, with a reason code      |
| match_established (the introduction)         | both              | fill the agreement: some choose 60 minutes or another    |
|                                              |                   | cadence, a phone call or a place; the mentee may reorder |
|                                              |                   | their goals                                              |
| meeting_scheduled (an invite)                | the mentee        | `move_rate` move it to an offered time; the rest attend  |
| reminder_due                                 | the mentee        | `unsubscribe_rate` of mentees stop reminders (one-click) |
| attendance_requested (to both, after it)     | the first to read | held; `miss_rate` not held. The other leaves it          |
| feedback/checkin/closure requests            | the one asked     | a rating, a comment, `fit` after the kickoff (mostly     |
|                                              |                   | good), and (the mentee) progress on their goals          |
| anything else (celebrations, notices, nudges)| -                 | read, nothing to do                                      |
"""

from __future__ import annotations

import asyncio
import email
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

LINK = re.compile(r"https?://[^\s<>\"]+/a/[A-Za-z0-9._\-]+(?:\?choice=[A-Za-z_]+)?")
FOOTER = "\n-- \n"
# Pages that ask again later: the subject has not reached notifications yet, or it is briefly away.
LATER = ("not_found", "unavailable")
RETRIES = 8
FEEDBACK_KINDS = {"feedback_requested": "feedback", "checkin_requested": "checkin",
                  "checkin_reminder": "checkin", "closure_requested": "closure"}
COMMENTS = ("Helpful conversation.", "We set a clear next step.", "Good questions, I have homework now.",
            "Practised it twice since our last talk.", "Short but useful.", "")
PLACE_DETAILS = ("Office, third floor, the small meeting room", "The cafe by the main entrance")
BOUNDARIES = ("No calls after 18:00 my time, please.", "Let's keep what we discuss between us.")


@dataclass
class Mail:
    """One mail as its reader sees it."""

    name: str
    recipient_id: str
    delivery_id: str
    links: list[str]  # the body's action links, in order
    unsubscribe: str | None  # RFC 8058 one-click (List-Unsubscribe)
    first_seen: float = 0.0
    template: str | None = None
    cause_id: str | None = None
    cause: dict[str, Any] | None = None  # the cause event's data, when the cause is an event

    def link(self, choice: str | None = None) -> str | None:
        for url in self.links:
            if (choice is None and "?choice=" not in url) or (choice and url.endswith(f"?choice={choice}")):
                return url
        return None


def parse_mail(message: EmailMessage, name: str, by_email: dict[str, str]) -> Mail | None:
    """The mail's reader and links; None for a mail to someone outside the population (the team)."""
    recipient = by_email.get(parseaddr(message["To"] or "")[1].lower())
    if recipient is None:
        return None
    part = message.get_body(("plain",))
    text = part.get_content() if part is not None else ""
    body = text.split(FOOTER, 1)[0]
    unsubscribe = (message["List-Unsubscribe"] or "").strip().strip("<>") or None
    return Mail(name, recipient, message["X-Tandem-Delivery"] or "", LINK.findall(body), unsubscribe)


class Form(HTMLParser):
    """A page's name (`<main data-page>`) and its form's fields, as a browser would submit them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page: str | None = None
        self.values: dict[str, str] = {}  # what the form sends untouched (prefilled, checked, selected)
        self.options: dict[str, list[str]] = {}  # radio and select name -> the values offered
        self.bounds: dict[str, tuple[int, int]] = {}  # number inputs' min and max
        self.labels: dict[str, str] = {}  # an element's id -> its label's text
        self._text_of: str | None = None  # textarea name being read
        self._label_for: str | None = None
        self._select: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "main" and "data-page" in a:
            self.page = a["data-page"]
        elif tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                self.options.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    self.values[name] = a.get("value", "on")
            elif kind not in ("submit", "button"):
                self.values[name] = a.get("value", "")
                if kind == "number" and a.get("min") and a.get("max"):
                    self.bounds[name] = (int(a["min"]), int(a["max"]))
        elif tag == "textarea" and name:
            self._text_of = name
            self.values[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select:
            self.options.setdefault(self._select, []).append(a.get("value", ""))
            if "selected" in a:
                self.values[self._select] = a.get("value", "")
        elif tag == "label" and a.get("for"):
            self._label_for = a["for"]
            self.labels[self._label_for] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._text_of = None
        elif tag == "select":
            self._select = None
        elif tag == "label":
            self._label_for = None

    def handle_data(self, data: str) -> None:
        if self._text_of:
            self.values[self._text_of] += data
        if self._label_for:
            self.labels[self._label_for] += data

    def goals(self) -> list[tuple[str, str]]:
        """The feedback page's goals: (field name, the goal's text), in the page's order."""
        return [(name, self.labels.get(name, "").strip()) for name in self.options
                if name.startswith("goal_")]


@dataclass
class Outcomes:
    """What the people did, for the report."""

    link_actions: Counter = field(default_factory=Counter)  # kind -> accepted by the page (done)
    links_opened: int = 0  # GETs
    pages_refused: Counter = field(default_factory=Counter)  # outcome -> times a page said no
    mails_read: int = 0
    goal_progress_posted: int = 0  # goal values in feedback forms the page accepted
    feedback_answered: set[str] = field(default_factory=set)  # request ids answered (done)
    requests_settled: dict[str, str] = field(default_factory=dict)  # request id -> outcome
    reminders_before_unsubscribing: dict[str, int] = field(default_factory=dict)  # person -> reminders read


class Participants:
    """Everyone in the population, reading the demo's mail directory and acting from their mail.

    `delivered(delivery_id)`: the notification.delivered data of a mail (None until it was seen);
    `event(event_id)`: the data of an event seen on the topics (a mail's cause); `meeting(meeting_id)`:
    the meeting's latest meeting.scheduled/rescheduled data. Ids the services make up differ from run
    to run, so what someone decides is keyed by who they are and what the subject is to them (their
    pair, a meeting's occurrence), which the seed fixes."""

    def __init__(self, people: dict[str, dict], *, seed: int,
                 delivered: Callable[[str], dict | None], event: Callable[[str], dict | None],
                 meeting: Callable[[str], dict | None] = lambda _id: None,
                 decline_rate: float = 0.1, miss_rate: float = 0.05, move_rate: float = 0.05,
                 unsubscribe_rate: float = 0.05, concurrency: int = 8) -> None:
        self.people = people
        self.by_email = {p["email"].lower(): pid for pid, p in people.items()}
        self.seed = seed
        self.delivered, self.event, self.meeting = delivered, event, meeting
        self.decline_rate, self.miss_rate = decline_rate, miss_rate
        self.move_rate, self.unsubscribe_rate = move_rate, unsubscribe_rate
        self.out = Outcomes()
        self._handled: set[str] = set()  # mail files read
        self._waiting: dict[str, Mail] = {}  # mails whose delivery or cause is not seen yet
        self._tasks: set[asyncio.Task] = set()
        self._limit = asyncio.Semaphore(concurrency)
        self._transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=concurrency * 2))
        self._browsers: dict[str, httpx.AsyncClient] = {}
        self._attendance_claimed: set[str] = set()  # meetings one of the two has answered (or is answering)
        self._progress: dict[tuple[str, str], int] = {}  # (relationship, goal) -> what the mentee said last
        self._reminders_read: Counter = Counter()
        self._unsubscribed: set[str] = set()
        self.errors: list[str] = []

    # --- reading the mailbox ---------------------------------------------------------------------

    def poll(self, mail_dir: Path, now: float) -> None:
        """Read new mail; act on each one whose delivery and cause are known."""
        for path in sorted(Path(mail_dir).glob("*.eml")):
            if path.name in self._handled:
                continue
            self._handled.add(path.name)
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            mail = parse_mail(message, path.name, self.by_email)  # type: ignore[arg-type]
            if mail is None:
                continue
            self.out.mails_read += 1
            mail.first_seen = now
            self._waiting[mail.name] = mail
        for name, mail in list(self._waiting.items()):
            if self._known(mail):
                del self._waiting[name]
                self._spawn(self._read(mail))
            elif now - mail.first_seen > 60:
                del self._waiting[name]
                self.errors.append(f"mail {name}: its delivery or cause never showed on the topics")

    def _known(self, mail: Mail) -> bool:
        delivery = self.delivered(mail.delivery_id)
        if delivery is None:
            return False
        mail.template, mail.cause_id = delivery["template"], delivery["cause_event_id"]
        if mail.cause_id.startswith("meeting-over/"):  # a loop's cause, not an event
            return True
        mail.cause = self.event(mail.cause_id)
        return mail.cause is not None

    def idle(self) -> bool:
        """Every mail read and acted on."""
        return not self._waiting and not self._tasks

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.errors.append(f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._browsers.values():
            await client.aclose()
        await self._transport.aclose()

    # --- what each mail makes its reader do ------------------------------------------------------

    def _rng(self, *key: str) -> random.Random:
        return random.Random("/".join((str(self.seed), *key)))

    def _meeting_key(self, meeting_id: str | None) -> str:
        """A meeting as its pair knows it: the pair and which of their meetings it is."""
        meeting = self.meeting(meeting_id) if meeting_id else None
        if meeting is None:
            return meeting_id or ""
        return f"{meeting['mentor_id']}/{meeting['mentee_id']}/{meeting['occurrence']}"

    async def _read(self, mail: Mail) -> None:
        pid, template, cause = mail.recipient_id, mail.template or "", mail.cause or {}
        person = self.people[pid]
        mentee = "mentee" in person["roles"]
        async with self._limit:
            await asyncio.sleep(self._rng(mail.delivery_id, "pause").uniform(0.0, 0.2))  # reading takes a moment
            if template == "match_proposed":
                await self._answer_proposal(mail, cause)
            elif template == "match_established":
                await self._agree(mail, cause, mentee)
            elif template == "meeting_scheduled" and mentee:
                await self._maybe_move(mail, cause)
            elif template == "reminder_due":
                self._reminders_read[pid] += 1
                if mentee and mail.unsubscribe and pid not in self._unsubscribed \
                        and self._rng(pid, "unsubscribe").random() < self.unsubscribe_rate:
                    await self._unsubscribe(mail, "reminders")
            elif template == "attendance_requested":
                await self._attendance(mail)
            elif template in FEEDBACK_KINDS:
                await self._feedback(mail, cause, mentee)

    async def _answer_proposal(self, mail: Mail, proposal: dict) -> None:
        rng = self._rng(proposal.get("mentor_id", ""), proposal.get("mentee_id", mail.delivery_id), "answer")
        decline = rng.random() < self.decline_rate
        choice = "decline" if decline else "accept"
        url = mail.link(choice)
        if url is None:
            return self._missing(mail, choice)

        def fill(form: Form) -> dict[str, str]:
            data = {**form.values, "answer": choice}
            if decline:
                data["reason_code"] = rng.choice(("no_time", "no_time", "outside_expertise", "conflict_of_interest",
                                                  "other"))
                if data["reason_code"] == "other":
                    data["note"] = "Travelling most of this quarter."
            return data

        await self._act(mail, url, "proposal", f"proposal.{choice}", fill)

    async def _agree(self, mail: Mail, established: dict, mentee: bool) -> None:
        url = mail.link()
        if url is None:
            return self._missing(mail, "agreement")
        relationship = f"{established.get('mentor_id')}/{established.get('mentee_id')}"
        # The pair settles their terms together: both pages get the same answers, whoever fills theirs first.
        pair = self._rng(relationship, "terms")
        cadence = pair.choices(("same", "7", "21"), (75, 15, 10))[0]
        duration = pair.choices(("same", "60", "30"), (80, 15, 5))[0]
        place = pair.choices(("video", "phone", "in_person"), (80, 12, 8))[0]
        boundaries = pair.random() < 0.15
        reorder = self._rng(relationship, "goals").random() < 0.3

        def fill(form: Form) -> dict[str, str]:
            data = dict(form.values)
            for name, pick in (("cadence_days", cadence), ("duration_minutes", duration)):
                low, high = form.bounds.get(name, (0, 10**6))
                if pick != "same" and low <= int(pick) <= high:
                    data[name] = pick
            data["place"] = place
            if place == "in_person" and not data.get("place_details"):
                data["place_details"] = PLACE_DETAILS[pair.randrange(len(PLACE_DETAILS))]
            if boundaries and not data.get("boundaries"):
                data["boundaries"] = BOUNDARIES[pair.randrange(len(BOUNDARIES))]
            if mentee and "goals" in data:
                goals = [g.strip() for g in data["goals"].splitlines() if g.strip()]
                if reorder and len(goals) > 1:
                    goals = goals[1:] + goals[:1]  # what matters most to them now comes first
                data["goals"] = "\n".join(goals)
            return data

        await self._act(mail, url, "agreement", "agreement", fill)

    async def _maybe_move(self, mail: Mail, meeting: dict) -> None:
        key = f"{meeting.get('mentor_id')}/{meeting.get('mentee_id')}/{meeting.get('occurrence')}"
        if self._rng(key, "move").random() >= self.move_rate:
            return  # they will be there
        url = mail.link()
        if url is None:
            return self._missing(mail, "meeting change")

        def fill(form: Form) -> dict[str, str] | None:
            slots = form.options.get("slot") or []
            if not slots:
                return None  # no other time offered: they make it work
            return {"csrf": form.values.get("csrf", ""), "answer": "move", "slot": later_that_week(slots, meeting)}

        await self._act(mail, url, "meeting_change", "meeting.move", fill)

    async def _unsubscribe(self, mail: Mail, kind: str) -> None:
        """RFC 8058: a POST of `List-Unsubscribe=One-Click` to the header's link, no cookie, no form."""
        pid = mail.recipient_id
        self._unsubscribed.add(pid)
        self.out.reminders_before_unsubscribing[pid] = self._reminders_read[pid]
        for attempt in range(RETRIES):
            try:
                # The mail client does it, without the person's browser and its cookies.
                response = await self._browser("").post(mail.unsubscribe, data={"List-Unsubscribe": "One-Click"})
            except httpx.TransportError:
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code == 200:
                self.out.link_actions[f"unsubscribe.{kind}"] += 1
                return
            outcome = _page_name(response.text) or str(response.status_code)
            if outcome not in LATER:
                self.out.pages_refused[outcome] += 1
                return
            await asyncio.sleep(0.5 * (attempt + 1))
        self.out.pages_refused["gave_up"] += 1

    async def _attendance(self, mail: Mail) -> None:
        meeting = (mail.cause_id or "").split("/")[1] if (mail.cause_id or "").count("/") >= 1 else mail.delivery_id
        if meeting in self._attendance_claimed:
            return  # the other one already said
        self._attendance_claimed.add(meeting)
        held = self._rng(self._meeting_key(meeting), "attendance").random() >= self.miss_rate
        choice = "held" if held else "not_held"
        url = mail.link(choice)
        if url is None:
            return self._missing(mail, choice)
        await self._act(mail, url, "attendance", f"attendance.{choice}",
                        lambda form: {**form.values, "answer": choice})

    async def _feedback(self, mail: Mail, request: dict, mentee: bool) -> None:
        request_id = request.get("request_id", "")
        url = mail.link()
        if url is None:
            return self._missing(mail, "feedback")
        kind = FEEDBACK_KINDS[mail.template or ""]
        rng = self._rng(mail.recipient_id, kind, self._meeting_key(request.get("meeting_id")), "feedback")
        relationship = request.get("relationship_id", "")
        posted: list[tuple[str, int]] = []

        def fill(form: Form) -> dict[str, str]:
            posted.clear()
            data = dict(form.values)
            data["rating"] = str(rng.choices((2, 3, 4, 5), (4, 16, 40, 40))[0])
            data["comment"] = rng.choice(COMMENTS)
            if "fit" in form.options:
                data["fit"] = rng.choices(("good", "unsure", "not_good"), (90, 7, 3))[0]
            if mentee:
                for i, (name, goal) in enumerate(form.goals()):
                    now = self._progress.get((relationship, goal), 0)
                    if now >= 100 or rng.random() > (0.9 if i == 0 else 0.5):
                        continue  # reached already, or nothing new to say about it
                    step = rng.choice((25, 25, 50, 75, 100)) if kind != "closure" else rng.choice((25, 50, 100))
                    data[name] = str(min(100, now + step))
                    posted.append((goal, int(data[name])))
            return data

        outcome = await self._act(mail, url, "feedback", kind, fill)
        if outcome == "done":
            self.out.feedback_answered.add(request_id)
            self.out.goal_progress_posted += len(posted)
            for goal, progress in posted:
                self._progress[(relationship, goal)] = progress
        if request_id:
            self.out.requests_settled[request_id] = outcome

    def _missing(self, mail: Mail, what: str) -> None:
        self.errors.append(f"mail {mail.name} ({mail.template}) has no {what} link")

    # --- the browser -----------------------------------------------------------------------------

    def _browser(self, pid: str) -> httpx.AsyncClient:
        """One per person: their own cookies, over the shared connections (`""`: a mail client's)."""
        client = self._browsers.get(pid)
        if client is None:
            client = self._browsers[pid] = httpx.AsyncClient(transport=self._transport, timeout=15,
                                                             headers={"Accept": "text/html"})
        return client

    async def _act(self, mail: Mail, url: str, page: str, kind: str,
                   fill: Callable[[Form], dict[str, str] | None]) -> str:
        """Open the link, fill its page's form, post it; the outcome (the answer page's name).

        `done` counts under `kind` in link_actions; any other final outcome in pages_refused."""
        browser = self._browser(mail.recipient_id)
        for attempt in range(RETRIES):
            if attempt:
                await asyncio.sleep(min(4.0, 0.4 * 2 ** (attempt - 1)))
            try:
                opened = await browser.get(url)
            except httpx.TransportError:
                continue
            self.out.links_opened += 1
            form = Form(opened.text)
            if form.page in LATER:
                continue
            if form.page != page:
                self.out.pages_refused[form.page or str(opened.status_code)] += 1
                return form.page or str(opened.status_code)
            data = fill(form)
            if data is None:
                return "left"
            try:
                answered = await browser.post(url.split("?", 1)[0], data=data)
            except httpx.TransportError:
                continue
            outcome = _page_name(answered.text) or str(answered.status_code)
            if outcome in (*LATER, "form_expired"):
                continue
            if outcome == "done":
                self.out.link_actions[kind] += 1
            else:
                self.out.pages_refused[outcome] += 1
            return outcome
        self.out.pages_refused["gave_up"] += 1
        return "gave_up"


def later_that_week(slots: list[str], meeting: dict) -> str:
    """The offered time a person who cannot make it picks: the last one within five days of the
    meeting (kickoffs booked since for others crowd the first days; later ones may fall past the
    end of a short term), else the first offered."""
    try:
        start = datetime.fromisoformat(meeting["start"])
        near = [s for s in slots if datetime.fromisoformat(s) <= start + timedelta(days=5)]
    except (KeyError, TypeError, ValueError):
        near = []
    return near[-1] if near else slots[0]


def _page_name(html: str) -> str | None:
    match = re.search(r'<main id="main" data-page="([^"]+)"', html)
    return match.group(1) if match else None
