"""The catalogues: complete in every language, every message renders in every locale and tone from
its own catalogue, a pseudo-locale finds no hard-coded text, and readers fall back as documented."""

from __future__ import annotations

import gettext

from services.notifications.domain import preferences
import re
from html.parser import HTMLParser

import pytest
from babel import Locale

from services.notifications import catalogues
from services.notifications.domain.certificate import lines_of
from services.notifications.domain.messages import TEMPLATES, template
from services.notifications.domain.render import Writer, render
from services.notifications.i18n import catalogues as i18n
from services.notifications.i18n.catalogues import (
    Language,
    available,
    bcp47,
    compiled,
    language_for,
)
from services.notifications.i18n.values import Listing, Phrase, Sentences
from services.notifications.metrics import LOCALE_FALLBACKS
from tests.services.notifications.samples import all_samples

REQUIRED = {"en", "nl", "pt_BR", "es", "fr", "de", "ja", "zh_Hans"}
SAMPLES = all_samples()
OPEN, CLOSE = "⟦", "⟧"


def test_the_issues_languages_are_all_there():
    assert REQUIRED <= set(available())


def test_the_template_is_current_with_the_code():
    extracted = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalogues.extract() if m.id}
    stored = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalogues._template() if m.id}
    assert extracted == stored, "run `python -m services.notifications.catalogues extract` and `update`"


@pytest.mark.parametrize("name", sorted(available()))
def test_every_catalogue_is_complete_translated_and_compiles(name):
    assert catalogues.problems(name) == []
    catalogues.compiles(name)


@pytest.mark.parametrize("name", sorted(set(available()) - {"en"}))
def test_no_entry_is_left_in_english(name):
    """A translation identical to its English id is an untranslated copy, unless it holds no words."""
    same = [m.id for m in catalogues.read(name) if m.id and m.string and
            (m.string == m.id or (isinstance(m.id, tuple) and tuple(m.string)[-1] == m.id[-1]))
            and re.search(r"[A-Za-z]{2}", re.sub(r"\{\w+\}", "", m.id if isinstance(m.id, str) else m.id[-1]))]
    assert same == []


class _Strict(gettext.NullTranslations):
    """The end of a chain in these tests: a message missing from a catalogue fails instead of falling
    back to English."""

    def pgettext(self, context, message):
        raise AssertionError(f"not translated: [{context}] {message!r}")

    def npgettext(self, context, singular, plural, n):
        raise AssertionError(f"not translated: [{context}] {singular!r}")


def strict(name: str) -> Language:
    translations = compiled(name)
    translations.add_fallback(_Strict())
    return Language(bcp47(name), Locale.parse(name), translations)


@pytest.mark.parametrize("name", sorted(available()))
def test_every_message_renders_in_every_locale_and_tone_from_its_own_catalogue(name):
    language = strict(name)
    rendered = set()
    for sample in SAMPLES:
        found = template(sample.outgoing.template)
        for tone in found.tones:
            links = [(a.label, f"https://x.example/a/{a.action}") for a in sample.outgoing.actions]
            kind = preferences.kind_of(found.name)
            mail = render(found, language, tone, sample.outgoing.context, preferences_url="https://x.example/p/t",
                          links=links, unsubscribe=(preferences.STOP_LABEL[kind], "https://x.example/u") if kind
                          else None)
            for text in (mail.subject, mail.text, mail.html):
                assert "{" not in text and "}" not in text, (sample.label, tone, text)
            assert all(url in mail.text and url in mail.html for _, url in links)
            assert mail.subject and "\n" not in mail.subject
            rendered.add(found.name)
    assert rendered == set(TEMPLATES)  # the samples reach every template


# --- the pseudo-locale: every visible word must come from a catalogue ------------------------------

class _Pseudo(gettext.NullTranslations):
    """Brackets every translated text (placeholders kept), so text outside brackets was hard-coded."""

    def pgettext(self, context, message):
        return f"{OPEN}{message}{CLOSE}"

    def npgettext(self, context, singular, plural, n):
        return f"{OPEN}{singular if n == 1 else plural}{CLOSE}"


PSEUDO = Language("en-XA", Locale.parse("en"), _Pseudo())


def _outside_brackets(text: str) -> str:
    depth, kept = 0, []
    for char in text:
        if char == OPEN:
            depth += 1
        elif char == CLOSE:
            depth -= 1
        elif depth == 0:
            kept.append(char)
    assert depth == 0, text
    return "".join(kept)


