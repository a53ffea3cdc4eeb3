"""How often a pair meets reads as one phrase in every language: "every week", never "every 1 week",
and "every 2 weeks" in the language's plural form, in the mails that say it (the proposal and the
introduction), rendered from each language's own catalogue in both tones."""

from __future__ import annotations

import pytest
from babel import Locale
from babel.units import format_unit

from services.notifications.domain import compose
from services.notifications.domain.messages import template
from services.notifications.domain.render import render
from services.notifications.i18n.catalogues import available
from shared.contracts import events as ev
from shared.contracts.examples import EXAMPLES
from tests.services.notifications.domain.test_catalogues import strict
from tests.services.notifications.samples import ANA, BRAM

# (once a week, every 2 weeks, once a day, every 10 days) as each language says it.
SAID = {
    "en": ("every week", "every 2 weeks", "every day", "every 10 days"),
    "nl": ("elke week", "elke 2 weken", "elke dag", "elke 10 dagen"),
    "de": ("jede Woche", "alle 2 Wochen", "jeden Tag", "alle 10 Tage"),
    "fr": ("chaque semaine", "toutes les 2 semaines", "chaque jour", "tous les 10 jours"),
    "es": ("cada semana", "cada 2 semanas", "cada día", "cada 10 días"),
    "pt_BR": ("toda semana", "a cada 2 semanas", "todo dia", "a cada 10 dias"),
    "ja": ("毎週", "2週間ごとに", "毎日", "10日ごとに"),
    "zh_Hans": ("每周", "每2周", "每天", "每10天"),
}
PROPOSED = ev.MatchProposed.model_validate(EXAMPLES[("matches.v1", "match.proposed")])
ESTABLISHED = ev.MatchEstablished.model_validate(EXAMPLES[("matches.v1", "match.established")])


def mails(name: str, cadence_days: int) -> list[str]:
    """The plain text and HTML of both mails that name the cadence, in both tones."""
    outgoing = [*compose.match_proposed(PROPOSED, BRAM, ANA, cadence_days=cadence_days, duration_minutes=45,
                                        term_days=180),
                *compose.match_established(ESTABLISHED, BRAM, ANA, cadence_days=cadence_days, duration_minutes=45)]
    found = []
    for message in outgoing:
        used = template(message.template)
        for tone in used.tones:
            mail = render(used, strict(name), tone, message.context)
            found += [mail.text, mail.html]
    return found


def test_every_language_is_covered():
    assert set(SAID) == set(available())


@pytest.mark.parametrize("name", sorted(SAID))
@pytest.mark.parametrize(("cadence_days", "nth"), [(7, 0), (14, 1), (1, 2), (10, 3)])
def test_the_cadence_is_one_phrase_in_the_languages_own_plural_form(name, cadence_days, nth):
    wanted = SAID[name][nth]
    for text in mails(name, cadence_days):
        assert wanted in text, (name, cadence_days, text)


@pytest.mark.parametrize("name", sorted(SAID))
@pytest.mark.parametrize(("cadence_days", "unit"), [(7, "duration-week"), (1, "duration-day")])
def test_once_per_unit_is_said_without_a_one(name, cadence_days, unit):
    one_unit = format_unit(1, unit, length="long", locale=Locale.parse(name))  # "1 week", "1 Woche", "1 週間"
    for text in mails(name, cadence_days):
        assert one_unit not in text and one_unit.replace(" ", "") not in text, (name, text)
