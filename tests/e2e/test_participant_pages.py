"""What participants see: the pages behind the links in their mails, in a real Chromium, on the four
services as processes, a real Kafka, PostgreSQL and mail server. Only upstream facts are published
(the program, two people, a match request); everything else is done the way people do it, from the
links in the `.eml` files the mail server kept:

1. the mentor (Dutch) accepts the proposal from the Accept link of her mail, with the keyboard;
2. the mentee (Brazilian Portuguese) moves the kickoff to one of the offered times ("I can't make it");
3. both fill in their mentoring agreement from their introduction mail;
4. her mail client unsubscribes her from reminders with RFC 8058's one-click POST, and the next
   meeting's reminder goes to the mentor only;
5. once the meeting is over, the mentor says it took place, and both give feedback;
6. then a link-scanning mail gateway opens every link of every mail of the run, and no command is
   published.

axe-core runs on every page shown, and none may have a serious or critical violation. The proposal
(Dutch) and the agreement (Portuguese) are left in docs/ as screenshots at a phone's and a desktop's
width.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Observed, Publisher, Watcher
from tests.support import mails
from tests.support.axe import assert_accessible
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PROGRAM = "prog-pages"
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
# Where people's acts (and upstream systems' commands) arrive: a page's GET must add nothing here.
COMMAND_TOPICS = (topics.MATCH_RESPONSES, topics.RELATIONSHIP_COMMANDS, topics.MEETING_COMMANDS,
                  topics.FEEDBACK_SUBMISSIONS, topics.PARTICIPANTS)
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (`make install` installs it when run as root)", allow_module_level=True)


@pytest.fixture
def clock_speed() -> float:
    """One program hour a real second. The program asks for a day's notice before a meeting, so the
    mentee has some 24 real seconds after the match to move the kickoff; the kickoff, moved a day, is
    over a day later, and the next meeting (every day, as the pair agree) a day after that."""
    return 3600.0


def _program() -> ev.ProgramConfigured:
    return ev.ProgramConfigured(
        program_id=PROGRAM, name="Global mentoring 2027", timezone="Europe/Amsterdam",
        video_link_template="https://meet.jit.si/tandem-{meeting_id}", min_notice_hours=24,
        duration_minutes=30, duration_minutes_min=15, cadence_days=14, cadence_days_min=1,
        reminder_offsets_minutes=(60,), term_days=90, checkin_first_day=60)


def _people(tag: str) -> tuple[ev.ParticipantOnboarded, ev.ParticipantOnboarded]:
    # Available all day, every day: where each meeting lands then depends only on the program clock,
    # not on the hour of the day the run happens to reach it.
    whole_days = {"days": EVERY_DAY, "start": "00:00", "end": "24:00", "program_id": PROGRAM}
    mentor = onboarded(pid=f"mentor-{tag}", name="Sanne de Vries", roles=("mentor",), tz="Europe/Amsterdam",
                       locale="nl-NL", languages=("nl", "en"), seniority=8, capacity=2,
                       skills=("public speaking", "negotiation"), **whole_days)
    mentee = onboarded(pid=f"mentee-{tag}", name="Ana Souza", tz="America/Sao_Paulo", locale="pt-BR",
                       languages=("pt", "en"), seniority=2, goals=("public speaking", "negotiation"),
                       region="LATAM", country="BR", **whole_days)
    return mentor, mentee


AUDITS: list[tuple[str, str, list[dict]]] = []  # (page, language, axe's violations) of every page shown


class Browsing:
    """Opens pages as one person, audits each with axe-core, and keeps what axe said."""

    def __init__(self, context) -> None:
        self.context = context
        self.problems: list[str] = []

    async def page(self):
        page = await self.context.new_page()
        # Chromium asks every site for /favicon.ico; the pages have none, and its 404 is no problem.
        page.on("console", lambda m: self.problems.append(f"console: {m.text} at {m.location}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed request {r.url}"))
        page.on("response", lambda r: self.problems.append(f"{r.status} for {r.url}") if r.status >= 400 else None)
        return page

    async def open(self, page, url: str, expected: str) -> None:
        response = await page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        await self.shows(page, expected)

    async def shows(self, page, expected: str) -> None:
        """The page names itself `expected`, and axe finds nothing serious or critical on it."""
        shown = await page.get_attribute("main", "data-page")
        assert shown == expected, f"expected the {expected} page, got {shown}: {await page.inner_text('main')}"
        found = await assert_accessible(page, f"the {expected} page ({page.url})")
        AUDITS.append((expected, await page.get_attribute("html", "lang"), found))

    async def shows_in_the_dark(self, page, expected: str) -> None:
        """The same page with the reader's system in dark mode (the stylesheet has colours for it)."""
        await page.emulate_media(color_scheme="dark")
        await self.shows(page, expected)
        AUDITS[-1] = (f"{expected}, dark", *AUDITS[-1][1:])
        await page.emulate_media(color_scheme="light")

    async def submit(self, page, button: str, expected: str = "done") -> None:
        async with page.expect_navigation():
            await page.click(button)
        await self.shows(page, expected)


