"""The gettext catalogues (`services/notifications/locale/<locale>/LC_MESSAGES/tandem.po`) and which
one a reader gets.

The `.po` files are the source of truth and travel in the wheel; each is compiled with Babel
(`write_mo`) in memory the first time a process needs it, so a compiled file can never be older
than its source. `python -m services.notifications.catalogues` extracts, updates and checks them.

A reader's locale picks a chain of catalogues, most specific first, and a text missing in one is
looked up in the next: `pt-BR` reads pt_BR, then pt, then English. A language with no catalogue of
its own for the reader's region gets the language's most likely one when it is written in the same
script (`pt-PT` reads pt_BR, `zh-CN` zh_Hans; `zh-TW`, written in Traditional characters, does not).
A locale that is not one, or whose language has no catalogue, falls back to English; that is
counted (`tandem_notifications_locale_fallbacks_total`) and never stops a message.
"""

from __future__ import annotations

import gettext
import io
import logging
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.notifications.metrics import LOCALE_FALLBACKS

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "tandem"
SOURCE = "en"  # the language the message ids are written in
UNKNOWN, UNTRANSLATED = "unknown", "untranslated"  # why a reader does not get their own language


def po_path(name: str) -> Path:
    return LOCALE_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"


def available() -> tuple[str, ...]:
    """The catalogues in the tree, by Babel locale name (`pt_BR`, `zh_Hans`)."""
    return tuple(sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def bcp47(name: str) -> str:
    """`pt_BR` -> `pt-BR`: how a language is named in headers and the HTML `lang` attribute."""
    return name.replace("_", "-")


@cache
def _mo(name: str) -> bytes:
    with po_path(name).open("rb") as source:
        catalog = read_po(source, locale=name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def compiled(name: str) -> gettext.GNUTranslations:
    """One catalogue, compiled from its `.po` by Babel (once per process); untranslated and fuzzy
    entries are left out, so they fall through to the next catalogue in the chain. Each call gives a
    fresh object, so each chain sets its own fallback."""
    return gettext.GNUTranslations(io.BytesIO(_mo(name)))


@dataclass(frozen=True)
class Language:
    """What a message for one reader is written with."""

    tag: str  # BCP 47 name of the catalogue the text comes from: "pt-BR", "zh-Hans", "en"
    locale: Locale  # dates, times, numbers, lists, zone and language names
    translations: gettext.NullTranslations
    fell_back: str | None = None  # UNKNOWN or UNTRANSLATED when the reader's own language is not used
    # Texts as the renderer uses them, kept once written (render.Writer): a message's texts are few
    # and the same for every reader of this language. A Language is made once per locale (`_resolve`).
    compiled: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # Values as written in this language (a moment, a length, a zone: render.Writer), kept because a
    # round of messages names the same few of them for many readers; emptied when full.
    values: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def translate(self, context: str, msgid: str, plural: str | None = None, n: int = 1) -> str:
        if plural is None:
            return self.translations.pgettext(context, msgid)
        return self.translations.npgettext(context, msgid, plural, n)


def _parse(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def _candidates(parsed: Locale) -> list[str]:
    """Catalogue names for a locale, most specific first (without the English at the end)."""
    lang, script, region = parsed.language, parsed.script, parsed.territory
    names = [f"{lang}_{script}_{region}" if script and region else "", f"{lang}_{script}" if script else "",
             f"{lang}_{region}" if region else "", lang]
    likely = get_global("likely_subtags").get(lang)
    if likely:
        found = Locale.parse(likely)
        if script is None or found.script == script:
            names += [f"{lang}_{found.script}" if found.script else "", f"{lang}_{found.territory}" if found.territory else ""]
    return list(dict.fromkeys(n for n in names if n))


@lru_cache(maxsize=1024)  # locales come from profiles: bounded, whatever upstream sends
def _resolve(locale: str) -> Language:
    present = set(available())
    parsed = _parse(locale)
    chain = [n for n in _candidates(parsed) if n in present] if parsed else []
    fell_back = None
    if parsed is None:
        fell_back = UNKNOWN
    elif not chain and parsed.language != SOURCE:
        fell_back = UNTRANSLATED
    if SOURCE not in chain:
        chain.append(SOURCE)
    translations: gettext.NullTranslations = gettext.NullTranslations()
    for name in reversed(chain):  # the most specific first, each falling back to the next
        step = compiled(name)
        step.add_fallback(translations)
        translations = step
    first = chain[0]
    # Dates and names follow the reader's own locale when the text is in their language.
    shown = parsed if parsed is not None and parsed.language == Locale.parse(first).language else Locale.parse(first)
    return Language(bcp47(first), shown, translations, fell_back)


def language_for(locale: str | None) -> Language:
    """The language a reader with this locale gets; a fallback to English is counted, never raised."""
    language = _resolve((locale or SOURCE).strip() or SOURCE)
    if language.fell_back is not None:
        LOCALE_FALLBACKS.labels(reason=language.fell_back).inc()
        log.info("no catalogue for a reader's locale (%s); writing in %s", language.fell_back, language.tag)
    return language
