"""Every participant page renders in every language and tone from its own catalogue (a text missing
from one fails), with every placeholder filled, and is accessible in its structure: the language
declared, one h1, every form control labelled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from services.notifications.adapters.subjects import FeedbackRequest, Meeting, Proposal
from services.notifications.domain import compose
from services.notifications.domain.render import Writer
from services.notifications.entrypoints.web.pages import REFUSALS, TEMPLATES, Words
from services.notifications.i18n.catalogues import available
from shared.people import Pair
from tests.services.notifications.domain.test_catalogues import strict
from tests.services.notifications.samples import ANA, BRAM

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
MEETING = Meeting("m-1", "r-1", BRAM.participant_id, ANA.participant_id, "kickoff", NOW, NOW + timedelta(minutes=45),
                  0, (NOW + timedelta(days=1), NOW + timedelta(days=2)), "video", "https://meet.example/x", "planned")
PAIR = Pair("r-1", "prog-1", BRAM.participant_id, ANA.participant_id, NOW, ("public speaking", "negotiation"))
PAGES = {
    "proposal": {"proposal": Proposal("p-1", "prog-1", BRAM.participant_id, ANA.participant_id, NOW, "open"),
                 "mentee": ANA, "answer": "accept",
                 "commitment": compose.commitment(cadence_days=14, duration_minutes=45, term_days=180)},
    "agreement": {"pair": PAIR, "other": BRAM, "terms": {"cadence_days": 14, "duration_minutes": 45, "place": "video",
                                                           "response_time_hours": 48},
                  "goals": PAIR.goals, "edits_goals": True, "other_answered": True,
                  "bounds": {"cadence": (7, 28), "duration": (30, 90)}},
    "agreed": {"other": BRAM, "terms": {"cadence_days": 7, "duration_minutes": 45, "place": "in_person",
                                        "place_details": "Room 4", "response_time_hours": 48,
                                        "goals": ["public speaking"], "boundaries": "No calls on Fridays"},
               "answered_at": NOW, "latest_by_other": True, "latest_at": NOW + timedelta(days=1)},
    "end": {"pair": PAIR, "other": BRAM, "may_rematch": True, "rematch": True},
    "meeting_change": {"meeting": MEETING, "other": BRAM, "offered": MEETING.alternatives},
    "attendance": {"meeting": MEETING, "other": BRAM, "answer": "held"},
    "feedback": {"asked": FeedbackRequest("q-1", "r-1", ANA.participant_id, "meeting", "m-1", NOW), "other": BRAM,
                 "goals": PAIR.goals, "asks_fit": True},
    "preferences": {"kinds": ("reminders", "checkins", "nudges"), "locales": ("en", "nl", "pt-BR"),
                    "chat_possible": True, "nonce": "n"},
    "unsubscribe": {"kind": "reminders", "kind_label": "KIND_REMINDERS", "nonce": "n"},
}


def words(name: str, tone: str) -> Words:
    found = Words("en", tone, ANA.timezone)
    found.language = strict(name)
    found.writer = Writer(found.language, found.tone)
    return found


@pytest.mark.parametrize("name", sorted(available()))
@pytest.mark.parametrize("tone", ["direct", "indirect"])
def test_every_page_renders_from_the_readers_own_catalogue(name, tone):
    w = words(name, tone)
    for page, data in PAGES.items():
        html = TEMPLATES.get_template(f"{page}.html").render({"w": w, "person": ANA, "csrf": "c", "choice": None,
                                                             **data})
        text = re.sub(r"<[^>]+>", " ", html)
        assert "{" not in text and "}" not in text, (page, text)
        assert f'lang="{w.lang}"' in html and html.count("<h1>") == 1
        ids = set(re.findall(r'<label for="([^"]+)"', html))
        controls = re.findall(r'<(?:input|select|textarea)([^>]*)>', html)
        for control in controls:
            if 'type="hidden"' in control:
                continue
            control_id = re.search(r'id="([^"]+)"', control)
            # labelled by a <label for=...>, or wrapped inside a <label class="choice">
            assert (control_id and control_id.group(1) in ids) or 'type="radio"' in control \
                or 'type="checkbox"' in control, (page, control)
    for title, body in REFUSALS.values():
        assert w.t(title) and w.t(body, field="x")


def test_the_proposal_page_says_what_mentoring_asks_before_the_mentor_answers():
    html = TEMPLATES.get_template("proposal.html").render({"w": Words("nl", "direct", "Europe/Amsterdam"),
                                                           "person": BRAM, "csrf": "c", "choice": None,
                                                           **PAGES["proposal"]})
    says = "Wat het van u vraagt: elke 2 weken een bijeenkomst van 45 minuten, gedurende 180 dagen."
    assert says in html and html.index(says) < html.index("<form")


@pytest.mark.parametrize("name", sorted(available()))
def test_an_answered_agreement_reads_back_in_the_readers_words_without_a_form(name):
    w = words(name, "indirect")
    html = unescape(TEMPLATES.get_template("agreed.html").render({"w": w, "person": ANA, **PAGES["agreed"]}))
    assert "<form" not in html and "<input" not in html and "<textarea" not in html
    assert w.every(7) in html and w.length(minutes=45) in html and w.length(hours=48) in html
    assert w.t("PLACE_IN_PERSON") in html and "Room 4" in html and "No calls on Fridays" in html
    assert w.t("AGREED_LATEST_BY_OTHER", other_name=BRAM.name, latest_at=w.when(NOW + timedelta(days=1))) in html
