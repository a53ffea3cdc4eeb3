"""How every message opens, closes and ends: the greeting and sign-off of each tone, and the footer
that says why the reader gets it and where to change what they get."""

from __future__ import annotations

from .structure import DIRECT, INDIRECT, msg

GREETING = {
    DIRECT: msg("direct", "Hi {recipient_name},"),
    INDIRECT: msg("indirect", "Dear {recipient_name},"),
}
CLOSING = {
    DIRECT: msg("direct", "Best wishes,\nThe Tandem team"),
    INDIRECT: msg("indirect", "Warm regards,\nThe Tandem team"),
}

# Participants: why this came, and the one place to choose what they receive (List-Unsubscribe too).
WHY_YOU_GET_THIS = msg("any", "You receive this message because you take part in a mentoring program with Tandem.")
PREFERENCES_LINK = msg("any", "Choose which messages you receive")
# The program team's contacts are named in their program's settings; their team changes that.
WHY_THE_TEAM_GETS_THIS = msg("any", "You receive this message as a contact of the program team of {program_name}.")
# The footer's link in the plain text: its label, then the address.
PREFERENCES_LINE = msg("any", "{link_label}: {url}")
