"""Action links: what a message asks its reader to do, as a signed, expiring, single-purpose token.

A link is bound to one person, one subject (a proposal, relationship, meeting, feedback request, or
the person themself for their preferences) and one action. The token is signed with itsdangerous
(HMAC-SHA256) under the newest of the deployment's keys; every listed key is accepted, so a key is
retired by adding a new one last, waiting until links signed with the old one have expired, and
then removing it.

Opening a link changes nothing (mail security scanners open every link): the page shows the choice
already made and one button, and only that button's POST acts. The command a POST publishes has an
id derived from the token's binding and the choice (`command_id`), so a double click, or the same
form posted twice, is applied once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import want_bytes
from itsdangerous.signer import HMACAlgorithm

# (subject kind, action): what a link may be for.
PROPOSAL_ANSWER = ("proposal", "answer")
AGREEMENT = ("relationship", "agreement")
END_EARLY = ("relationship", "end")
MEETING_CHANGE = ("meeting", "change")  # "I can't make it": another offered time, or cancel
ATTENDANCE = ("meeting", "attendance")  # after the meeting: it happened, or it did not
FEEDBACK = ("request", "feedback")
PREFERENCES = ("participant", "preferences")
UNSUBSCRIBE = ("participant", "unsubscribe")  # one kind of message; RFC 8058 one-click
KINDS = frozenset({PROPOSAL_ANSWER, AGREEMENT, END_EARLY, MEETING_CHANGE, ATTENDANCE, FEEDBACK, PREFERENCES,
                   UNSUBSCRIBE})

NAMESPACE = uuid.UUID("6c1f6b1e-3f1d-4d0e-9b55-7a1d2c3e4f50")
_SALT = "tandem.action-link.v1"
# How long a link without a natural end (preferences, an agreement) stays valid.
LONG_LIVED = timedelta(days=400)


class LinkRefused(Exception):
    """A token that is not ours (forged, garbled, signed with a retired key) or not for this use."""


class LinkExpired(Exception):
    """A genuine token whose time has passed (`link` says whose, so the page can be in their language)."""

    def __init__(self, link: ActionLink) -> None:
        super().__init__(f"expired at {link.expires_at.isoformat()}")
        self.link = link


@dataclass(frozen=True)
class ActionLink:
    """What a token says: who may do what to which subject, until when (`variant` narrows the action,
    e.g. which kind of message an unsubscribe link stops)."""

    participant_id: str
    subject_kind: str
    subject_id: str
    action: str
    expires_at: datetime
    variant: str = ""

    @property
    def kind(self) -> tuple[str, str]:
        return self.subject_kind, self.action

    @property
    def binding(self) -> str:
        """Who, what and which action, without the expiry: the same binding is the same act."""
        return "/".join((self.participant_id, self.subject_kind, self.subject_id, self.action, self.variant))

    def command_id(self, choice: str) -> str:
        """The id of the command a choice publishes: a second click yields the same id, applied once."""
        return str(uuid.uuid5(NAMESPACE, f"{self.binding}/{choice}"))


class _KeptKeySigner(Signer):
    """A signer that derives its signing key once: the key depends only on the secret and the salt."""

    _derived: bytes | None = None

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is not None:
            return super().derive_key(secret_key)
        if self._derived is None:
            self._derived = super().derive_key()
        return self._derived


class _Serializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer with its signer kept: a new signer for each token, and its key
    derived again, were about a third of a token's CPU. The tokens are the same."""

    _kept: Signer | None = None

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None and want_bytes(salt) != self.salt:
            return super().make_signer(salt)
        if self._kept is None:
            self._kept = super().make_signer()
        return self._kept


class _CompactJson:
    """The JSON itsdangerous writes (compact, not ASCII-escaped), with its encoder made once rather
    than for each token: the same text."""

    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def dumps(cls, obj: object) -> str:
        return cls._encoder.encode(obj)

    @staticmethod
    def loads(payload: str | bytes) -> object:
        return json.loads(payload)


class _Sha256(HMACAlgorithm):
    """HMAC-SHA256 in one call (`hmac.digest`): the same signature as `hmac.new(...).digest()`."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha256")


class LinkSigner:
    """Signs and reads tokens. `keys`: every key accepted, the newest (which signs) last."""

    def __init__(self, keys: list[str] | tuple[str, ...]) -> None:
        keys = [k for k in keys if k]
        if not keys:
            raise ValueError("action links need at least one signing key")
        self._serializer = _Serializer(list(keys), salt=_SALT, serializer=_CompactJson, signer=_KeptKeySigner,
                                       signer_kwargs={"digest_method": hashlib.sha256, "algorithm": _Sha256()})
        signer = self._serializer.make_signer()
        self._key, self._sep = signer.derive_key(), signer.sep  # the newest key's, which signs

    @classmethod
    def from_setting(cls, value: str) -> LinkSigner:
        """Keys from one setting: comma-separated, the newest last."""
        return cls([k.strip() for k in value.split(",")])

    def token(self, link: ActionLink) -> str:
        if link.kind not in KINDS:
            raise ValueError(f"no such action link: {link.kind}")
        return self._dumps([link.participant_id, link.subject_kind, link.subject_id, link.action,
                            int(link.expires_at.timestamp()), link.variant])

    def _dumps(self, obj: list) -> str:
        """`URLSafeSerializer.dumps` in one function: its token (the JSON, compressed by zlib when that
        is shorter, URL-safe base64, and the HMAC of that), without the dozen calls between its layers,
        which were about half of a token's CPU. Read back by the serializer itself. The one difference:
        the zlib stream is made with a small window and little memory (`_compressed`)."""
        payload = _CompactJson.dumps(obj).encode()
        compressed = _compressed(payload)
        if len(compressed) < len(payload) - 1:
            body = b"." + _base64(compressed)
        else:
            body = _base64(payload)
        return (body + self._sep + _base64(hmac.digest(self._key, body, "sha256"))).decode()

    def read(self, token: str, now: datetime) -> ActionLink:
        try:
            person, kind, subject, action, expires, variant = self._serializer.loads(token)
            link = ActionLink(str(person), str(kind), str(subject), str(action),
                              datetime.fromtimestamp(int(expires), tz=timezone.utc), str(variant))
        except (BadSignature, ValueError, TypeError) as exc:
            raise LinkRefused("not a valid action link") from exc
        if link.kind not in KINDS:
            raise LinkRefused("not a valid action link")
        if link.expires_at <= now:
            raise LinkExpired(link)
        return link


def _compressed(payload: bytes) -> bytes:
    """A zlib stream (what itsdangerous reads: `zlib.decompress` takes any window size) with a 4 KiB
    window and the smallest memory level. `zlib.compress`'s defaults set up about 256 KiB of state for
    every call, which for a payload of about 120 bytes took 15 to 70 µs of a token's CPU, against 4:
    the same length for link payloads (2,000 random ones compared), since they fit in the window."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 12, 1)
    return deflate.compress(payload) + deflate.flush()


def _base64(data: bytes) -> bytes:
    """itsdangerous' `base64_encode`: URL-safe, without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass(frozen=True)
class LinkMaker:
    """Makes a message's links absolute: `{base_url}/a/{token}`, with the choice already made."""

    signer: LinkSigner
    base_url: str

    def url(self, link: ActionLink, choice: str | None = None) -> str:
        url = f"{self.base_url.rstrip('/')}/a/{self.signer.token(link)}"
        return f"{url}?choice={quote(choice, safe='')}" if choice else url
