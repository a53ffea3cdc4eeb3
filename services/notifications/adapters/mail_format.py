"""A mail's bytes as they go over SMTP, written once when its delivery is planned and stored with it,
so that sending is `sendmail(bytes)` with no MIME work.

The structure and headers are those `EmailSender.build` gives (adapters/senders.py): multipart/mixed
of multipart/alternative (plain text, HTML) and the attachment; the standard headers of an automatic
message; a `Message-ID` derived from the delivery, the same on every attempt. The `Date` header is the
first line and is set again at each send (`dated`), so it says when the mail went out.

Written here with the C codecs (binascii's quoted-printable, base64) rather than through
`email.message`: building an `EmailMessage` cost about 4 ms of CPU a mail and `email.mime` about
0.6 ms (its quoted-printable encoder is pure Python); this takes some 25 µs. What is subtle is still
the email package's: encoded words for a subject beyond ASCII (`email.header`), RFC 2231 for a file
name beyond ASCII (`email.utils`), the From header (folded by the SMTP policy, once per process).
The tests read every shape back with the email package and look for defects.

The bytes are 7-bit: every header is ASCII and every part quoted-printable or base64, so any server
takes them, with or without 8BITMIME. The boundaries begin with "=_", which neither encoding can
produce. A mail this does not write (an address beyond ASCII, which needs SMTPUTF8 headers, or a
value no header may hold) gets None: the sender then builds it when it sends, as before.
"""

from __future__ import annotations

import binascii
import email.quoprimime
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.charset import RFC2047_CHROME_LEN, Charset
from email.header import Header
from email.policy import SMTP
from email.utils import encode_rfc2231, format_datetime, parseaddr
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.notifications.adapters.senders import Message
    from services.notifications.domain.outgoing import Attachment

CRLF = b"\r\n"
_DATE = b"Date: "
# What a header here may hold without quoting or encoding: a dot-atom address, an id, a language tag,
# a URL (RFC 3986 characters only).
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}")  # dot-atom text: a Message-ID's left part
_TAG = re.compile(r"[A-Za-z0-9-]{1,35}")
_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{1,900}")
_PARAM = re.compile(r"[A-Za-z0-9!#$&+.^_`|~-]{1,100}")
_LINE = 78  # a header line's recommended length (RFC 5322 2.1.1)


