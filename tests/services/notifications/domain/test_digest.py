"""The program team's daily digest, as composed from its items."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.notifications.domain import digest
from services.notifications.domain.messages import template
from services.notifications.domain.render import render
from services.notifications.i18n.catalogues import language_for
from shared.dead_letters import DeadLetter
from tests.services.notifications.samples import PROGRAM

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def copy(offset: int, service: str, original: str | None) -> digest.DigestItem:
    return digest.DigestItem.dead_letter(DeadLetter(
        topic="participants.v1", partition=0, offset=offset, reason="invalid participant.onboarded data: email",
        error_type="InvalidMessage", service=service, failed_at=NOW, event_type="participant.onboarded",
        program_id=PROGRAM.program_id, original=original), PROGRAM.program_id, at=NOW)


def test_a_bad_message_every_service_refused_is_told_once():
    """Four services read participants.v1 and each dead-letters its own copy of a message none can
    take: the team hears of one bad message, and of two when two were sent."""
    services = ("matching", "scheduling", "notifications", "feedback")
    items = [copy(n, s, "participants.v1/2/7") for n, s in enumerate(services)]
    items += [copy(10 + n, s, "participants.v1/1/3") for n, s in enumerate(services)]
    items.append(copy(20, "feedback", None))  # its headers do not say: it stands for itself
    (to_sanne,) = digest.compose(items, PROGRAM, date(2027, 1, 5), {}, dashboard_url="http://x")
    assert to_sanne.context["dead_letter_count"] == 3
    mail = render(template(to_sanne.template), language_for("en"), "direct", to_sanne.context)
    assert "participants.v1 participant.onboarded (3x): invalid participant.onboarded data: email" in mail.text
