"""The shape of a message: its subject and body blocks per tone, built from translatable texts.

Texts are gettext message ids in English with `{named}` placeholders; `msg` and `nmsg` mark them
for Babel's extraction (`python -m services.notifications.catalogues extract`). Their context
(`msgctxt`) is the tone a text is written in (`direct`, `indirect`), `any` for pieces both tones
share (list items, labels), or `certificate`. Nothing here is translated: the renderer looks each
text up in the reader's catalogue.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from functools import cached_property

DIRECT, INDIRECT, ANY, CERTIFICATE = "direct", "indirect", "any", "certificate"
TONES = (DIRECT, INDIRECT)
PARTICIPANT, TEAM = "participant", "team"  # who reads a template

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Text:
    """One translatable sentence or paragraph; `plural` when its wording depends on a number."""

    context: str
    msgid: str
    plural: str | None = None
    count: str = "count"  # the parameter whose number picks the plural form

    def counting(self, param: str) -> Text:
        return replace(self, count=param)

    def __hash__(self) -> int:  # the key of its translation, looked up at every use: hashed once
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.context, self.msgid, self.plural, self.count))

    def __getstate__(self) -> dict:  # str hashes differ between processes: the kept one is not carried
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @cached_property  # asked on every render; a text never changes
    def placeholders(self) -> frozenset[str]:
        found = {name for source in (self.msgid, self.plural or "") for _, name, _, _ in _FORMATTER.parse(source)
                 if name}
        return frozenset(found | ({self.count} if self.plural else set()))


def msg(context: str, message: str) -> Text:
    """A text to translate (extracted like `pgettext`)."""
    return Text(context, message)


def nmsg(context: str, singular: str, plural: str) -> Text:
    """A text whose wording depends on the number in `{count}` (extracted like `npgettext`)."""
    return Text(context, singular, plural)


@dataclass(frozen=True)
class Switch:
    """One of several texts, picked by a parameter's value (e.g. a meeting's kind, the reader's role)."""

    param: str
    cases: dict[str, Text]

    def pick(self, params: dict) -> Text:
        return self.cases[params[self.param]]


Wording = Text | Switch


@dataclass(frozen=True)
class Para:
    """A paragraph. An `optional` one is left out unless every placeholder it names has a value;
    one with `when` is shown only when that parameter is true."""

    text: Wording
    optional: bool = False
    when: str | None = None


@dataclass(frozen=True)
class Value:
    """A paragraph that is one parameter's value (a phrase such as the match explanation), left out
    when there is none."""

    param: str


@dataclass(frozen=True)
class Bullets:
    """A list from one parameter (a sequence of values), under an optional heading; left out when empty."""

    items: str
    heading: Wording | None = None


Block = Para | Value | Bullets


@dataclass(frozen=True)
class Variant:
    subject: Wording
    body: tuple[Block, ...]


@dataclass(frozen=True)
class Template:
    name: str
    tones: dict[str, Variant]
    audience: str = PARTICIPANT
    # Parameters the template needs that its texts do not name (e.g. the value a Switch reads).
    extra: tuple[str, ...] = field(default=())

    def variant(self, tone: str) -> Variant:
        return self.tones.get(tone) or self.tones[DIRECT]


def texts_of(wording: Wording | None) -> list[Text]:
    if wording is None:
        return []
    return list(wording.cases.values()) if isinstance(wording, Switch) else [wording]


def texts_in(variant: Variant) -> list[Text]:
    """Every text a variant can show."""
    found = texts_of(variant.subject)
    for block in variant.body:
        if isinstance(block, Para):
            found += texts_of(block.text)
        elif isinstance(block, Bullets):
            found += texts_of(block.heading)
    return found
