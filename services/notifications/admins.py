"""The deployment's own administrators (`tandem-admin`): who hears of dead letters that name no program.

A dead letter whose event names a program goes into that program's digest; one that names none
(bytes that were not an event, an event without a program) concerns no program team, so it goes
only into the administrators' digest, from `TANDEM_ADMIN_CONTACTS`:

    TANDEM_ADMIN_CONTACTS="ops@example.com, ana@example.org:pt-BR"

a comma-separated list of e-mail addresses, each optionally followed by `:` and the locale its
digest is written in (English otherwise). Unset, such letters are counted
(`tandem_dead_letters_without_program_total`) and logged by id, and `tandem dlq list` shows them.
"""

from __future__ import annotations

import re

from prometheus_client import Counter
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.programs import OpsContact

# The digest key of the administrators' items (digest_items.program_id): reserved, no program's.
ADMINS = "tandem-admin"

_EMAIL = re.compile(r"^[^@\s:,]+@[^@\s:,]+\.[^@\s:,]+$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")

UNROUTED = Counter("tandem_dead_letters_without_program_total",
                   "Dead letters naming no program, while no TANDEM_ADMIN_CONTACTS is set: only counted, logged "
                   "by id and listed by `tandem dlq list`.", ["topic"])


def parse_contacts(text: str) -> tuple[OpsContact, ...]:
    contacts = []
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        address, _, locale = entry.partition(":")
        address, locale = address.strip(), locale.strip() or "en"
        # The address itself is not repeated: an error message ends up in logs.
        if not _EMAIL.match(address):
            raise ValueError(f"entry {position} is not an e-mail address (address or address:locale)")
        if not _LOCALE.match(locale):
            raise ValueError(f"entry {position} has no valid locale after ':' (e.g. en, pt-BR)")
        contacts.append(OpsContact(name=address.split("@")[0], email=address, locale=locale))
    return tuple(contacts)


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore", frozen=True, hide_input_in_errors=True)

    admin_contacts: str = ""

    @field_validator("admin_contacts")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        parse_contacts(value)  # a bad list stops the service at start-up, with the entry's position
        return value

    @property
    def contacts(self) -> tuple[OpsContact, ...]:
        return parse_contacts(self.admin_contacts)
