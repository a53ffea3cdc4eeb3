"""The certificate of completion: a one-page PDF in the reader's language (reportlab).

Fonts are vendored (`services/notifications/fonts`, licences beside them) and embedded as subsets,
so the page looks the same in every viewer: DejaVu Serif for Latin, Greek and Cyrillic, IPAex Gothic
for Japanese, WenQuanYi Micro Hei for Chinese. A line in another script than the reader's language
(a Japanese name on a Dutch certificate) takes the font that has its characters. Text is real text,
so it can be searched, copied and read aloud.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_interval
from babel.lists import format_list
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from services.notifications.i18n.catalogues import Language

from .messages import certificate as words
from .messages.structure import DIRECT
from .outgoing import Attachment
from .render import Writer

FONTS = Path(__file__).resolve().parent.parent / "fonts"
LATIN, LATIN_BOLD, JAPANESE, CHINESE = "TandemSerif", "TandemSerif-Bold", "TandemJapanese", "TandemChinese"
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_WIDE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
INK, ACCENT = HexColor("#1f2a44"), HexColor("#2f6f5e")


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(LATIN, str(FONTS / "DejaVuSerif.ttf")))
    pdfmetrics.registerFont(TTFont(LATIN_BOLD, str(FONTS / "DejaVuSerif-Bold.ttf")))
    pdfmetrics.registerFont(TTFont(JAPANESE, str(FONTS / "ipaexg.ttf")))
    pdfmetrics.registerFont(TTFont(CHINESE, str(FONTS / "wqy-microhei.ttc"), subfontIndex=0))


def font_for(text: str, language: str, *, bold: bool = False) -> str:
    """The font that has this text's characters, preferring the reader's language's own."""
    if language.startswith("ja"):
        return JAPANESE
    if language.startswith("zh"):
        return CHINESE
    if _KANA.search(text):
        return JAPANESE
    if _WIDE.search(text):
        return CHINESE
    return LATIN_BOLD if bold else LATIN


@dataclass(frozen=True)
class Certificate:
    """What a certificate states; `pdf` writes it in a reader's language."""

    name: str
    role: str  # mentor | mentee
    program_name: str
    started: datetime
    ended: datetime
    zone: str  # the reader's: dates are their local dates
    meetings_held: int
    goals_achieved: tuple[str, ...] = ()

    def pdf(self, language: Language) -> Attachment:
        writer = Writer(language, DIRECT)
        document = write_pdf(self, writer, language)
        name = writer.fill(words.DOCUMENT_NAME, {}).text.strip() or "certificate"
        return Attachment(f"{name}.pdf", base64.b64encode(document).decode("ascii"), "application/pdf",
                          encoding="base64")


def lines_of(cert: Certificate, writer: Writer, language: Language) -> list[tuple[str, float, bool, object]]:
    """(text, size, bold, colour) from the top, as the page shows them."""
    locale, zone = language.locale, ZoneInfo(cert.zone)
    start, end = cert.started.astimezone(zone).date(), cert.ended.astimezone(zone).date()
    period = format_interval(start, end, "yMMMd", locale=locale) if start != end else format_date(end, "long",
                                                                                                   locale=locale)
    params = {"program_name": cert.program_name, "role": cert.role, "count": cert.meetings_held,
              "goals": format_list(list(cert.goals_achieved), locale=locale) if cert.goals_achieved else None,
              "date": format_date(end, "long", locale=locale)}
    found: list[tuple[str, float, bool, object]] = [
        (writer.fill(words.TITLE, params).text, 34, True, ACCENT),
        (writer.fill(words.CERTIFIES, params).text, 15, False, INK),
        (cert.name, 30, True, INK),
        (writer.fill(words.COMPLETED, params).text, 15, False, INK),
        (period, 15, False, INK),
    ]
    if cert.meetings_held > 0:
        found.append((writer.fill(words.MEETINGS, params).text, 13, False, INK))
    if cert.goals_achieved:
        found.append((writer.fill(words.GOALS_ACHIEVED, params).text, 13, False, INK))
    found.append((writer.fill(words.ISSUED, params).text, 11, False, ACCENT))
    return found


def write_pdf(cert: Certificate, writer: Writer, language: Language) -> bytes:
    _register_fonts()
    buffer = io.BytesIO()
    width, height = landscape(A4)
    canvas = Canvas(buffer, pagesize=(width, height), invariant=True, pageCompression=1)
    canvas.setTitle(writer.fill(words.TITLE, {}).text)
    canvas.setAuthor("Tandem")
    canvas.setSubject(cert.program_name)
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(3)
    canvas.rect(28, 28, width - 56, height - 56)
    canvas.setLineWidth(0.8)
    canvas.rect(38, 38, width - 76, height - 76)
    y = height - 120
    for text, size, bold, colour in lines_of(cert, writer, language):
        font = font_for(text, language.tag, bold=bold)
        canvas.setFillColor(colour)
        canvas.setFont(font, size)
        for line in wrap(text, font, size, width - 160):
            canvas.drawCentredString(width / 2, y, line)
            y -= size * 1.45
        y -= size * 0.6
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


_TOKENS = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^\s\u1100-\u11ff"
                     r"\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+|\s+")


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy lines no wider than `width`: words stay whole, CJK breaks between characters."""
    lines, current = [], ""
    for token in _TOKENS.findall(text):
        candidate = current + token
        if current and not token.isspace() and pdfmetrics.stringWidth(candidate.rstrip(), font, size) > width:
            lines.append(current.rstrip())
            current = token
        else:
            current = candidate if current or not token.isspace() else ""
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]
