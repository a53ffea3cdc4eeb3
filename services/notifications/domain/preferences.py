"""Where a participant chooses which messages they get: the link in every mail's footer and its
`List-Unsubscribe` header (one click, RFC 8058).

The link carries a signed token rather than the bare participant id, so it cannot be guessed for
someone else: `<base64url id>.<base64url HMAC-SHA256 of the id>`. The portal serving the page
checks it with `participant_of` and the same secret (`TANDEM_PREFERENCES_SECRET`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _signature(participant_id: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), participant_id.encode(), hashlib.sha256).digest())


def token(participant_id: str, secret: str) -> str:
    return f"{_b64(participant_id.encode())}.{_signature(participant_id, secret)}"


def participant_of(signed: str, secret: str) -> str | None:
    """The participant a token was made for, or None when it was not made with this secret."""
    encoded, _, signature = signed.partition(".")
    try:
        participant_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return participant_id if hmac.compare_digest(signature, _signature(participant_id, secret)) else None


@dataclass(frozen=True)
class PreferenceLinks:
    """`url` names `{token}` (or `{participant_id}`, for a portal that authenticates on its own)."""

    url: str
    secret: str

    def for_participant(self, participant_id: str) -> str:
        return self.url.format(token=token(participant_id, self.secret), participant_id=quote(participant_id, safe=""))