class MailWriter:
    """Writes mails from one sender (`mail_from`, e.g. "Tandem <noreply@tandem.example>")."""

    def __init__(self, sender: str) -> None:
        self.envelope_from = parseaddr(sender)[1]
        self.domain = self.envelope_from.rpartition("@")[2] or "tandem.example"
        try:
            self._from: bytes | None = SMTP.header_factory("From", sender).fold(policy=SMTP).encode("ascii")
        except (ValueError, TypeError, UnicodeError):  # an address only SMTPUTF8 carries: built at send time
            self._from = None
        if not self.envelope_from.isascii():
            self._from = None

    def write(self, message: Message, *, date: datetime | None = None) -> bytes | None:
        """The mail's bytes, or None when it is to be built at send time (module docstring)."""
        if (self._from is None or not _fits(_ADDRESS, message.address) or not _fits(_ID, message.delivery_id)
                or not _fits(_TAG, message.language)
                or (message.unsubscribe_url is not None and not _fits(_URL, message.unsubscribe_url))):
            return None
        try:
            body = _body(message)
        except (ValueError, UnicodeError):
            return None
        headers = [
            _DATE + _date_text(date or datetime.now(UTC)),
            self._from.rstrip(CRLF),
            b"To: " + message.address.encode(),
            _subject(message.subject),
            b"Message-ID: <" + message.delivery_id.encode() + b"@" + self.domain.encode() + b">",
            b"Auto-Submitted: auto-generated",  # RFC 3834: no vacation replies to us
            b"X-Auto-Response-Suppress: All",
        ]
        if message.unsubscribe_url:  # RFC 8058 one-click
            headers += [b"List-Unsubscribe: <" + message.unsubscribe_url.encode() + b">",
                        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
        headers += [b"X-Tandem-Delivery: " + message.delivery_id.encode(), b"MIME-Version: 1.0",
                    b"Content-Language: " + message.language.encode()]
        return CRLF.join(headers) + CRLF + body


def plain_address(address: str) -> bool:
    """An address that goes on an SMTP command line and in a header as it is: a dot-atom, ASCII."""
    return _fits(_ADDRESS, address)


def dated(mime: bytes, when: datetime) -> bytes:
    """Stored bytes with their Date (the first line) set to `when`."""
    if not mime.startswith(_DATE):
        raise ValueError("not a mail written by MailWriter")
    return _DATE + _date_text(when) + mime[mime.index(CRLF):]


_last_date: tuple[datetime, bytes] | None = None


def _date_text(when: datetime) -> bytes:
    """`format_datetime` (to the second), kept for the last second asked: the mails planned or sent
    in one second share it, and the email package takes some 10 us to write it."""
    global _last_date
    second = when.replace(microsecond=0)
    if _last_date is None or _last_date[0] != second or _last_date[0].tzinfo != second.tzinfo:
        _last_date = (second, format_datetime(second).encode())
    return _last_date[1]


def _fits(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def _body(message: Message) -> bytes:
    """Content-Type and the rest: the parts, nested as `EmailSender.build` nests them."""
    seed = hashlib.blake2b(message.delivery_id.encode(), digest_size=9).hexdigest()
    text = _text("plain", message.body)
    if message.html:
        text = _multipart("alternative", f"=_{seed}_alt", [text, _text("html", message.html)])
    if message.attachment is None:
        return text
    return _multipart("mixed", f"=_{seed}_mix", [text, _attachment(message.attachment)])


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    b = boundary.encode()
    inner = b"".join(b"--" + b + CRLF + part + CRLF for part in parts)
    return (b'Content-Type: multipart/' + subtype.encode() + b'; boundary="' + b + b'"' + CRLF + CRLF
            + inner + b"--" + b + b"--" + CRLF)


def _text(subtype: str, text: str) -> bytes:
    """A text part in MIME's canonical form (CRLF line breaks, ending with one), quoted-printable or
    base64, whichever is shorter (as the email package chooses)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    data = (lines if lines.endswith("\n") else lines + "\n").replace("\n", "\r\n").encode("utf-8")
    qp = binascii.b2a_qp(data, istext=True)  # CRLF kept: the first line break is one
    if len(qp) <= len(data) * 4 // 3 + 8:
        encoding, payload = b"quoted-printable", qp
    else:
        encoding, payload = b"base64", _b64(data)
    return (b'Content-Type: text/' + subtype.encode() + b'; charset="utf-8"' + CRLF
            + b"Content-Transfer-Encoding: " + encoding + CRLF + CRLF + payload)


def _attachment(a: Attachment) -> bytes:
    return _attachment_head(a.mime_type, a.filename) + _b64(a.payload())


@lru_cache(maxsize=256)  # the same few kinds of attachment (an invite, a certificate) in every mail
def _attachment_head(mime_type: str, filename: str) -> bytes:
    """The part's headers and the blank line after them; ValueError for a type no header may hold."""
    maintype, _, rest = mime_type.partition("/")
    subtype, *pairs = [p.strip() for p in rest.split(";")]
    params = dict(p.split("=", 1) for p in pairs if "=" in p)
    params = {k.strip().lower(): v.strip().strip('"') for k, v in params.items()}
    if maintype == "text":
        params.setdefault("charset", "utf-8")
    if not (_fits(_PARAM, maintype) and _fits(_PARAM, subtype)
            and all(_fits(_PARAM, k) and _fits(_PARAM, v) for k, v in params.items())):
        raise ValueError("a content type no header may hold")
    content_type = _with_params(f"Content-Type: {maintype}/{subtype}".lower(),
                                [f'{k}="{v}"' for k, v in params.items()])
    disposition = _with_params("Content-Disposition: attachment", [_filename(filename)])
    return content_type + CRLF + b"Content-Transfer-Encoding: base64" + CRLF + disposition + CRLF + CRLF


def _with_params(head: str, params: list[str]) -> bytes:
    """A header and its parameters, each on a line of its own when one line would be too long."""
    one = "; ".join([head, *params])
    return (one if len(one) <= _LINE else ";\r\n ".join([head, *params])).encode("ascii")


def _filename(name: str) -> str:
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return f'filename="{name}"'
    return "filename*=" + encode_rfc2231(name, "utf-8")  # RFC 2231: percent-encoded UTF-8


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending with CRLF (as `base64.encodebytes` cuts it, with
    CRLF), encoded in one call rather than one per line, and cut by one regular expression rather
    than a slice per line."""
    encoded = binascii.b2a_base64(data, newline=False)
    return CRLF.join(_B64_LINES.findall(encoded)) + CRLF if encoded else b""


_B64_LINES = re.compile(rb".{1,76}", re.DOTALL)


def _subject(subject: str) -> bytes:
    """One line of text, folded at its spaces; encoded words when it is not plain ASCII (or could be
    read as holding some)."""
    subject = " ".join(subject.split())
    if subject.isascii() and subject.isprintable() and "=?" not in subject:
        return _fold("Subject: " + subject).encode()
    return b"Subject: " + Header(subject, _UTF8, header_name="Subject").encode(linesep="\r\n").encode("ascii")


class _Utf8Words(Charset):
    """UTF-8 for encoded words exactly as the email package writes them (the shorter of Q and B
    encoding, a line ended before the character that would not fit), with the fit summed as each
    character comes: the email package encodes the whole line again after every character, which
    took some 150 us for a subject in French or Japanese. A character's width comes from its code
    point (its UTF-8 length; Q's table for ASCII) rather than from encoding it alone."""

    def __init__(self) -> None:
        super().__init__("utf-8")

    def header_encode_lines(self, string: str, maxlengths: Iterator[int]) -> list[str | None]:
        codec = self.output_codec or "us-ascii"
        encoding = self._get_encoder(string.encode(codec))  # type: ignore[attr-defined]
        quoted = encoding is email.quoprimime
        extra = len(self.get_output_charset() or codec) + RFC2047_CHROME_LEN
        lines: list[str | None] = []
        current: list[str] = []
        size = 0  # the line's encoded length (Q) or its octets (B)
        maxlen = next(maxlengths) - extra
        per_octet = 3 if quoted else 1  # Q writes every octet beyond ASCII as =XX
        for character in string:
            code = ord(character)  # its width from its code point: UTF-8 octets, Q's table for ASCII
            if code < 0x80:
                own = _Q_ASCII[code] if quoted else 1
            else:
                own = per_octet * (2 if code < 0x800 else 3 if code < 0x10000 else 4)
            grown = size + own
            if (grown if quoted else -(-grown // 3) * 4) > maxlen:  # B: 4 characters per 3 octets begun
                if not lines and not current:
                    lines.append(None)
                else:
                    lines.append(encoding.header_encode("".join(current).encode(codec), charset=codec))
                current, size = [character], own
                maxlen = next(maxlengths) - extra
            else:
                current.append(character)
                size = grown
        lines.append(encoding.header_encode("".join(current).encode(codec), charset=codec))
        return lines


_UTF8 = _Utf8Words()
_Q_ASCII = tuple(email.quoprimime.header_length(bytes([code])) for code in range(0x80))  # 1, or 3 (=XX)


def _fold(line: str) -> str:
    """Lines of at most `_LINE` characters where spaces allow: a fold is CRLF put before a space, so
    unfolding gives back exactly the text."""
    if len(line) <= _LINE:
        return line
    name, first, *words = line.split(" ")
    out, current = [], f"{name} {first}"  # never a fold right after the header's name
    for word in words:
        if len(current) + 1 + len(word) > _LINE:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}"
    out.append(current)
    return "\r\n".join(out)
