"""Chat formats: the channel a URL implies, and messages shaped as Slack and Teams show them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifications.domain.chat import chat_channel, payload, slack_message, teams_message


@pytest.mark.parametrize("chosen, url, channel", [
    ("chat", "https://hooks.slack.com/services/T0/B0/xyz", "slack"),
    ("chat", "https://contoso.webhook.office.com/webhookb2/abc", "teams"),
    ("chat", "https://prod-12.westeurope.logic.azure.com/workflows/abc", "teams"),
    ("chat", "https://chat.example/hooks/tandem", "webhook"),
    ("slack", "https://mattermost.example/hooks/abc", "slack"),  # Slack's format, another host
    ("webhook", "https://hooks.slack.com/services/T0/B0/xyz", "webhook"),  # what was chosen wins
])
def test_the_channel_is_the_one_chosen_or_the_one_the_host_implies(chosen, url, channel):
    assert chat_channel(chosen, url) == channel


def test_slack_gets_a_header_and_escaped_sections_within_its_limits():
    body = "Bram & Ana <R&D> met.\n\n" + "x" * 4000
    message = slack_message("A" * 200, body)
    header, *sections = message["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) == 150
    assert sections[0]["text"]["text"].startswith("Bram &amp; Ana &lt;R&amp;D&gt; met.")
    assert all(len(s["text"]["text"]) <= 3000 for s in sections) and len(sections) == 3
    assert message["text"] == "A" * 200


def test_teams_gets_an_adaptive_card_in_the_readers_language():
    card = teams_message("Doel bereikt", "Eerste alinea.\n\nTweede alinea.", "nl")["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["lang"] == "nl"
    assert [b["text"] for b in card["body"]] == ["Doel bereikt", "Eerste alinea.", "Tweede alinea."]


def test_the_generic_body_follows_standard_webhooks():
    body = payload("webhook", message_id="d1", subject="S", text="T", language="ja",
                   at=datetime(2027, 1, 1, tzinfo=UTC))
    assert body == {"type": "notification.sent", "timestamp": "2027-01-01T00:00:00+00:00",
                    "data": {"id": "d1", "subject": "S", "text": "T", "language": "ja"}}
