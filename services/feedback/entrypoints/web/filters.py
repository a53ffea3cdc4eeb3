"""Jinja filters: numbers, shares and times as the program team reads them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def number(value) -> str:
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def percent(value) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def rating(value) -> str:
    return "–" if value is None else f"{value:.1f} of 5"


def when(value: str | None, zone: str = "UTC") -> str:
    """An ISO time in the program's zone, e.g. 'Mon 13 Jan 12:00'."""
    if not value:
        return "–"
    moment = datetime.fromisoformat(value).astimezone(ZoneInfo(zone))
    return moment.strftime("%a %d %b %Y %H:%M")


# Bidirectional embeddings, overrides and isolates: in a name or reason they can make text read
# backwards ("U+202E" turns "gpj.exe" around); shown as a replacement character instead.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], "\ufffd")


def without_bidi_controls(value):
    return value.translate(BIDI_CONTROLS) if isinstance(value, str) else value


def install(env) -> None:
    env.filters.update(number=number, percent=percent, rating=rating, when=when)
    # Every value a template prints passes here first (then autoescaping).
    env.finalize = without_bidi_controls
