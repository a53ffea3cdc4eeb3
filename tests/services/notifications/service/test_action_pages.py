"""Participants act from their messages: the links in a real mail (real Kafka, Postgres, SMTP) lead to
pages that change nothing when opened, and whose one button publishes the participant's command once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from services.notifications.domain.links import ActionLink, LinkSigner
from services.notifications.entrypoints.app import build_service
from services.notifications.entrypoints.web import build_web
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def ids():
    tag = uuid.uuid4().hex[:6]
    return {"mentor": f"mentor-{tag}", "mentee": f"mentee-{tag}", "rel": f"rel-{tag}", "proposal": f"prop-{tag}"}


@pytest.fixture
def settings(database_url, bootstrap_servers, topic_prefix, infrastructure):
    return settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix, clock_start=START, clock_speed=1.0,
                        smtp_port=infrastructure.smtp_port, public_url="https://mentoring.example",
                        link_keys="retired-key,current-key")


def links_in(mail) -> list[str]:
    return re.findall(r"https://mentoring\.example/a/[^\s\"<>]+", mail.get_body(("plain",)).get_content())


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def test_a_mentor_accepts_from_the_mail_once_and_a_scanners_get_changes_nothing(
        settings, infrastructure, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.NOTIFICATIONS, topics.MATCH_RESPONSES], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), locale="nl-NL", languages=("nl", "en"),
                                    seniority=7, capacity=1))
        await pub.publish(onboarded(pid=ids["mentee"], goals=("public speaking",)))
        await pub.publish(ev.MatchProposed(proposal_id=ids["proposal"], program_id="prog-1", mentee_id=ids["mentee"],
                                           mentor_id=ids["mentor"], score=0.8, explanation={},
                                           expires_at=START + timedelta(days=3)))
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 1, 30, "the proposal mail")
        (mail,) = [m for m in read_mailbox(infrastructure.mail_dir) if m["To"] == f"{ids['mentor']}@example.com"]
        accept, decline, preferences = links_in(mail)
        assert accept.endswith("?choice=accept") and decline.endswith("?choice=decline")
        assert accept in mail.get_body(("html",)).get_content()  # a button in the HTML part too
        # A proposal is not a kind of message one can switch off: no one-click unsubscribe.
        assert mail["List-Unsubscribe"] is None

        # Mail scanners open every link: nothing is published, whatever they GET.
        for url in (accept, decline, preferences):
            page = await browser.get(urlsplit(url).path + "?" + urlsplit(url).query)
            assert page.status_code == 200 and 'method="post"' in page.text
            assert "Content-Security-Policy" in page.headers and page.headers["Referrer-Policy"] == "no-referrer"
        page = await browser.get(urlsplit(accept).path, params={"choice": "accept"})
        assert 'lang="nl"' in page.text and 'value="accept" required checked' in page.text

        # No form token, no act (CSRF).
        refused = await browser.post(urlsplit(accept).path, data={"answer": "accept"})
        assert refused.status_code == 403

        done = await browser.post(urlsplit(accept).path, data={"answer": "accept", "csrf": csrf_of(page.text)})
        assert done.status_code == 200
        again = await browser.post(urlsplit(accept).path, data={"answer": "accept", "csrf": csrf_of(page.text)})
        assert again.status_code == 200 and again.text != done.text  # "already done"
        accepted = await out.wait_for(lambda w: w.of_type("proposal.accepted"), 30, "the acceptance")
        assert [a.data for a in accepted] == [{"proposal_id": ids["proposal"], "participant_id": ids["mentor"]}]
        acts = await fetch(settings.database_url, "SELECT choice FROM notifications.link_acts")
        assert [r["choice"] for r in acts] == ["accept"]

        # A forged token, a token signed with a key nobody lists any more, an expired one.
        token = urlsplit(accept).path.rsplit("/", 1)[1]
        forged = await browser.get(f"/a/{token[:-3]}xyz")
        assert forged.status_code == 403 and "<html" in forged.text
        stranger = LinkSigner(["some-other-key"]).token(
            ActionLink(ids["mentor"], "proposal", ids["proposal"], "answer", START + timedelta(days=1)))
        assert (await browser.get(f"/a/{stranger}")).status_code == 403
        expired = LinkSigner(["current-key"]).token(
            ActionLink(ids["mentor"], "proposal", ids["proposal"], "answer", START - timedelta(days=1)))
        page = await browser.get(f"/a/{expired}")
        assert page.status_code == 410 and 'lang="nl"' in page.text  # in the reader's language
        as_json = await browser.get(f"/a/{expired}", headers={"accept": "application/json"})
        assert as_json.status_code == 410 and as_json.json()["error"] == "expired"
    # Nothing else was published from the pages.
    assert len(out.of_type("proposal.accepted")) == 1 and out.of_type("proposal.declined") == []


async def test_reminders_stop_with_one_click_and_others_still_come(settings, infrastructure, ids, bootstrap_servers,
                                                                   topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.NOTIFICATIONS, topics.PARTICIPANTS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as client:
        await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), seniority=7, capacity=1))
        await pub.publish(onboarded(pid=ids["mentee"]))
        start = START + timedelta(days=2)
        await pub.publish(ev.ReminderDue(reminder_id="r-1", meeting_id="m-1", relationship_id=ids["rel"],
                                         participant_ids=[ids["mentee"]], meeting_start=start, minutes_before=60))
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 1, 30, "the first reminder")
        (mail,) = [m for m in read_mailbox(infrastructure.mail_dir) if m["To"] == f"{ids['mentee']}@example.com"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        one_click = mail["List-Unsubscribe"].strip("<>")
        # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click", with no page and no cookie.
        answer = await client.post(urlsplit(one_click).path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        changed = await out.wait_for(lambda w: w.of_type("participant.preferences.changed"), 30, "the choice")
        assert changed[0].data["muted"] == ["reminders"]

        async def muted_here():
            rows = await fetch(settings.database_url, "SELECT muted FROM notifications.participants "
                                                      "WHERE participant_id = $1", ids["mentee"])
            return rows and "reminders" in (rows[0]["muted"] or [])
        await eventually(muted_here, 30, "the choice applied by the replica")
        await pub.publish(ev.ReminderDue(reminder_id="r-2", meeting_id="m-1", relationship_id=ids["rel"],
                                         participant_ids=[ids["mentee"], ids["mentor"]], meeting_start=start,
                                         minutes_before=30))
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 2, 30, "the mentor's reminder")
    reminders = [d for d in out.of_type("notification.delivered") if d.data["template"] == "reminder_due"]
    assert [d.data["recipient_id"] for d in reminders] == [ids["mentee"], ids["mentor"]]


async def test_after_a_meeting_both_are_asked_and_the_first_answer_counts_for_both(
        settings, infrastructure, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.NOTIFICATIONS, topics.MEETING_COMMANDS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await pub.publish(onboarded(pid=ids["mentor"], roles=("mentor",), seniority=7, capacity=1))
        await pub.publish(onboarded(pid=ids["mentee"], locale="ja-JP"))
        await pub.publish(ev.MatchEstablished(relationship_id=ids["rel"], proposal_id=ids["proposal"],
                                              program_id="prog-1", mentee_id=ids["mentee"], mentor_id=ids["mentor"],
                                              established_at=START - timedelta(days=2), goals=[]))
        start = START - timedelta(hours=2)  # already over on the program clock
        await pub.publish(ev.MeetingScheduled(meeting_id=f"m-{ids['rel']}", relationship_id=ids["rel"],
                                              program_id="prog-1", mentor_id=ids["mentor"], mentee_id=ids["mentee"],
                                              occurrence=1, start=start, end=start + timedelta(minutes=45),
                                              ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"))

        def asked(w):
            return [d for d in w.of_type("notification.delivered") if d.data["template"] == "attendance_requested"]
        await out.wait_for(lambda w: len(asked(w)) >= 2, 60, "both asked after the meeting")
        by_person = {}
        for mail in read_mailbox(infrastructure.mail_dir):
            if mail.get_body(("plain",)) is not None and "/a/" in mail.get_body(("plain",)).get_content():
                by_person.setdefault(mail["To"], []).append(links_in(mail))
        mentee_links = [ls for ls in by_person[f"{ids['mentee']}@example.com"] if any("choice=held" in u for u in ls)]
        mentor_links = [ls for ls in by_person[f"{ids['mentor']}@example.com"] if any("choice=held" in u for u in ls)]
        held = next(u for u in mentee_links[0] if u.endswith("choice=held"))
        page = await browser.get(urlsplit(held).path, params={"choice": "held"})
        assert page.status_code == 200 and 'lang="ja"' in page.text and 'value="held" required checked' in page.text
        done = await browser.post(urlsplit(held).path, data={"answer": "held", "csrf": csrf_of(page.text)})
        assert done.status_code == 200
        recorded = await out.wait_for(lambda w: w.of_type("meeting.attendance.recorded"), 30, "the attendance")
        assert recorded[0].data["attendance"] == {ids["mentor"]: True, ids["mentee"]: True}
        # The mentor's own link now says it is already answered, and publishes nothing more.
        not_held = next(u for u in mentor_links[0] if u.endswith("choice=not_held"))
        page = await browser.get(urlsplit(not_held).path)
        assert page.status_code == 200 and 'method="post"' not in page.text
    assert len(out.of_type("meeting.attendance.recorded")) == 1


async def test_preferences_saved_twice_from_one_page_and_a_repeated_one_click_count_once(
        settings, infrastructure, ids, bootstrap_servers, topic_prefix):
    service = build_service(settings)
    signer = LinkSigner(["current-key"])
    async with service.running(), \
            Watcher(bootstrap_servers, [topics.PARTICIPANTS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(service)),
                              base_url="https://mentoring.example") as browser:
        await pub.publish(onboarded(pid=ids["mentee"], locale="fr-FR"))

        async def known():
            return await fetch(settings.database_url, "SELECT 1 FROM notifications.participants "
                                                      "WHERE participant_id = $1", ids["mentee"])
        await eventually(known, 30, "the mentee known here")
        until = START + timedelta(days=30)
        preferences = signer.token(ActionLink(ids["mentee"], "participant", ids["mentee"], "preferences", until))
        page = await browser.get(f"/a/{preferences}")
        assert page.status_code == 200 and 'lang="fr"' in page.text
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
        form = {"csrf": csrf_of(page.text), "nonce": nonce, "want_checkins": "on", "locale": "fr", "style": "direct"}
        first = await browser.post(f"/a/{preferences}", data=form)
        second = await browser.post(f"/a/{preferences}", data=form)  # a double click
        assert first.status_code == 200 and second.status_code == 200 and 'data-page="already_done"' in second.text
        bad = await browser.post(f"/a/{preferences}", data={**form, "quiet_start": "25:00", "quiet_end": "07:00"})
        assert bad.status_code == 400 and 'data-page="preferences"' in bad.text  # the form again, to correct

        stop = signer.token(ActionLink(ids["mentee"], "participant", ids["mentee"], "unsubscribe", until, "nudges"))
        for _ in range(2):  # a mail client that retries
            answer = await browser.post(f"/a/{stop}", data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
        await out.wait_for(lambda w: len(w.of_type("participant.preferences.changed")) >= 2, 30, "the two changes")
    form_change, one_click = out.of_type("participant.preferences.changed")
    assert form_change.data["muted"] == ["reminders", "nudges"] and form_change.data["locale"] == "fr"
    assert "nudges" in one_click.data["muted"]
    assert len(out.of_type("participant.preferences.changed")) == 2  # each counted once
