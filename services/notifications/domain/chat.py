"""Chat messages as each kind of endpoint expects them.

| channel   | for                                                             | body                          |
|-----------|-----------------------------------------------------------------|-------------------------------|
| `webhook` | any receiver that verifies Standard Webhooks signatures         | `{type, timestamp, data}`     |
| `slack`   | Slack incoming webhooks (and Mattermost's, Rocket.Chat's: they  | `{text, blocks}`              |
|           | take Slack's format)                                            |                               |
| `teams`   | Microsoft Teams: a Workflows "when a Teams webhook request is   | a message with an Adaptive    |
|           | received" flow, or an incoming webhook                          | Card                          |

A person or contact who chose `chat` gets the format their URL's host says (hooks.slack.com is Slack,
*.webhook.office.com and Power Automate hosts are Teams), else the generic, signed one. Every kind is
signed all the same (adapters/senders.py): a receiver that does not check signatures ignores the
headers.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

WEBHOOK, SLACK, TEAMS = "webhook", "slack", "teams"
CHAT_CHANNELS = ("chat", WEBHOOK, SLACK, TEAMS)  # what a profile or contact may choose besides e-mail

_SLACK_HOSTS = ("hooks.slack.com",)
_TEAMS_HOST_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com",
                        ".powerautomate.com")

# Slack's own limits (block kit): a header's text, a section's text, blocks in a message.
_SLACK_HEADER_MAX, _SLACK_SECTION_MAX, _SLACK_BLOCKS_MAX = 150, 3000, 50


def chat_channel(chosen: str, url: str) -> str:
    """The wire format for a chat channel: the one chosen, or for `chat` the one the host implies."""
    if chosen in (WEBHOOK, SLACK, TEAMS):
        return chosen
    host = (urlsplit(url).hostname or "").lower()
    if host in _SLACK_HOSTS:
        return SLACK
    if host.endswith(_TEAMS_HOST_SUFFIXES):
        return TEAMS
    return WEBHOOK


def payload(channel: str, *, message_id: str, subject: str, text: str, language: str, at: datetime) -> dict:
    """The JSON body of one message for `channel` (one of WEBHOOK, SLACK, TEAMS)."""
    if channel == SLACK:
        return slack_message(subject, text)
    if channel == TEAMS:
        return teams_message(subject, text, language)
    # Standard Webhooks' recommended shape: what happened, when, and its data.
    return {"type": "notification.sent", "timestamp": at.isoformat(),
            "data": {"id": message_id, "subject": subject, "text": text, "language": language}}


def slack_message(subject: str, text: str) -> dict:
    """`text` is the notification fallback (and what screen readers say); the blocks are shown."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": _cut(subject, _SLACK_HEADER_MAX),
                                                      "emoji": False}}]
    for chunk in _chunks(_slack_escape(text), _SLACK_SECTION_MAX)[:_SLACK_BLOCKS_MAX - 1]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return {"text": _slack_escape(subject), "blocks": blocks}


def teams_message(subject: str, text: str, language: str) -> dict:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "lang": language,
        "body": [
            {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            *({"type": "TextBlock", "text": part, "wrap": True} for part in _paragraphs(text)),
        ],
        "msteams": {"width": "Full"},
    }
    return {"type": "message", "summary": subject,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def _slack_escape(text: str) -> str:
    # The three characters Slack's mrkdwn gives meaning to; a name like "R&D <Team>" stays as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()] or [""]


def _chunks(text: str, size: int) -> list[str]:
    """Paragraphs packed into pieces of at most `size` characters; a longer paragraph is cut."""
    pieces: list[str] = []
    for paragraph in _paragraphs(text):
        while len(paragraph) > size:
            pieces.append(paragraph[:size])
            paragraph = paragraph[size:]
        if pieces and len(pieces[-1]) + 2 + len(paragraph) <= size:
            pieces[-1] += "\n\n" + paragraph
        else:
            pieces.append(paragraph)
    return pieces


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"
