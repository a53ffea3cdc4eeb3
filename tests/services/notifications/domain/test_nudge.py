"""A nudge's ways forward (compose.ways_forward, in relationship_nudge and after missed meetings in
meetings_missed): which links each of the pair gets for the pair's state, in which order, and their
words in every language and tone."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.notifications.domain import compose
from services.notifications.domain.delivery import plan
from services.notifications.domain.links import LinkMaker, LinkSigner
from services.notifications.domain.messages import actions
from services.notifications.domain.render import Writer
from services.notifications.i18n.catalogues import available, bcp47, language_for
from shared.contracts import events as ev
from tests.services.notifications.samples import ANA, BRAM, NOW

NUDGE = ev.RelationshipNudgeRequested(relationship_id="r1", requested_by="ops:sanne", note=None)
MEETING = ("m-7", datetime(2027, 1, 11, 14, 0, tzinfo=UTC), 2)
LINKS = LinkMaker(LinkSigner(["k"]), "https://mentoring.example")


def offered(state: compose.PairState) -> dict[str, list[tuple[str, str, str]]]:
    """Each reader's links: (label's English, subject kind, action)."""
    return {
        out.recipient_id: [(a.label.msgid, a.subject_kind, a.action) for a in out.actions]
        for out in compose.relationship_nudge(NUDGE, BRAM, ANA, state)
    }


AGREE = (actions.AGREEMENT.msgid, "relationship", "agreement")
CONFIRM = (actions.CONFIRM_AGREEMENT.msgid, "relationship", "agreement")
MOVE = (actions.MOVE_NEXT_MEETING.msgid, "meeting", "change")
END = (actions.END_EARLY.msgid, "relationship", "end")
ana, bram = ANA.participant_id, BRAM.participant_id


@pytest.mark.parametrize(
    ("state", "to_ana", "to_bram"),
    [
        (compose.PairState(), [AGREE, END], [AGREE, END]),
        (compose.PairState(next_meeting=MEETING), [AGREE, MOVE, END], [AGREE, MOVE, END]),
        # Ana proposed: Bram confirms; she is not asked again.
        (compose.PairState(agreed_by=ana, answered=frozenset({ana})), [END], [CONFIRM, END]),
        # Recorded by Ana on a portal (no link act): still hers, Bram confirms.
        (compose.PairState(agreed_by=ana, next_meeting=MEETING), [MOVE, END], [CONFIRM, MOVE, END]),
        # Both have answered: nothing left to agree.
        (compose.PairState(agreed_by=bram, answered=frozenset({ana, bram})), [END], [END]),
        # Bram answered, then the agreement was forgotten with someone erased: his link shows it is done.
        (compose.PairState(answered=frozenset({bram})), [AGREE, END], [END]),
    ],
)
def test_the_links_follow_the_pairs_state_and_end_early_comes_last(state, to_ana, to_bram):
    assert offered(state) == {ana: to_ana, bram: to_bram}


def test_the_move_link_is_for_this_version_of_the_meeting_until_it_starts():
    (to_bram, _) = compose.relationship_nudge(NUDGE, BRAM, ANA, compose.PairState(next_meeting=MEETING))
    (move,) = [a for a in to_bram.actions if a.action == "change"]
    assert (move.subject_id, move.variant, move.expires_at) == ("m-7", "2", MEETING[1])


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("tone", ["direct", "indirect"])
def test_every_state_renders_in_every_language_and_tone_with_signed_links(name, tone):
    """The reader's own words for each way forward, its paragraph, the links in order and signed."""
    locale = bcp47(name)
    language = language_for(locale)
    writer = Writer(language, tone)
    label = {
        a: writer.fill(a, {}).text
        for a in (actions.AGREEMENT, actions.CONFIRM_AGREEMENT, actions.MOVE_NEXT_MEETING, actions.END_EARLY)
    }
    if name != "en":
        assert all(text != wording.msgid for wording, text in label.items()), label
    states = {
        "agree": compose.PairState(),
        "confirm": compose.PairState(agreed_by=ana, answered=frozenset({ana}), next_meeting=MEETING),
    }
    bodies = {}
    for key, state in states.items():
        (to_bram, _) = compose.relationship_nudge(NUDGE, BRAM, ANA, state)
        reader = replace(BRAM, locale=locale, communication=replace(BRAM.communication, style=tone))
        (delivery,) = plan([to_bram], {bram: reader}, cause_event_id="n-1", cause_type="t", now=NOW, links=LINKS)
        bodies[key] = delivery.body
        assert "{" not in delivery.body and "None" not in delivery.body
        lines = re.findall(r"^(.*?)\s*[:：]\s*https://mentoring\.example/a/", delivery.body, re.M)
        found = lines[:-2]  # the footer's preferences and one-click stop follow
        first = label[actions.AGREEMENT] if key == "agree" else label[actions.CONFIRM_AGREEMENT]
        expected = [first, label[actions.END_EARLY]]
        if key == "confirm":
            expected.insert(1, label[actions.MOVE_NEXT_MEETING])
        assert found == expected
        for button in expected:
            assert button in delivery.html
    # The state's own paragraphs: the meeting's moment only where one is planned, and not the same text.
    assert "2027" in bodies["confirm"] and "2027" not in bodies["agree"]
    assert len(bodies["agree"].split("\n\n")) == len(bodies["confirm"].split("\n\n")) - 1


