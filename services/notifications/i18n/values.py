"""Values that a message's placeholders take, written out in the reader's language with Babel.

Composing a message names *what* to say (a moment in someone's time zone, a length of time, a list
of languages, a reason); only the renderer knows the reader, so only it decides how that reads:
"Wednesday, 13 January 2027, 13:00 (Central European Time)" or "2027年1月13日水曜日 13:00（中央ヨーロッパ時間）".
Time zones and languages appear by their names, never as codes; numbers in the reader's digits.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_gmt, get_timezone_name
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

from services.notifications.domain.messages.structure import Wording, msg

_UTC_NAMES = {"UTC", "UCT", "GMT", "Zulu", "Universal", "Etc/UTC", "Etc/UCT", "Etc/GMT", "Etc/Zulu", "Etc/Universal",
              "Etc/Greenwich", "Greenwich"}

# How a moment and its zone, and two sentences, sit together (full-width brackets in Japanese...).
TIME_IN_ZONE = msg("any", "{time} ({zone})")
NEXT_SENTENCE = msg("any", "{sentence} {next_sentence}")


@dataclass(frozen=True)
class Shown:
    """A value as the reader sees it: plain text, and the same as HTML."""

    text: str
    html: str

    @classmethod
    def plain(cls, text: str) -> Shown:
        return cls(text, html.escape(text, quote=False))


@dataclass(frozen=True)
class Moment:
    """An instant on a wall clock: the reader's own, or another person's (`zone`)."""

    at: datetime
    zone: str
    short: bool = False  # for subjects: "13 Jan 2027, 13:00", without the zone


@dataclass(frozen=True)
class Day:
    at: datetime | date
    zone: str | None = None  # the reader's, for an instant: its date on their calendar
    width: str = "full"  # "full" names the weekday; "long" does not


@dataclass(frozen=True)
class Span:
    """A length of time in the largest unit that measures it exactly: "90 minutes", "2 weeks"."""

    length: timedelta


@dataclass(frozen=True)
class Zone:
    name: str  # IANA


@dataclass(frozen=True)
class LanguageNames:
    codes: tuple[str, ...]  # ISO 639


@dataclass(frozen=True)
class Listing:
    """Several values as one list: "public speaking, budgeting and hiring"."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Percent:
    share: float  # 0.7 -> "70%"


@dataclass(frozen=True)
class Link:
    url: str


@dataclass(frozen=True)
class Phrase:
    """A translatable piece with its own parameters (a reason, a sentence of an explanation), in the
    tone of the message it appears in: `by_tone` maps a tone to its wording (`direct` is the default)."""

    by_tone: dict[str, Wording]
    params: dict = field(default_factory=dict, hash=False)

    def wording(self, tone: str) -> Wording:
        return self.by_tone.get(tone) or self.by_tone["direct"]


@dataclass(frozen=True)
class Sentences:
    """Phrases one after the other, as a short paragraph."""

    parts: tuple[Phrase, ...]


# Babel looks each name, pattern and field up in the locale's data on every call, which was most of
# the CPU of writing a message. What it gives depends only on the locale and a few plain values
# (a zone, a day, an hour and minute, a length), so each answer is kept, per locale, in bounded caches.

def zone_name(name: str, locale: Locale, at: datetime | None = None) -> str:
    if name in _UTC_NAMES:
        return locale.time_zones.get("Etc/UTC", {}).get("long", {}).get("standard") or "UTC"
    if name.startswith("Etc/GMT"):  # a bare offset: no name to give it (the same at any moment)
        zone = ZoneInfo(name)
        return get_timezone_gmt(datetime.now(zone) if at is None else at.astimezone(zone), "long", locale=locale)
    return _zone_name(name, locale)


@lru_cache(maxsize=4096)
def _zone_name(name: str, locale: Locale) -> str:
    return get_timezone_name(ZoneInfo(name), "long", locale=locale)


@lru_cache(maxsize=16384)
def _time_text(hour: int, minute: int, locale: Locale) -> str:
    return format_time(time(hour, minute), "short", locale=locale)


@lru_cache(maxsize=16384)
def _date_text(day: date, width: str, locale: Locale) -> str:
    return format_date(day, width, locale=locale)


@lru_cache(maxsize=1024)
def _moment_pattern(width: str, locale: Locale) -> str:
    return locale.datetime_formats.get(width, "{1} {0}").replace("'", "")


def language_names(codes: Sequence[str], locale: Locale) -> list[str]:
    names = []
    for code in codes:
        name = locale.languages.get(code)
        if name is None:
            try:
                name = Locale.parse(code).get_display_name(locale)
            except (ValueError, UnknownLocaleError):
                continue  # no name for it: better left out than shown as a code
        names.append(name)
    return names


def moment_text(value: Moment, locale: Locale, in_zone: Callable[[str, str], str]) -> str:
    local = value.at.astimezone(_zone(value.zone))
    width = "medium" if value.short else "full"
    when = _moment_pattern(width, locale).replace("{0}", _time_text(local.hour, local.minute, locale)).replace(
        "{1}", _date_text(local.date(), width, locale))
    return when if value.short else in_zone(when, zone_name(value.zone, locale, value.at))


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_text(value: Day, locale: Locale) -> str:
    at = value.at
    if isinstance(at, datetime) and value.zone:
        at = at.astimezone(_zone(value.zone))
    return _date_text(at.date() if isinstance(at, datetime) else at, value.width, locale)


_UNITS = (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))


def span_text(length: timedelta, locale: Locale) -> str:
    return _span_text(max(60, round(length.total_seconds() / 60) * 60), locale)


@lru_cache(maxsize=4096)
def _span_text(seconds: int, locale: Locale) -> str:
    unit, size = next((u, s) for u, s in _UNITS if seconds % s == 0)
    return format_unit(seconds // size, f"duration-{unit}", length="long", locale=locale)


def plain_value(value: Any, locale: Locale) -> str | None:
    """Values that need only Babel; None for the kinds the renderer handles (phrases, links, ...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return format_decimal(value, locale=locale)
    if isinstance(value, Span):
        return span_text(value.length, locale)
    if isinstance(value, Zone):
        return zone_name(value.name, locale)
    if isinstance(value, LanguageNames):
        return format_list(language_names(value.codes, locale), locale=locale)
    if isinstance(value, Percent):
        return format_percent(value.share, locale=locale)
    if isinstance(value, Day):
        return day_text(value, locale)
    return None
