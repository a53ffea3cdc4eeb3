"""A nudged pair finds ways forward in the mail, before "end early": the links of a real nudge mail
(real Kafka, Postgres, SMTP) follow the pair's state, open pages that change nothing, and whose
buttons do what they say: the mentor confirms the agreement the mentee proposed, the mentee moves
the next meeting."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from services.notifications.domain.links import ActionLink
from services.notifications.entrypoints.app import build_service
from services.notifications.entrypoints.web import build_web
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.services.notifications.service import test_form_pages as forms
from tests.services.notifications.service.test_form_pages import SIGNER, START, UNTIL, csrf_of, page_of, paired
from tests.support.runtime import eventually, fetch

pytestmark = pytest.mark.integration
ids, settings = forms.ids, forms.settings  # the same fixtures: a pair's ids, the service's settings
MEETING_AT = START + timedelta(days=3)
ANOTHER_TIME = MEETING_AT + timedelta(days=1)


def links_in(mail) -> list[tuple[str, str]]:
    """(label, path) of each link in the plain text, in order."""
    body = mail.get_body(("plain",)).get_content()
    return [
        (label, urlsplit(url).path)
        for label, url in re.findall(r"^(.*?)\s*[:：]\s*(https://mentoring\.example/a/\S+)", body, re.M)
    ]


async def test_a_nudge_offers_what_fits_the_pair_and_its_pages_work(
    settings, infrastructure, ids, bootstrap_servers, topic_prefix
):
    service = build_service(settings)
    async with (
        service.running(),
        Watcher(bootstrap_servers, [topics.RELATIONSHIP_COMMANDS, topics.MEETING_COMMANDS], topic_prefix) as out,
        Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_web(service)), base_url="https://mentoring.example"
        ) as browser,
    ):
        await paired(pub, ids, mentee_locale="pt-BR")
        # The mentee proposes how they will work together, from her own link.
        hers = SIGNER.token(ActionLink(ids["mentee"], "relationship", ids["rel"], "agreement", UNTIL))
        page = await page_of(browser, hers, "agreement")
        answer = {
            "csrf": csrf_of(page.text),
            "cadence_days": "7",
            "duration_minutes": "45",
            "place": "video",
            "response_time_hours": "36",
            "goals": "falar em público",
            "boundaries": "",
        }
        assert (await browser.post(f"/a/{hers}", data=answer)).status_code == 200
        await pub.publish(
            ev.MeetingScheduled(
                meeting_id=f"m-{ids['rel']}",
                relationship_id=ids["rel"],
                program_id="prog-1",
                mentor_id=ids["mentor"],
                mentee_id=ids["mentee"],
                occurrence=2,
                start=MEETING_AT,
                end=MEETING_AT + timedelta(minutes=45),
                kind="recurring",
                sequence=0,
                ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                alternatives=[ANOTHER_TIME],
            )
        )
        await eventually(
            lambda: fetch(settings.database_url, "SELECT 1 FROM notifications.meetings"), 30, "the meeting known"
        )
        await pub.publish(ev.RelationshipNudgeRequested(relationship_id=ids["rel"], requested_by="ops:sanne"))

        async def nudges():
            found = {
                m["To"]: m
                for m in read_mailbox(infrastructure.mail_dir)
                if (m["Subject"] or "").startswith(("Tijd om bij te praten met", "Hora de colocar a conversa"))
            }
            return found if len(found) == 2 else None

        mails = await eventually(nudges, 60, "both nudge mails")
        to_mentor = links_in(mails[f"{ids['mentor']}@example.com"])
        to_mentee = links_in(mails[f"{ids['mentee']}@example.com"])
        # Dutch for him: confirm what she proposed, move the meeting, and only then end early.
        assert [label for label, _ in to_mentor[:3]] == [
            "Bevestigen hoe u samenwerkt",
            "Ons volgende gesprek verzetten",
            "Dit mentortraject eerder beëindigen",
        ]
        # She has answered already: move the meeting, or end early.
        assert [label for label, _ in to_mentee[:2]] == [
            "Remarcar nosso próximo encontro",
            "Encerrar esta mentoria antes do previsto",
        ]
        assert len(to_mentor) == 5 and len(to_mentee) == 4  # then the footer's preferences and one-click stop

        # Opening every link (as a mail scanner does) shows its page and changes nothing.
        expected = {0: "agreement", 1: "meeting_change", 2: "end"}
        for n, page_name in expected.items():
            page = await browser.get(to_mentor[n][1])
            assert page.status_code == 200 and f'data-page="{page_name}"' in page.text and 'lang="nl"' in page.text
            assert 'method="post"' in page.text
        for path, page_name in zip([p for _, p in to_mentee[:2]], ("meeting_change", "end"), strict=True):
            page = await browser.get(path)
            assert page.status_code == 200 and f'data-page="{page_name}"' in page.text and 'lang="pt-BR"' in page.text
        assert [
            r["choice"] for r in await fetch(settings.database_url, "SELECT choice FROM notifications.link_acts")
        ] == ["agree"]

        # He confirms what she proposed (her answer fills his form), from the nudge.
        agreement = await browser.get(to_mentor[0][1])
        assert 'value="7"' in agreement.text and "falar em público" in agreement.text
        confirmed = await browser.post(to_mentor[0][1], data={**answer, "csrf": csrf_of(agreement.text)})
        assert confirmed.status_code == 200 and 'data-page="done"' in confirmed.text
        # She moves the meeting to the other time offered, from hers.
        change = await browser.get(to_mentee[0][1])
        moved = await browser.post(
            to_mentee[0][1], data={"csrf": csrf_of(change.text), "answer": "move", "slot": ANOTHER_TIME.isoformat()}
        )
        assert moved.status_code == 200 and 'data-page="done"' in moved.text
        await out.wait_for(
            lambda w: (
                len(w.of_type("relationship.agreement.recorded")) >= 2 and w.of_type("meeting.reschedule.requested")
            ),
            30,
            "the confirmation and the move",
        )
    recorded = out.of_type("relationship.agreement.recorded")
    assert sorted(r.data["participant_id"] for r in recorded) == sorted([ids["mentee"], ids["mentor"]])
    (move,) = out.of_type("meeting.reschedule.requested")
    assert move.data["requested_by"] == ids["mentee"] and move.data["meeting_id"] == f"m-{ids['rel']}"
    assert out.of_type("relationship.end.requested") == []  # nobody ended anything by opening a page