# --- after missed meetings (compose.meetings_missed): the same ways forward, the same words for both ---

MISSED = ev.RelationshipMeetingsMissed(relationship_id="r1", program_id="prog-1", mentor_id=BRAM.participant_id,
                                       mentee_id=ANA.participant_id, consecutive=3)


def offered_after_missed(state: compose.PairState) -> dict[str, list[tuple[str, str, str]]]:
    return {
        out.recipient_id: [(a.label.msgid, a.subject_kind, a.action) for a in out.actions]
        for out in compose.meetings_missed(MISSED, BRAM, ANA, state)
    }


@pytest.mark.parametrize(
    ("state", "to_ana", "to_bram"),
    [
        (compose.PairState(), [AGREE, END], [AGREE, END]),
        (compose.PairState(next_meeting=MEETING), [AGREE, MOVE, END], [AGREE, MOVE, END]),
        (compose.PairState(agreed_by=ana, answered=frozenset({ana})), [END], [CONFIRM, END]),
        (compose.PairState(agreed_by=bram, next_meeting=MEETING), [CONFIRM, MOVE, END], [MOVE, END]),
        (compose.PairState(agreed_by=bram, answered=frozenset({ana, bram})), [END], [END]),
    ],
)
def test_missed_meetings_offer_the_nudges_ways_forward_and_end_early_comes_last(state, to_ana, to_bram):
    assert offered_after_missed(state) == {ana: to_ana, bram: to_bram}
    assert offered_after_missed(state) == offered(state)  # one list of ways forward for both messages


def test_missed_meetings_name_the_next_meeting_on_each_readers_clock_and_blame_nobody():
    to_bram, to_ana = compose.meetings_missed(MISSED, BRAM, ANA, compose.PairState(next_meeting=MEETING))
    assert to_bram.context["next_meeting"].zone == BRAM.timezone
    assert to_ana.context["next_meeting"].zone == ANA.timezone
    (move,) = [a for a in to_ana.actions if a.action == "change"]
    assert (move.subject_id, move.variant, move.expires_at) == ("m-7", "2", MEETING[1])
    # Nobody is blamed: apart from whom it is for, both read the same message.
    differs = {k for k in to_bram.context if to_bram.context[k] != to_ana.context[k]}
    assert differs <= {"recipient_name", "other_name", "next_meeting"}


def _missed_mail(state: compose.PairState, locale: str, tone: str = "direct") -> str:
    (to_bram, _) = compose.meetings_missed(MISSED, BRAM, ANA, state)
    reader = replace(BRAM, locale=locale, communication=replace(BRAM.communication, style=tone))
    (delivery,) = plan([to_bram], {bram: reader}, cause_event_id="m-1", cause_type="t", now=NOW, links=LINKS)
    assert "{" not in delivery.body and "None" not in delivery.body
    return delivery.body


@pytest.mark.parametrize(
    ("locale", "tone", "planned", "agree"),
    [
        ("en", "direct", "Your next meeting is planned for Monday, January 11, 2027",
         "You have not recorded that yet"),
        ("nl", "direct", "Uw volgende gesprek staat gepland op maandag 11 januari 2027",
         "de eerste link hieronder brengt u daar"),
        ("pt-BR", "indirect", "Seu próximo encontro está marcado para segunda-feira, 11 de janeiro de 2027",
         "o primeiro link abaixo"),
        ("ja", "indirect", "次回のミーティングは2027年1月11日", "下の最初のリンク"),
    ],
)
def test_the_missed_meetings_mail_names_the_next_meeting_and_suggests_agreeing_when_nothing_is_recorded(
        locale, tone, planned, agree):
    with_meeting = _missed_mail(compose.PairState(next_meeting=MEETING), locale, tone)
    without = _missed_mail(compose.PairState(agreed_by=ana, answered=frozenset({ana, bram})), locale, tone)
    assert planned in with_meeting and agree in with_meeting
    assert "2027" not in without and agree not in without
