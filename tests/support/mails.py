"""Reading the participants' mails the way a person (or their mail client) does: the message a
delivery produced, the action links in its plain text ("Label: URL" lines, in the order of the
buttons), and every link a scanner would open."""

from __future__ import annotations

import re
from email.message import EmailMessage
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


def every_page_link(mail: EmailMessage, base: str) -> set[str]:
    """Every address under `base`/a/ the mail holds: plain text, HTML buttons, List-Unsubscribe, and
    the calendar invite; what a link-scanning mail gateway would open, read as `tandem demo`'s
    scanner reads it (tandem/link_scanner.py)."""
    from tandem.link_scanner import links_in

    prefix = base.rstrip("/") + "/a/"
    return {url for url in links_in(mail) if url.startswith(prefix)}