async def _screenshots(page, name: str) -> None:
    for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(DOCS / f"participant-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size(PHONE)


async def _mail(w: Watcher, mail_dir: Path, recipient: str, template: str, what: str,
                cause: Callable[[Observed], bool] = lambda o: True, timeout: float = 60):
    """The mail a `notification.delivered` says went to `recipient`, read back from the mailbox."""
    def delivered(w: Watcher):
        return [o for o in w.of_type("notification.delivered")
                if o.data["recipient_id"] == recipient and o.data["template"] == template and cause(o)]

    found = (await w.wait_for(delivered, timeout, what))[-1]

    async def in_mailbox():
        return mails.by_delivery(mail_dir, found.data["notification_id"])
    return await eventually(in_mailbox, 10, f"the mail of {what}")


async def _end_offsets(bootstrap: str, prefix: str) -> dict[str, int]:
    """The number of records each command topic holds (the sum of its partitions' end offsets)."""
    names = [prefix + t for t in COMMAND_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(t["topic"], p["partition"]) for t in await admin.describe_topics(names)
                      for p in t["partitions"]]
        ends = await consumer.end_offsets(partitions)
        return {topic: sum(n for tp, n in ends.items() if tp.topic == prefix + topic) for topic in COMMAND_TOPICS}
    finally:
        await consumer.stop()
        await admin.close()


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_participants_act_from_their_mails_in_their_language(system, infrastructure, topic_prefix,
                                                                  database_url):
    from playwright.async_api import async_playwright

    services, clock = system
    started = time.monotonic()
    AUDITS.clear()
    tag = uuid.uuid4().hex[:6]
    mentor, mentee = _people(tag)
    mentor_id, mentee_id = mentor.participant_id, mentee.participant_id
    mail_dir = infrastructure.mail_dir
    bootstrap = infrastructure.bootstrap_servers
    base = f"http://127.0.0.1:{services.replica('notifications').port}"
    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal, \
            httpx.AsyncClient(timeout=10) as mail_client, \
            async_playwright() as pw:
        await portal.publish(_program())
        await portal.publish(mentor)
        await portal.publish(mentee)
        await portal.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=PROGRAM))

        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: the pages' Content-Security-Policy (default-src 'none') would refuse the
            # axe-core script the test injects; see tests/support/axe.py.
            sanne = Browsing(await browser.new_context(bypass_csp=True, viewport=PHONE, locale="nl-NL"))
            ana = Browsing(await browser.new_context(bypass_csp=True, viewport=PHONE, locale="pt-BR"))

            # 1. The mentor accepts from her mail's Accept link: the page has the choice made; Enter sends it.
            proposal = (await w.wait_for(lambda w: w.of_type("match.proposed"), 60, "the proposal"))[0].data
            assert proposal["mentor_id"] == mentor_id
            mail = await _mail(w, mail_dir, mentor_id, "match_proposed", "the mentor's proposal mail")
            assert mail["Content-Language"] == "nl"
            page = await sanne.page()
            await sanne.open(page, mails.link_with(mail, "choice=accept"), "proposal")
            assert await page.get_attribute("html", "lang") == "nl"
            assert await page.is_checked("input[name=answer][value=accept]")
            await _screenshots(page, "proposal-nl")
            await sanne.shows_in_the_dark(page, "proposal")
            await page.focus("button[type=submit]")
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            await sanne.shows(page, "done")
            accepted = await w.wait_for(lambda w: w.of_type("proposal.accepted"), 30, "proposal.accepted")
            assert accepted[0].data == {"proposal_id": proposal["proposal_id"], "participant_id": mentor_id}
            established = (await w.wait_for(lambda w: w.of_type("match.established"), 30, "the match"))[0].data
            relationship_id = established["relationship_id"]
            assert established["proposal_id"] == proposal["proposal_id"]
            kickoff = (await w.wait_for(lambda w: w.of_type("meeting.scheduled"), 30, "the kickoff"))[0].data
            assert kickoff["alternatives"] and kickoff["location"].startswith("https://meet.jit.si/tandem-")

            # 2. The mentee cannot make the kickoff and moves it, from her invite, to the first time offered
            # (first, as the one step with a deadline: the kickoff's start, a day after the match).
            mail = await _mail(w, mail_dir, mentee_id, "meeting_scheduled", "the mentee's invite")
            page = await ana.page()
            await ana.open(page, mails.buttons(mail)[0][1], "meeting_change")
            slot = page.locator("input[name=slot]").first
            chosen = _instant(await slot.get_attribute("value"))
            assert chosen in {_instant(a) for a in kickoff["alternatives"]}
            await slot.check()
            spare = _instant(kickoff["start"]) - clock.now()
            assert spare.total_seconds() > 0, "too slow: the kickoff began before it was moved"
            await ana.submit(page, "button[name=answer][value=move]")
            moved = (await w.wait_for(lambda w: w.of_type("meeting.rescheduled"), 30, "meeting.rescheduled"))[0].data
            assert moved["meeting_id"] == kickoff["meeting_id"] and _instant(moved["start"]) == chosen
            assert w.of_type("meeting.reschedule.requested")[0].data["requested_by"] == mentee_id

            # 3. Both agree on how they work together, from their introduction mails (the next meetings follow it).
            for person, who, name in ((ana, mentee_id, "agreement-pt-BR"), (sanne, mentor_id, None)):
                mail = await _mail(w, mail_dir, who, "match_established", f"{who}'s introduction")
                page = await person.page()
                await person.open(page, mails.buttons(mail)[0][1], "agreement")
                if name:
                    await _screenshots(page, name)
                    await person.shows_in_the_dark(page, "agreement")
                await page.fill("#cadence_days", "1")
                await page.fill("#duration_minutes", "30")
                await page.check("input[name=place][value=video]")
                if who == mentee_id:
                    await page.fill("#goals", "public speaking\nnegotiation")
                await person.submit(page, "button[type=submit]")
            agreed = await w.wait_for(lambda w: len(w.of_type("relationship.agreement.recorded")) >= 2 and
                                      w.of_type("relationship.agreement.recorded"), 30, "both agreements")
            assert {a.data["participant_id"] for a in agreed} == {mentor_id, mentee_id}
            assert all(a.data["relationship_id"] == relationship_id and a.data["cadence_days"] == 1
                       and a.data["place"] == "video" for a in agreed)
            assert clock.now() < _instant(moved["end"]), "too slow: the next meeting was planned before the agreement"

            # 4. The moved kickoff's reminder: her mail client unsubscribes her in one click (RFC 8058).
            mail = await _mail(w, mail_dir, mentee_id, "reminder_due", "the mentee's reminder", timeout=90)
            unsubscribe = mails.list_unsubscribe(mail)
            assert unsubscribe and unsubscribe.startswith(f"{base}/a/")
            answer = await mail_client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200, answer.text
            changed = await w.wait_for(lambda w: w.of_type("participant.preferences.changed"), 30, "her preferences")
            assert changed[0].data["participant_id"] == mentee_id and changed[0].data["muted"] == ["reminders"]

            # 5. The meeting is over: both are asked whether it took place; the mentor says it did.
            mail = await _mail(w, mail_dir, mentor_id, "attendance_requested", "the attendance question", timeout=90)
            page = await sanne.page()
            await sanne.open(page, mails.link_with(mail, "choice=held"), "attendance")
            assert await page.is_checked("input[name=answer][value=held]")
            await sanne.submit(page, "button[type=submit]")
            recorded = await w.wait_for(lambda w: w.of_type("meeting.attendance.recorded"), 30, "attendance")
            assert recorded[0].data["attendance"] == {mentor_id: True, mentee_id: True}
            await w.wait_for(lambda w: w.of_type("meeting.completed"), 30, "meeting.completed")
            # The mentee's question is answered too: her link says so.
            mail = await _mail(w, mail_dir, mentee_id, "attendance_requested", "her attendance question")
            page = await ana.page()
            await ana.open(page, mails.link_with(mail, "choice=not_held"), "already_done")

            # Both give feedback: a rating, a comment, how far each goal is, and the kickoff's fit.
            for person, who, rating, comment in ((sanne, mentor_id, "5", "Een goed begin."),
                                                  (ana, mentee_id, "4", "Foi uma ótima conversa.")):
                mail = await _mail(w, mail_dir, who, "feedback_requested", f"{who}'s feedback request")
                page = await person.page()
                await person.open(page, mails.buttons(mail)[0][1], "feedback")
                await page.check(f"input[name=rating][value='{rating}']")
                await page.fill("#comment", comment)
                await page.select_option("#goal_0", "50")
                await page.select_option("#goal_1", "25")
                await page.check("input[name=fit][value=good]")
                await person.submit(page, "button[type=submit]")
            submitted = await w.wait_for(lambda w: len(w.of_type("feedback.submitted")) >= 2 and
                                         w.of_type("feedback.submitted"), 30, "both answers")
            by = {s.data["participant_id"]: s.data for s in submitted}
            assert by[mentor_id]["rating"] == 5 and by[mentor_id]["comment"] == "Een goed begin."
            assert by[mentee_id]["rating"] == 4 and by[mentee_id]["fit"] == "good"
            progress = await w.wait_for(lambda w: len(w.of_type("goal.progress.recorded")) >= 4 and
                                        w.of_type("goal.progress.recorded"), 30, "goal progress")
            assert {(p.data["participant_id"], p.data["goal"], p.data["progress"]) for p in progress} >= {
                (mentee_id, "public speaking", 50), (mentee_id, "negotiation", 25)}

            # The next meeting's reminder goes to the mentor only.
            def next_reminder(w: Watcher):
                return [o for o in w.of_type("reminder.due") if o.data["meeting_id"] != kickoff["meeting_id"]]
            reminder = (await w.wait_for(next_reminder, 90, "the next meeting's reminder"))[0]
            assert set(reminder.data["participant_ids"]) == {mentor_id, mentee_id}
            await _mail(w, mail_dir, mentor_id, "reminder_due", "the mentor's next reminder",
                        lambda o: o.data["cause_event_id"] == reminder.envelope["id"])
            # Planned in one transaction with the mentor's: had the mentee been written to, it would be here.
            rows = await fetch(database_url, "SELECT recipient_id FROM notifications.deliveries "
                                             "WHERE cause_event_id = $1", reminder.envelope["id"])
            assert [r["recipient_id"] for r in rows] == [mentor_id]
            assert len([o for o in w.of_type("notification.delivered") if o.data["recipient_id"] == mentee_id
                        and o.data["template"] == "reminder_due"]) == 1
            flow_seconds = time.monotonic() - started

            # 6. A link-scanning gateway opens every link of every mail of the run: nothing is published.
            scanned = await _scanner_opens_every_link(w, mail_dir, base, bootstrap, topic_prefix,
                                                      (mentor_id, mentee_id), sanne, database_url)
        finally:
            await browser.close()
    assert not [o for o in w.seen if o.topic.endswith(".dlq")]
    print(f"\nflow {flow_seconds:.0f}s, all {time.monotonic() - started:.0f}s; kickoff moved {spare} before it; "
          f"axe on {len(AUDITS)} pages:")
    print(f"scanner: {scanned}")
    for name, lang, found in AUDITS:
        print(f"  {name} ({lang}): {[(v['id'], v['impact']) for v in found] or 'no violations'}")
    assert not sanne.problems and not ana.problems, sanne.problems + ana.problems


