"""Reading the participants' mails the way a person (or their mail client) does: the message a
delivery produced, the action links in its plain text ("Label: URL" lines, in the order of the
buttons), and every link a scanner would open."""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

from tandem.local.mailbox import read_mailbox

_LINE = re.compile(r"^(?P<label>\S[^\n]*?): (?P<url>https?://\S+/a/\S+)\s*$", re.MULTILINE)


def by_delivery(mail_dir: Path, delivery_id: str) -> EmailMessage | None:
    """The mail a delivery (`notification.delivered`'s notification_id) put into the mailbox."""
    for mail in read_mailbox(mail_dir):
        if mail["X-Tandem-Delivery"] == delivery_id:
            return mail
    return None


def to(mail_dir: Path, *addresses: str) -> list[EmailMessage]:
    """Every mail to any of these addresses, oldest first."""
    return [m for m in read_mailbox(mail_dir) if any(a in (m["To"] or "") for a in addresses)]


def plain_text(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def action_links(mail: EmailMessage) -> list[tuple[str, str]]:
    """(label, url) of each action line of the plain text, buttons first, then the footer's."""
    return [(m["label"].strip(), m["url"]) for m in _LINE.finditer(plain_text(mail))]


def buttons(mail: EmailMessage) -> list[tuple[str, str]]:
    """The action lines above the signature separator ("-- "): what the message asks its reader to do."""
    return [(m["label"].strip(), m["url"]) for m in _LINE.finditer(plain_text(mail).split("\n-- \n")[0])]


def footer_links(mail: EmailMessage) -> list[tuple[str, str]]:
    """The action lines below the separator: the reader's preferences, and a one-click stop."""
    text = plain_text(mail)
    return [] if "\n-- \n" not in text else [(m["label"].strip(), m["url"])
                                              for m in _LINE.finditer(text.split("\n-- \n", 1)[1])]


def link_with(mail: EmailMessage, needle: str) -> str:
    """The one action link whose address contains `needle` (e.g. "choice=accept")."""
    found = [url for _, url in action_links(mail) if needle in url]
    assert len(found) == 1, f"expected one link with {needle!r} in {mail['Subject']!r}: {action_links(mail)}"
    return found[0]


def list_unsubscribe(mail: EmailMessage) -> str | None:
    """RFC 8058: the https/http address of `List-Unsubscribe`, when the mail may be posted to it."""
    header, post = mail["List-Unsubscribe"], mail["List-Unsubscribe-Post"]
    if not header or (post or "").strip() != "List-Unsubscribe=One-Click":
        return None
    found = re.search(r"<(https?://[^>]+)>", header)
    return found.group(1) if found else None


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def every_page_link(mail: EmailMessage, base: str) -> set[str]:
    """Every address under `base`/a/ the mail holds: plain text, HTML buttons, List-Unsubscribe, and
    the calendar invite's description; what a link-scanning mail gateway would open."""
    found: set[str] = set()
    pattern = re.compile(re.escape(base.rstrip("/")) + r"/a/[A-Za-z0-9_.\-]+(?:\?[^\s\"'<>]*)?")
    for part in mail.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        if part.get_content_type() == "text/html":
            parser = _Hrefs()
            parser.feed(content)
            content = "\n".join(parser.hrefs)
        elif part.get_content_type() == "text/calendar":
            content = re.sub(r"\r?\n[ \t]", "", content).replace("\\n", "\n").replace("\\,", ",")
        found.update(pattern.findall(content))
    unsubscribe = list_unsubscribe(mail)
    if unsubscribe:
        found.add(unsubscribe)
    return {u.replace("&amp;", "&") for u in found}
