"""Every message Tandem writes, as gettext message ids (English) per tone: templates for participants
and for the program team, the phrases reasons are worded with, and the certificate's words.

The catalogues (`services/notifications/locale`) are extracted from these modules by Babel."""

from __future__ import annotations

from . import participants, team
from .structure import Template

TEMPLATES: dict[str, Template] = {t.name: t for t in (*participants.TEMPLATES, *team.TEMPLATES)}


def template(name: str) -> Template:
    return TEMPLATES[name]