async def _scanner_opens_every_link(w: Watcher, mail_dir: Path, base: str, bootstrap: str, prefix: str,
                                    people: tuple[str, ...], browsing: Browsing, database_url: str) -> str:
    """GET every action link (text, buttons, List-Unsubscribe, the invite's) the way Safe Links or
    Proofpoint do: no cookie, no form; then count what the command topics hold.

    "Nothing arrives" cannot be awaited, so a marker is: after the GETs, the mentor saves her
    preferences as they are, one real act whose command (participant.preferences.changed) leaves
    notifications through the same outbox as anything a GET could have written, and after it: the
    outbox publishes in commit order. Once the marker is on Kafka and no outbox row before it waits,
    every command the GETs caused would be on the topics too; they must hold the marker alone more."""
    run = mails.to(mail_dir, *(f"{p}@" for p in people))
    urls = sorted({u for m in run for u in mails.every_page_link(m, base)})
    assert len(run) >= 12 and len(urls) >= 15, (len(run), len(urls))
    before = await _end_offsets(bootstrap, prefix)
    shown: Counter[tuple[str, int]] = Counter()
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": "link-scanner/1.0",
                                                      "Accept": "text/html,*/*"}) as scanner:
        for url in urls:
            answer = await scanner.get(url)
            assert answer.status_code < 500, (url, answer.status_code)
            assert 'data-page="' in answer.text, (url, answer.status_code)
            shown[answer.text.split('data-page="', 1)[1].split('"', 1)[0], answer.status_code] += 1

    # The marker: the mentor saves her preferences as they are, from her mails' footer link.
    preferences = mails.footer_links(mails.to(mail_dir, f"{people[0]}@")[-1])[0][1]
    page = await browsing.page()
    await browsing.open(page, preferences, "preferences")
    await browsing.submit(page, "button[type=submit]")
    marker = (await w.wait_for(lambda w: [o for o in w.of_type("participant.preferences.changed")
                                          if o.data["participant_id"] == people[0]], 30, "the marker"))[0]
    # The marker is on Kafka, so its outbox row (gone once published) was numbered by now: every row
    # numbered up to here must be published (left the outbox) too.
    (row,) = await fetch(database_url, "SELECT last_value AS id FROM notifications.outbox_id_seq")

    async def published_up_to_the_marker():
        (waiting,) = await fetch(database_url, "SELECT count(*) AS n FROM notifications.outbox "
                                               "WHERE id <= $1 AND state = 'pending'", row["id"])
        return waiting["n"] == 0
    await eventually(published_up_to_the_marker, 30, "notifications' outbox to be published up to the marker")
    after = await _end_offsets(bootstrap, prefix)
    assert after == {**before, topics.PARTICIPANTS: before[topics.PARTICIPANTS] + 1}, (before, after, shown)
    return f"{len(urls)} links in {len(run)} mails opened, pages (name, status): {dict(shown)}"
