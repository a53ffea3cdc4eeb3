"""What the renderer keeps per locale (Babel's answers, compiled texts) reads exactly as Babel and the
catalogues write it afresh, in every language, at any moment and zone, and for every plural count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time, get_timezone_name

from services.notifications.domain.messages.structure import nmsg
from services.notifications.domain.render import Writer
from services.notifications.i18n.catalogues import available, bcp47, language_for
from services.notifications.i18n.values import Day, Moment, day_text, moment_text, span_text

LOCALES = [bcp47(name) for name in available()] + ["en-US", "pt-PT", "zh-TW"]
ZONES = ["Europe/Amsterdam", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Chatham"]
MOMENTS = [datetime(2027, 1, 4, 12, 0, tzinfo=UTC) + timedelta(days=d, hours=h, minutes=m)
           for d, h, m in [(0, 0, 0), (3, 9, 45), (100, 17, 5), (181, 23, 59)]]


def fresh(value: Moment, locale) -> str:
    """moment_text's answer, with every piece asked of Babel anew."""
    local = value.at.astimezone(ZoneInfo(value.zone))
    width = "medium" if value.short else "full"
    pattern = locale.datetime_formats.get(width, "{1} {0}").replace("'", "")
    when = pattern.replace("{0}", format_time(local, "short", locale=locale)).replace(
        "{1}", format_date(local, width, locale=locale))
    return when if value.short else f"{when} | {get_timezone_name(ZoneInfo(value.zone), 'long', locale=locale)}"


@pytest.mark.parametrize("tag", LOCALES)
def test_moments_days_and_lengths_read_as_babel_writes_them_afresh(tag):
    locale = language_for(tag).locale
    for _ in range(2):  # the second time from the caches
        for at in MOMENTS:
            for zone in ZONES:
                for short in (False, True):
                    value = Moment(at, zone, short)
                    assert moment_text(value, locale, lambda t, z: f"{t} | {z}") == fresh(value, locale)
                assert day_text(Day(at, zone), locale) == format_date(at.astimezone(ZoneInfo(zone)), "full",
                                                                      locale=locale)
        for minutes in (45, 60, 90, 60 * 24 * 14):
            assert span_text(timedelta(minutes=minutes), locale) == span_text(timedelta(minutes=minutes), locale)


@pytest.mark.parametrize("tag", LOCALES)
def test_a_plural_text_is_kept_per_count(tag):
    language = language_for(tag)
    text = nmsg("any", "{count} meeting", "{count} meetings")
    writer = Writer(language, "direct")
    for _ in range(2):
        for n in (0, 1, 2, 5, 21):
            expected = language.translate("any", "{count} meeting", "{count} meetings", n).format(count=n)
            assert writer.fill(text, {"count": n}).text == expected
