"""A mail gateway's link scanner, as Microsoft Defender Safe Links, Proofpoint or Gmail run one: every
page link in every mail (plain text, HTML buttons, `List-Unsubscribe`, the calendar invite's `URL`)
is opened with a GET, with no cookie and no form, before anyone reads the mail.

`tandem demo` runs it over every mail of its run once the program is over, and checks that it made
notifications write no command at all (docs/participants.md: a GET never changes anything).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterable
from email.message import EmailMessage

import asyncpg
import httpx

LINK = re.compile(r"https?://[^\s\"'<>]+/a/[A-Za-z0-9_.\-]+(?:\?choice=[A-Za-z_]+)?")
# What participants' pages publish; a GET must put nothing on them.
COMMAND_TOPICS = ("match-responses.v1", "relationship-commands.v1", "meeting-commands.v1",
                  "feedback-submissions.v1", "participants.v1")


def links_in(mail: EmailMessage) -> set[str]:
    found = set(LINK.findall(mail["List-Unsubscribe"] or ""))
    for part in mail.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        if part.get_content_type() == "text/calendar":
            content = re.sub(r"\r?\n[ \t]", "", content)  # RFC 5545 folding
        found |= set(LINK.findall(content.replace("&amp;", "&")))
    return found


async def commands_written(database_url: str) -> int:
    """Commands notifications has ever written for participants (its outbox's rows, and the count of
    those it published: `shared.outbox.events_written`)."""
    from shared.outbox import events_written

    conn = await asyncpg.connect(database_url)
    try:
        topics = [*COMMAND_TOPICS]
        return await conn.fetchval(f"SELECT coalesce(sum(n), 0)::bigint FROM ({events_written('notifications')}) w "
                                   "WHERE topic = ANY($1::text[]) "
                                   "OR split_part(topic, '.', -2) || '.' || split_part(topic, '.', -1) = ANY($1::text[])",
                                   topics)
    finally:
        await conn.close()


async def scan(mails: Iterable[EmailMessage], database_url: str, *, concurrency: int = 16) -> dict:
    """Open every link; the pages shown (by name and status), and how many commands that wrote."""
    urls = sorted({url for mail in mails for url in links_in(mail)})
    before = await commands_written(database_url)
    shown: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=15, headers={"User-Agent": "link-scanner/1.0"}) as client:
        async def open_one(url: str) -> None:
            async with gate:
                answer = await client.get(url)
            page = re.search(r'data-page="([^"]+)"', answer.text)
            shown[f"{page.group(1) if page else '?'} {answer.status_code}"] += 1

        await asyncio.gather(*(open_one(url) for url in urls))
    # A GET that wrote a command would have done so in its own transaction, before answering.
    written = await commands_written(database_url) - before
    return {"links": len(urls), "pages": dict(shown.most_common()), "commands_written": written}
