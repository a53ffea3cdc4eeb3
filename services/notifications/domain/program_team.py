"""The program team as readers: their ops contacts, and the alerts written for them.

Ops contacts are not participants: they come from the program's settings (`program.configured`),
have no profile, tone or quiet hours, and are known in the delivery log by an opaque id derived
from the program and their address (`contact_id`), so logs and events never carry who they are.
Their address lives only in their delivery rows, as a participant's does.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from services.notifications.i18n.values import Link
from shared.contracts import events as ev
from shared.people import Pair, Participant
from shared.programs import OpsContact, ProgramSettings

from .chat import CHAT_CHANNELS, chat_channel
from . import reasons
from .outgoing import Outgoing

NAMESPACE = uuid.UUID("6f1d3c2a-9b8e-4f70-a5c4-2e9d8b7a6c51")
TONE = "direct"  # the settings give no tone for a contact; the team's own messages are plain and short


def contact_id(program_id: str, contact: OpsContact) -> str:
    """Stable for a contact of a program, and says nothing about them."""
    return "ops-" + uuid.uuid5(NAMESPACE, f"{program_id}/{contact.email.strip().lower()}").hex[:16]


def contact_language(contact: OpsContact) -> str:
    """The contact's locale: their language, its region and script pick the catalogue."""
    return contact.locale


def contact_route(contact: OpsContact) -> tuple[str, str]:
    """(channel, address): a chat contact is reached through their webhook, anyone else by e-mail."""
    if contact.channel in CHAT_CHANNELS and contact.webhook_url:
        return chat_channel(contact.channel, contact.webhook_url), contact.webhook_url
    return "email", contact.email


def dashboard_link(dashboard_url: str, program_id: str, *, state: str | None = None) -> str:
    """The dashboard's page of a program, on the relationships in one state (the feedback service's
    routes: /dashboard/programs/<id>?state=at_risk)."""
    link = f"{dashboard_url.rstrip('/')}/programs/{quote(program_id, safe='')}"
    return link if state is None else f"{link}?state={state}"


def at_risk_alert(data: ev.RelationshipAtRisk, pair: Pair, people: dict[str, Participant],
                  program: ProgramSettings, *, dashboard_url: str) -> list[Outgoing]:
    """One message per ops contact: the pair by name, the reasons (worded from their codes in the
    contact's language), and where to look."""
    mentor, mentee = people[pair.mentor_id], people[pair.mentee_id]
    return [Outgoing(contact_id(program.program_id, contact), "ops_relationship_at_risk", {
        "recipient_name": contact.name, "program_name": program.name, "mentor_name": mentor.name,
        "mentee_name": mentee.name, "score": round(data.score, 1),
        "reasons": reasons.health_findings(list(data.reason_codes), list(data.reasons)),
        "dashboard_link": Link(dashboard_link(dashboard_url, pair.program_id, state="at_risk")),
    }) for contact in program.ops_contacts]
