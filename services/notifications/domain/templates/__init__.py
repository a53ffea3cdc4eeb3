"""Message templates per language (TOML files beside this module) and tone (direct/indirect)."""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path

DEFAULT_LANGUAGE = "en"
_DIR = Path(__file__).parent


@cache
def catalogue(language: str) -> dict:
    path = _DIR / f"{language}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def languages() -> list[str]:
    return sorted(p.stem for p in _DIR.glob("*.toml"))


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # a missing value stays visible instead of failing the send


def render(template: str, language: str, style: str, context: dict) -> tuple[str, str, str]:
    """(language actually used, subject, body); falls back to English, then to the direct tone."""
    lang = language if template in catalogue(language) else DEFAULT_LANGUAGE
    variants = catalogue(lang)[template]
    variant = variants.get(style) or variants["direct"]
    values = _Missing({k: v for k, v in context.items() if v is not None})
    formatter = string.Formatter()
    return lang, formatter.vformat(variant["subject"], (), values), formatter.vformat(variant["body"], (), values)
