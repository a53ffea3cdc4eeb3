"""The certificate of completion: a PDF in each reader's language whose text really is text (it
extracts), with its fonts embedded so it looks the same in every viewer."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from services.notifications.domain.certificate import Certificate, font_for
from services.notifications.i18n.catalogues import available, bcp47, language_for

CERTIFICATE = Certificate(name="Ana Souza", role="mentee", program_name="Global mentoring 2027",
                          started=datetime(2027, 1, 11, 9, tzinfo=UTC), ended=datetime(2027, 7, 10, 9, tzinfo=UTC),
                          zone="America/Sao_Paulo", meetings_held=11,
                          goals_achieved=("public speaking", "asia market entry"))
TITLES = {"en": "Certificate of completion", "nl": "Certificaat van voltooiing", "de": "Abschlusszertifikat",
          "fr": "Certificat de réussite", "es": "Certificado de finalización", "pt-BR": "Certificado de conclusão",
          "ja": "修了証書", "zh-Hans": "结业证书"}


def text_of(document: bytes) -> str:
    reader = PdfReader(io.BytesIO(document))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


@pytest.mark.parametrize("name", sorted(available()))
def test_each_language_gets_its_own_certificate_whose_text_extracts(name):
    attachment = CERTIFICATE.pdf(language_for(bcp47(name)))
    document = base64.b64decode(attachment.content)
    assert document.startswith(b"%PDF-") and attachment.mime_type == "application/pdf"
    assert attachment.filename.endswith(".pdf") and attachment.encoding == "base64"
    text = text_of(document)
    assert TITLES[bcp47(name)] in text
    assert "Ana Souza" in text and "Global mentoring 2027" in text and "public speaking" in text
    assert "11" in text  # the meetings held
    assert b"/FontFile2" in document  # embedded (subset) TrueType fonts, not left to the viewer


def test_a_japanese_certificate_reads_in_japanese():
    text = text_of(base64.b64decode(CERTIFICATE.pdf(language_for("ja-JP")).content))
    assert "メンティーとしてメンタリングを修了したことを証します" in text and "2027年1月11日" in text


def test_a_chinese_certificate_reads_in_simplified_chinese():
    mentor = Certificate(**{**CERTIFICATE.__dict__, "role": "mentor", "name": "王小明"})
    text = text_of(base64.b64decode(mentor.pdf(language_for("zh-CN")).content))
    assert "王小明" in text and "以导师身份完成" in text and "共进行11次会面" in text


def test_a_name_in_another_script_takes_a_font_that_has_it():
    assert font_for("田中さくら", "en") == "TandemJapanese"
    assert font_for("王小明", "nl") == "TandemChinese"
    assert font_for("Łukasz Dvořák", "de") == "TandemSerif"
    text = text_of(base64.b64decode(Certificate(**{**CERTIFICATE.__dict__, "name": "田中さくら"}).pdf(
        language_for("en")).content))
    assert "田中さくら" in text


def test_the_same_certificate_is_the_same_file():
    language = language_for("fr")
    assert CERTIFICATE.pdf(language).content == CERTIFICATE.pdf(language).content
