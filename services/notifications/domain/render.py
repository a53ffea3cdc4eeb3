"""A template and its parameters, written out for one reader: subject, plain text and HTML.

Every visible word comes from the reader's catalogue (`i18n.catalogues.Language`); values are
written with Babel in the reader's locale (`i18n.values`). The plain text and the HTML say the same:
greeting, paragraphs, lists, sign-off, and a footer with why the reader gets this and where to
choose what they get. The HTML is simple and accessible: the language declared, real paragraphs
and lists, readable contrast, no images and nothing loaded from elsewhere.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Any

from babel.lists import format_list

from services.notifications.domain.messages import actions, voice
from services.notifications.domain.messages.structure import (
    DIRECT,
    PARTICIPANT,
    Bullets,
    Para,
    Switch,
    Template,
    Text,
    Value,
    Wording,
)
from services.notifications.i18n.catalogues import Language
from services.notifications.i18n.values import (
    NEXT_SENTENCE,
    TIME_IN_ZONE,
    Link,
    Listing,
    Moment,
    Phrase,
    Sentences,
    Shown,
    Span,
    Zone,
    moment_text,
    plain_value,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    language: str  # BCP 47 tag of the language the text is in
    subject: str
    text: str
    html: str


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        log.warning("a message names a value it was not given: %s", key)
        return "{" + key + "}"  # visible instead of failing the send; the catalogue tests catch it


_COMPILED_MAX = 20_000  # texts kept per language: every template's, with room for plural counts
# Values kept per language as written (`Language.values`): each is written the same for every reader
# of the language, whatever the tone. Equal values read the same: a moment is shown on its zone's
# clock, so equal instants in other offsets give the same text. (A `Day` is not kept: without a zone
# it is the date of its own offset, which equality ignores.)
_KEPT = frozenset({Moment, Span, Zone})
_KEPT_MAX = 4096


class Writer:
    """Writes texts and values in one language and tone."""

    def __init__(self, language: Language, tone: str) -> None:
        self.language = language
        self.tone = tone

    def fill(self, wording: Wording, params: dict[str, Any]) -> Shown:
        text = wording.pick(params) if isinstance(wording, Switch) else wording
        key: Text | tuple[Text, int] = text
        n = 1
        if text.plural:  # a text with a number: kept per number (most texts have none)
            count = params.get(text.count)
            n = int(count) if isinstance(count, int | float) else 1
            key = (text, n)
        compiled = (kept := self.language.compiled).get(key)
        if compiled is None:  # the translation and its HTML, once per language (and number)
            translated = self.language.translate(text.context, text.msgid, text.plural, n)
            escaped = html.escape(translated, quote=False)
            compiled = Shown(translated, escaped) if not text.placeholders else (translated, escaped)
            if len(kept) < _COMPILED_MAX:
                kept[key] = compiled
        if isinstance(compiled, Shown):
            return compiled
        translated, escaped = compiled
        as_text, as_html = {}, {}
        for name in text.placeholders:
            value = params.get(name)
            if type(value) is str:  # most values (a name): `Shown.plain` without the object
                as_text[name], as_html[name] = value, html.escape(value, quote=False)
            elif value is not None:
                shown = self.show(value)
                if shown is not None:
                    as_text[name], as_html[name] = shown.text, shown.html
        try:
            return Shown(translated.format_map(as_text), escaped.format_map(as_html))
        except KeyError:  # a value it was not given: shown as its placeholder, and logged
            return Shown(translated.format_map(_Missing(as_text)), escaped.format_map(_Missing(as_html)))

    def has_values(self, text: Text, params: dict[str, Any]) -> bool:
        """Every placeholder given something other than None or an empty str, list or tuple (checked by
        type, not by comparing each value with each of those, which called every value's __eq__)."""
        for name in text.placeholders:
            value = params.get(name)
            if value is None or (isinstance(value, str | list | tuple) and not value):
                return False
        return True

    def show(self, value: Any) -> Shown | None:
        if value is None:
            return None
        if isinstance(value, str):
            return Shown.plain(value)
        if isinstance(value, Phrase):
            return self.fill(value.wording(self.tone), value.params)
        if isinstance(value, Sentences):
            shown = [self.show(p) for p in value.parts]
            first, *rest = [s for s in shown if s is not None] or [Shown("", "")]
            for part in rest:
                first = self.fill(NEXT_SENTENCE, {"sentence": first, "next_sentence": part})
            return first
        if isinstance(value, Shown):
            return value
        if type(value) in _KEPT:
            kept = self.language.values.get(value)
            if kept is None:
                kept = self._written(value)
                if len(self.language.values) >= _KEPT_MAX:
                    self.language.values.clear()
                self.language.values[value] = kept
            return kept
        if isinstance(value, Link):
            return Shown(value.url, f'<a href="{html.escape(value.url)}">{html.escape(value.url, quote=False)}</a>')
        if isinstance(value, Listing):
            items = [s for s in (self.show(i) for i in value.items) if s is not None]
            return Shown(format_list([s.text for s in items], locale=self.language.locale),
                         format_list([s.html for s in items], locale=self.language.locale))
        return self._written(value)

    def _written(self, value: Any) -> Shown:
        """A value that depends on nothing but itself and the language."""
        if isinstance(value, Moment):
            return Shown.plain(moment_text(value, self.language.locale, self._in_zone))
        found = plain_value(value, self.language.locale)
        return Shown.plain(found if found is not None else str(value))

    def _in_zone(self, time: str, zone: str) -> str:
        return self.fill(TIME_IN_ZONE, {"time": time, "zone": zone}).text


LabelledLink = tuple[Text, str]  # a label from the catalogue, and the address it opens


def render(template: Template, language: Language, tone: str, params: dict[str, Any], *,
           preferences_url: str | None = None, links: tuple[LabelledLink, ...] | list[LabelledLink] = (),
           unsubscribe: LabelledLink | None = None) -> Rendered:
    """The message for one reader. `tone` falls back to direct when the template has no such variant.
    `links`: what the message asks the reader to do, as buttons (HTML) and lines (text) after the
    body; `unsubscribe`: the one-click link that stops this kind of message, in the footer."""
    tone = tone if tone in template.tones else DIRECT
    writer = Writer(language, tone)
    variant = template.variant(tone)
    blocks: list[tuple[str, Shown | None, list[Shown]]] = [("p", writer.fill(voice.GREETING[tone], params), [])]
    for block in variant.body:
        blocks += _block(writer, block, params)
    if links:
        blocks.append(("buttons", _buttons(writer, links), []))
    blocks.append(("p", writer.fill(voice.CLOSING[tone], params), []))
    footer = _footer(writer, template, params, preferences_url)
    if unsubscribe is not None and template.audience == PARTICIPANT:
        footer.append(_link_line(writer, *unsubscribe))
    subject = writer.fill(variant.subject, params).text
    return Rendered(language.tag, " ".join(subject.split()), _as_text(blocks, footer),
                    _as_html(blocks, footer, subject, language.tag))


def _block(writer: Writer, block: Any, params: dict[str, Any]) -> list[tuple[str, Shown | None, list[Shown]]]:
    if isinstance(block, Para):
        text = block.text.pick(params) if isinstance(block.text, Switch) else block.text
        if block.when is not None and not params.get(block.when):
            return []
        if block.optional and not writer.has_values(text, params):
            return []
        return [("p", writer.fill(text, params), [])]
    if isinstance(block, Value):
        shown = writer.show(params.get(block.param))
        return [] if shown is None or not shown.text else [("p", shown, [])]
    if isinstance(block, Bullets):
        items = [s for s in (writer.show(i) for i in params.get(block.items) or ()) if s is not None]
        if not items:
            return []
        heading = writer.fill(block.heading, params) if block.heading is not None else None
        return [("ul", heading, items)]
    raise TypeError(f"not a block: {block!r}")


_BUTTON = ("display:inline-block;margin:4px 8px 4px 0;padding:10px 16px;background:#0b57d0;color:#ffffff;"
           "border-radius:6px;text-decoration:underline;font-weight:bold")


def _buttons(writer: Writer, links: tuple[LabelledLink, ...] | list[LabelledLink]) -> Shown:
    """One line per link in the text ("Accept: https://..."); a row of buttons in the HTML."""
    lines, buttons = [], []
    for label, url in links:
        shown = writer.fill(label, {})
        lines.append(writer.fill(actions.ACTION_LINE, {"label": shown, "url": url}).text)
        buttons.append(f'<a href="{html.escape(url)}" style="{_BUTTON}">{shown.html}</a>')
    return Shown("\n".join(lines), "".join(buttons))


def _link_line(writer: Writer, label: Text, url: str) -> Shown:
    shown = writer.fill(label, {})
    line = writer.fill(actions.ACTION_LINE, {"label": shown, "url": url})
    return Shown(line.text, f'<a href="{html.escape(url)}">{shown.html}</a>')


def _footer(writer: Writer, template: Template, params: dict[str, Any],
            preferences_url: str | None) -> list[Shown]:
    if template.audience != PARTICIPANT:
        return [writer.fill(voice.WHY_THE_TEAM_GETS_THIS, params)] if params.get("program_name") else []
    lines = [writer.fill(voice.WHY_YOU_GET_THIS, params)]
    if preferences_url:
        label = writer.fill(voice.PREFERENCES_LINK, params)
        line = writer.fill(voice.PREFERENCES_LINE, {"link_label": label, "url": preferences_url})
        lines.append(Shown(line.text, f'<a href="{html.escape(preferences_url)}">{label.html}</a>'))
    return lines


def _as_text(blocks: list[tuple[str, Shown | None, list[Shown]]], footer: list[Shown]) -> str:
    parts = []
    for kind, lead, items in blocks:
        if kind in ("p", "buttons"):
            parts.append(lead.text)
        else:
            lines = [lead.text] if lead is not None else []
            parts.append("\n".join(lines + [f"- {item.text}" for item in items]))
    text = "\n\n".join(parts)
    if footer:
        text += "\n\n-- \n" + "\n".join(line.text for line in footer)
    return text + "\n"


_BODY = ("margin:0;padding:24px;background:#ffffff;color:#1f1f1f;font-family:Arial,Helvetica,sans-serif;"
         "font-size:16px;line-height:1.5")
_FOOTER = "margin-top:32px;padding-top:16px;border-top:1px solid #d0d0d0;font-size:14px;color:#4d4d4d"


def _as_html(blocks: list[tuple[str, Shown | None, list[Shown]]], footer: list[Shown], subject: str,
             lang: str) -> str:
    body = []
    for kind, lead, items in blocks:
        if kind == "buttons":
            body.append(f"<p>{lead.html}</p>")
        elif kind == "p":
            body.append(f"<p>{_lines(lead.html)}</p>")
        else:
            if lead is not None:
                body.append(f"<p>{_lines(lead.html)}</p>")
            body.append("<ul>" + "".join(f"<li>{_lines(i.html)}</li>" for i in items) + "</ul>")
    if footer:
        body.append(f'<div style="{_FOOTER}">' + "".join(f"<p>{line.html}</p>" for line in footer) + "</div>")
    content = "\n".join(body)
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}" dir="auto">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(subject, quote=False)}</title>\n</head>\n"
            f'<body style="{_BODY}">\n<div role="article" aria-label="{html.escape(subject)}" '
            f'style="max-width:600px;margin:0 auto">\n{content}\n</div>\n</body>\n</html>\n')


def _lines(markup: str) -> str:
    return markup.replace("\n", "<br>\n")
