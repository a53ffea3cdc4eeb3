"""What people read: templates in each language and tone, local times, quiet hours."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest

from services.notifications.domain import compose
from services.notifications.domain.compose import Recipient
from services.notifications.domain.quiet_hours import next_allowed
from services.notifications.domain.templates import catalogue, languages, render
from shared.contracts import events as ev
from shared.contracts.examples import EXAMPLES

ANA = Recipient("ana", "Ana Souza", "ana@example.com", "pt-BR", "America/Sao_Paulo", style="indirect",
                languages=("pt", "en"))
BRAM = Recipient("bram", "Bram de Vries", "bram@example.com", "nl-NL", "Europe/Amsterdam", languages=("nl", "en"))


def test_every_template_exists_in_every_language_and_tone_with_the_same_placeholders():
    assert languages() == ["en", "nl"]
    english = catalogue("en")
    for language in languages():
        assert set(catalogue(language)) == set(english)
        for template, tones in catalogue(language).items():
            assert set(tones) == {"direct", "indirect"}, (language, template)
            for tone, text in tones.items():
                fields = {f for part in (text["subject"], text["body"]) for _, f, _, _ in string.Formatter().parse(part) if f}
                reference = {f for part in english[template]["direct"].values()
                             for _, f, _, _ in string.Formatter().parse(part) if f}
                assert fields <= reference | {"reason"}, (language, template, tone)


def test_a_proposal_explains_why_in_the_mentors_language():
    data = ev.MatchProposed.model_validate(EXAMPLES[("matches.v1", "match.proposed")])
    (out,) = compose.match_proposed(data, BRAM, ANA, {"region": "LATAM", "sector": "marketing",
                                                      "goals": ["public speaking"]})
    language, subject, body = render(out.template, BRAM.language, BRAM.style, out.context)
    assert language == "nl" and subject == "Nieuwe mentee voor u: Ana Souza"
    assert "cover 2 of 2 goals" in body and "{" not in body
    assert "januari 2027" in body  # the deadline on Bram's clock, in Dutch


def test_a_meeting_is_shown_on_each_persons_own_clock():
    data = ev.MeetingScheduled.model_validate(EXAMPLES[("meetings.v1", "meeting.scheduled")])
    to_bram, to_ana = compose.meeting_scheduled(data, BRAM, ANA)
    assert "13:00 (Europe/Amsterdam)" in to_bram.context["start_local"]
    assert "09:00 (America/Sao_Paulo)" in to_bram.context["start_other_local"]
    assert to_ana.attachment.mime_type == "text/calendar; method=REQUEST"
    assert to_ana.useful_until == data.start
    # Portuguese has no templates yet: English text, but dates in Ana's own language.
    language, subject, body = render(to_ana.template, ANA.language, ANA.style, to_ana.context)
    assert language == "en" and "janeiro" in to_ana.context["start_local"]


@pytest.mark.parametrize("now, expected", [
    (datetime(2027, 1, 4, 12, 0, tzinfo=UTC), datetime(2027, 1, 4, 12, 0, tzinfo=UTC)),   # 09:00 in Sao Paulo
    (datetime(2027, 1, 5, 1, 0, tzinfo=UTC), datetime(2027, 1, 5, 10, 30, tzinfo=UTC)),   # 22:00 -> 07:30 next day
    (datetime(2027, 1, 5, 9, 0, tzinfo=UTC), datetime(2027, 1, 5, 10, 30, tzinfo=UTC)),   # 06:00 -> 07:30 same day
])
def test_quiet_hours_on_the_recipients_clock(now, expected):
    assert next_allowed(now, "America/Sao_Paulo", "21:00", "07:30") == expected


def test_quiet_hours_ending_in_a_dst_gap():
    # New York springs forward at 02:00 on 2027-03-14; quiet hours ending 02:30 end at 03:00 EDT.
    now = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 00:00 EST
    resumes = next_allowed(now, "America/New_York", "22:00", "02:30")
    assert resumes == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)  # the jump itself: 03:00 EDT