def _strings(value) -> list[str]:
    """The plain parameter values in a context: names, goals, notes, URLs, a dead letter's technical line."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, (Phrase,)):
        return _strings(value.params)
    if isinstance(value, (Sentences,)):
        return _strings(list(value.parts))
    if isinstance(value, Listing):
        return _strings(list(value.items))
    return []


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _leftover(text: str, params: list[str]) -> str:
    rest = _outside_brackets(text)
    for value in sorted(params, key=len, reverse=True):
        rest = rest.replace(value, "")
    return re.sub(r"[\s\d\-–—:;,.()…+&x/]", "", rest)


def test_a_pseudo_locale_run_finds_no_hard_coded_text():
    for sample in SAMPLES:
        found = template(sample.outgoing.template)
        params = _strings(sample.outgoing.context) + ["https://x.example/p/t"]
        for tone in found.tones:
            mail = render(found, PSEUDO, tone, sample.outgoing.context, preferences_url="https://x.example/p/t")
            visible = _Visible()
            visible.feed(mail.html)
            for where, text in (("subject", mail.subject), ("text", mail.text),
                                ("html", "".join(visible.parts))):
                assert _leftover(text, params) == "", (sample.label, tone, where, text)


def test_a_pseudo_certificate_has_no_hard_coded_text():
    (sample,) = [s for s in SAMPLES if s.outgoing.certificate is not None][:1]
    certificate = sample.outgoing.certificate
    lines = lines_of(certificate, Writer(PSEUDO, "direct"), PSEUDO)
    period = lines[4][0]  # Babel's own date interval: a value, not a text of ours
    for text, *_ in lines[:4] + lines[5:]:
        assert _leftover(text, [certificate.name, certificate.program_name, *certificate.goals_achieved]) == "", text
    assert OPEN not in period


# --- fallback, and its counter -------------------------------------------------------------------

def _count(reason: str) -> float:
    return LOCALE_FALLBACKS.labels(reason=reason)._value.get()


@pytest.mark.parametrize("locale, tag", [
    ("pt-BR", "pt-BR"), ("pt_BR", "pt-BR"), ("pt-PT", "pt-BR"), ("pt", "pt-BR"), ("zh-Hans", "zh-Hans"),
    ("zh-CN", "zh-Hans"), ("zh", "zh-Hans"), ("de-AT", "de"), ("en-GB", "en"), ("fr-CA", "fr"), ("ja-JP", "ja"),
])
def test_a_reader_gets_the_most_specific_catalogue_of_their_language(locale, tag):
    before = _count("untranslated") + _count("unknown")
    language = language_for(locale)
    assert language.tag == tag and language.fell_back is None
    assert _count("untranslated") + _count("unknown") == before


def test_dates_follow_the_readers_region_when_the_text_is_in_their_language():
    assert str(language_for("en-GB").locale) == "en_GB" and str(language_for("pt-PT").locale) == "pt_PT"
    assert str(language_for("ko").locale) == "en"  # English text, English dates: never a mix


@pytest.mark.parametrize("locale, reason", [("xx-YY", "unknown"), ("not a locale", "unknown"), ("", None),
                                            ("ko-KR", "untranslated"), ("zh-TW", "untranslated")])
def test_an_unknown_or_untranslated_locale_falls_back_to_english_and_is_counted(locale, reason):
    before = _count(reason) if reason else None
    language = language_for(locale)
    assert language.tag == "en" and language.fell_back == reason
    if reason:
        assert _count(reason) == before + 1


def test_a_missing_entry_falls_back_from_pt_BR_to_pt_to_english(monkeypatch, tmp_path):
    """pt-BR -> pt -> en, entry by entry: a pt catalogue fills what pt_BR lacks, English what both lack."""
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    def catalogue(name: str, entries: dict) -> gettext.GNUTranslations:
        catalog = Catalog(locale=name)
        for (context, msgid), text in entries.items():
            catalog.add(msgid, text, context=context)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)

    fakes = {"pt_BR": lambda: catalogue("pt_BR", {("direct", "Why:"): "Por quê (BR):"}),
             "pt": lambda: catalogue("pt", {("direct", "Why:"): "Porquê:",
                                            ("direct", "Your goals:"): "Os seus objetivos:"}),
             "en": lambda: compiled("en")}
    monkeypatch.setattr(i18n, "available", lambda: ("en", "pt", "pt_BR"))
    monkeypatch.setattr(i18n, "compiled", lambda name: fakes[name]())
    i18n._resolve.cache_clear()
    try:
        language = language_for("pt-BR")
        assert language.tag == "pt-BR"
        assert language.translate("direct", "Why:") == "Por quê (BR):"
        assert language.translate("direct", "Your goals:") == "Os seus objetivos:"
        assert language.translate("direct", "Milestones along the way:") == "Milestones along the way:"
    finally:
        i18n._resolve.cache_clear()


def test_an_unknown_locale_never_stops_a_send():
    from datetime import UTC, datetime

    from services.notifications.domain.delivery import plan
    from tests.services.notifications.fakes import participant

    stranger = participant("zed", locale="tlh-Piqd-XX")
    sample = next(s for s in SAMPLES if s.outgoing.template == "goal_achieved")
    outgoing = sample.outgoing.__class__(stranger.participant_id, sample.outgoing.template, sample.outgoing.context)
    before = _count("unknown")
    (delivery,) = plan([outgoing], {"zed": stranger}, cause_event_id="e", cause_type="goal.achieved",
                       now=datetime(2027, 1, 4, tzinfo=UTC))
    assert delivery.language == "en" and delivery.subject.startswith("Goal achieved")
    assert _count("unknown") == before + 1
