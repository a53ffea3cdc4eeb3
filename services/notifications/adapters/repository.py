"""The delivery log on Postgres (`Delivery` aggregates in and out), the program team's risk alerts and
the digest items waiting for their daily digest.

Works on the caller's connection, inside its transaction (the unit of work). People and pairs come
from the shared replicas (`shared.replica`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import asyncpg
import orjson

from services.notifications.domain.delivery import FAILED, PENDING, SENDING, Delivery
from services.notifications.domain.digest import DigestItem
from services.notifications.domain.outgoing import Attachment

_COLUMNS = (
    "delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type, address, subject, body, "
    "not_before, attachment, status, attempts, last_error, claimed_at, delivered_at, version, recipient_kind, "
    "html, unsubscribe_url, mime"
)
_D_COLUMNS = ", ".join(f"d.{c.strip()}" for c in _COLUMNS.split(","))
# What a claim returns: a mail with its bytes is sent from them alone, so its text, HTML and
# attachment stay in the database (empty here); the rest, and anything without bytes, in full.
_WRITTEN_ONLY = {"body": "''", "html": "''", "attachment": "NULL"}
_CLAIMED_COLUMNS = ", ".join(
    f"CASE WHEN d.mime IS NULL THEN d.{c} ELSE {_WRITTEN_ONLY[c]} END AS {c}" if c in _WRITTEN_ONLY else f"d.{c}"
    for c in (c.strip() for c in _COLUMNS.split(","))
)
# A settled delivery's mail bytes go: they were only kept to be sent (migration 007).
_MIME_KEPT = f"CASE WHEN {{status}} IN ('{PENDING}', '{SENDING}') THEN mime END"


# Where a delivery goes, for the dispatcher's limit per endpoint: every mail to the one mail server;
# a webhook to its URL's host and port (lower-case, without user info), so a slow or oversized
# endpoint holds back only its own messages. Computed here, in the one statement that claims.
MAIL_SERVER = "smtp"
ENDPOINT = (
    f"CASE WHEN channel = 'email' THEN '{MAIL_SERVER}' ELSE coalesce(lower(substring(address FROM "
    "'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#]*@)?([^/?#]*)')), address) END"
)


# Due deliveries locked for `lock_due` and `claim_due` (see there): `chosen` holds them, with their
# endpoint and when they fell due; `chat` the webhooks looked at. Arguments: `_lock_due_args`.
_LOCK_DUE = f"""WITH mail AS MATERIALIZED (
        SELECT delivery_id, not_before, '{MAIL_SERVER}' AS endpoint FROM deliveries
        WHERE status = '{PENDING}' AND channel = 'email' AND not_before <= $1
        ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED
    ), chat AS MATERIALIZED (
        SELECT delivery_id, not_before, {ENDPOINT} AS endpoint FROM deliveries
        WHERE status = '{PENDING}' AND channel <> 'email' AND not_before <= $1
          AND NOT ({ENDPOINT} = ANY($4::text[]))
        ORDER BY not_before LIMIT $3 FOR UPDATE SKIP LOCKED
    ), ranked AS (
        SELECT c.delivery_id, c.not_before, c.endpoint,
               row_number() OVER (PARTITION BY c.endpoint ORDER BY c.not_before, c.delivery_id) AS nth
        FROM chat c
    ), chosen AS (
        SELECT delivery_id, endpoint, not_before AS due FROM mail
        UNION ALL
        SELECT ranked.delivery_id, ranked.endpoint, ranked.not_before FROM ranked
        LEFT JOIN unnest($5::text[], $6::int[]) AS r(endpoint, room) USING (endpoint)
        WHERE ranked.nth <= coalesce(r.room, $7)
        ORDER BY due LIMIT $3
    )"""


def _lock_due_args(now: datetime, limit: int, room: Mapping[str, int], default_room: int) -> tuple:
    mail_room = max(0, min(limit, room.get(MAIL_SERVER, default_room)))
    full = [endpoint for endpoint, free in room.items() if free <= 0]
    return now, mail_room, limit, full, list(room), list(room.values()), default_room


# An event for the outbox as `record` takes it: the id of the delivery it tells of, then the outbox
# row (event id, topic, key, payload, headers) as `UnitOfWork.emit` queues it.
Announcement = tuple[str, str, str, str, bytes, dict]


class Locked(NamedTuple):
    """What `lock_due` found: the deliveries and their endpoints, and whether more may be due."""

    found: list[tuple[Delivery, str]]
    more: bool


def _delivery(r: asyncpg.Record) -> Delivery:
    a = r["attachment"]
    return Delivery(
        delivery_id=r["delivery_id"], recipient_id=r["recipient_id"], channel=r["channel"], template=r["template"],
        language=r["language"], cause_event_id=r["cause_event_id"], cause_type=r["cause_type"],
        address=r["address"], subject=r["subject"], body=r["body"], not_before=r["not_before"],
        attachment=None if a is None else Attachment(a["filename"], a["content"], a["mime_type"], a.get("encoding")),
        status=r["status"], attempts=r["attempts"], last_error=r["last_error"], claimed_at=r["claimed_at"],
        delivered_at=r["delivered_at"], version=r["version"], recipient_kind=r["recipient_kind"],
        html=r["html"], unsubscribe_url=r["unsubscribe_url"], mime=r["mime"],
    )


def _attachment(a: Attachment | None) -> dict | None:
    if a is None:
        return None
    found = {"filename": a.filename, "content": a.content, "mime_type": a.mime_type}
    return found | ({"encoding": a.encoding} if a.encoding else {})


def _attachment_json(a: Attachment | None) -> str | None:
    """`_attachment` as JSON text, for a multi-row insert (cast to jsonb there)."""
    found = _attachment(a)
    return None if found is None else orjson.dumps(found).decode()


class DeliveryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, d: Delivery) -> bool:
        """False when this delivery is already in the log (its cause was redelivered)."""
        placeholders = ", ".join(f"${i}" for i in range(1, 23))
        return await self.conn.fetchval(
            f"INSERT INTO deliveries ({_COLUMNS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING true",
            d.delivery_id, d.recipient_id, d.channel, d.template, d.language, d.cause_event_id, d.cause_type,
            d.address, d.subject, d.body, d.not_before, _attachment(d.attachment), d.status, d.attempts,
            d.last_error, d.claimed_at, d.delivered_at, d.version, d.recipient_kind, d.html, d.unsubscribe_url,
            d.mime,
        ) is not None

    async def add_many(self, deliveries: Sequence[Delivery]) -> None:
        """`add` for many in one statement (a wave's, service_layer/waves.py); those already in the log
        are left as they are, and of two with one id the first is kept, as adding them in turn would."""
        if not deliveries:
            return
        ds = deliveries
        await self.conn.execute(
            f"""INSERT INTO deliveries ({_COLUMNS})
                SELECT u.delivery_id, u.recipient_id, u.channel, u.template, u.language, u.cause_event_id,
                       u.cause_type, u.address, u.subject, u.body, u.not_before, u.attachment::jsonb, u.status,
                       u.attempts, u.last_error, u.claimed_at, u.delivered_at, u.version, u.recipient_kind,
                       u.html, u.unsubscribe_url, u.mime
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[],
                            $14::int[], $15::text[], $16::timestamptz[], $17::timestamptz[], $18::int[],
                            $19::text[], $20::text[], $21::text[], $22::bytea[]) WITH ORDINALITY
                     AS u(delivery_id, recipient_id, channel, template, language, cause_event_id, cause_type,
                          address, subject, body, not_before, attachment, status, attempts, last_error,
                          claimed_at, delivered_at, version, recipient_kind, html, unsubscribe_url, mime, nth)
                ORDER BY u.nth
                ON CONFLICT DO NOTHING""",
            [d.delivery_id for d in ds], [d.recipient_id for d in ds], [d.channel for d in ds],
            [d.template for d in ds], [d.language for d in ds], [d.cause_event_id for d in ds],
            [d.cause_type for d in ds], [d.address for d in ds], [d.subject for d in ds], [d.body for d in ds],
            [d.not_before for d in ds], [_attachment_json(d.attachment) for d in ds], [d.status for d in ds],
            [d.attempts for d in ds], [d.last_error for d in ds], [d.claimed_at for d in ds],
            [d.delivered_at for d in ds], [d.version for d in ds], [d.recipient_kind for d in ds],
            [d.html for d in ds], [d.unsubscribe_url for d in ds], [d.mime for d in ds],
        )

    async def save(self, d: Delivery) -> bool:
        """Store one change the aggregate made, only if nobody changed the row since it was loaded.

        One atomic conditional UPDATE: of N replicas claiming (or recording) the same delivery, exactly
        one succeeds; False for the others. Each change is saved on its own (the claim before the
        send, the outcome after it), so the row must be at the version just before this one."""
        return await self.conn.fetchval(
            f"""UPDATE deliveries SET status = $3, attempts = $4, last_error = $5, claimed_at = $6,
                                      delivered_at = $7, not_before = $8, version = $2,
                                      mime = {_MIME_KEPT.format(status="$3")}
               WHERE delivery_id = $1 AND version = $2 - 1 RETURNING true""",
            d.delivery_id, d.version, d.status, d.attempts, d.last_error, d.claimed_at, d.delivered_at,
            d.not_before,
        ) is not None

    async def get(self, delivery_id: str) -> Delivery | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery_id)
        return None if row is None else _delivery(row)

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose time has come, the longest waiting first."""
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status = $1 AND not_before <= $2 ORDER BY not_before LIMIT $3",
            PENDING, now, limit,
        )
        return [_delivery(r) for r in rows]

    async def lock_due(self, now: datetime, limit: int, *, room: Mapping[str, int],
                       default_room: int) -> Locked:
        """Up to `limit` due deliveries and their endpoint (`ENDPOINT`), the longest waiting first,
        locked until the transaction ends: at most `room[endpoint]` (else `default_room`) for each
        endpoint. Rows another transaction holds are skipped (`SKIP LOCKED`), so N replicas claim
        disjoint sets at once.

        Mail and webhooks are looked for apart, each by its own partial index (migration 008): at
        most the mail server's room of mail, and up to `limit` webhooks to endpoints with room. So a
        backlog of either never hides or slows the other. A webhook endpoint with a little room may
        leave some of the webhooks looked at unclaimed, for the next pass (then it has none, and is
        passed over); `more` says the look for webhooks was cut at `limit` rows, so that more may be
        due for endpoints with room. Mail never needs another pass at once: it got all the room
        there was, or all the mail that is due."""
        rows = await self.conn.fetch(
            f"""{_LOCK_DUE}
                SELECT {_COLUMNS}, chosen.endpoint, (SELECT count(*) FROM chat) AS looked_at
                FROM deliveries JOIN chosen USING (delivery_id) ORDER BY chosen.due""",
            *_lock_due_args(now, limit, room, default_room),
        )
        return Locked([(_delivery(r), r["endpoint"]) for r in rows], bool(rows) and rows[0]["looked_at"] >= limit)

    async def claim_due(self, now: datetime, limit: int, *, room: Mapping[str, int],
                        default_room: int) -> Locked:
        """`lock_due`, each found delivery claimed as `Delivery.claim` claims it (`sending`, one more
        attempt, claimed now, the next version), in one statement: it commits on its own, before any
        of them is sent, and costs one round trip where a transaction around `lock_due` and
        `save_all` costs four. Returns them as claimed."""
        rows = await self.conn.fetch(
            f"""{_LOCK_DUE}, claimed AS (
                    UPDATE deliveries d SET status = '{SENDING}', attempts = d.attempts + 1, claimed_at = $1,
                                            version = d.version + 1
                    FROM chosen WHERE d.delivery_id = chosen.delivery_id AND d.status = '{PENDING}'
                    RETURNING {_CLAIMED_COLUMNS}, chosen.endpoint, chosen.due
                )
                SELECT claimed.*, (SELECT count(*) FROM chat) AS looked_at FROM claimed ORDER BY claimed.due""",
            *_lock_due_args(now, limit, room, default_room),
        )
        return Locked([(_delivery(r), r["endpoint"]) for r in rows], bool(rows) and rows[0]["looked_at"] >= limit)

    async def save_all(self, deliveries: Iterable[Delivery]) -> set[str]:
        """`save` for many in one statement: the ids of those saved (the others had changed since)."""
        return await self.record(deliveries, ())

    async def record(self, deliveries: Iterable[Delivery], announcements: Sequence[Announcement], *,
                     notify: str | None = None) -> set[str]:
        """`save_all`, and for the deliveries it saved their events into the outbox (the rows
        `UnitOfWork.emit` writes, each with its delivery's id), in one statement: atomic on its own,
        so an outcome and its event need no transaction around them (one round trip, not four).
        `notify`: the outbox channel to NOTIFY when events were written (no relay in this process to
        wake directly). The ids of the deliveries saved."""
        ds = list(deliveries)
        if not ds:
            return set()
        told = [list(column) for column in zip(*announcements, strict=True)] if announcements else [[]] * 6
        rows = await self.conn.fetch(
            f"""WITH saved AS (
                    UPDATE deliveries d SET status = u.status, attempts = u.attempts, last_error = u.last_error,
                                            claimed_at = u.claimed_at, delivered_at = u.delivered_at,
                                            not_before = u.not_before, version = u.version,
                                            mime = {_MIME_KEPT.format(status="u.status")}
                    FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[],
                                $7::timestamptz[], $8::timestamptz[])
                         AS u(delivery_id, version, status, attempts, last_error, claimed_at, delivered_at,
                              not_before)
                    WHERE d.delivery_id = u.delivery_id AND d.version = u.version - 1 RETURNING d.delivery_id
                ), told AS (
                    INSERT INTO outbox (event_id, topic, key, payload, headers)
                    SELECT e.event_id, e.topic, e.key, e.payload, e.headers
                    FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::bytea[], $14::jsonb[])
                         WITH ORDINALITY AS e(delivery_id, event_id, topic, key, payload, headers, n)
                    WHERE e.delivery_id IN (SELECT delivery_id FROM saved)
                    ORDER BY e.n
                    RETURNING 1
                )
                SELECT saved.delivery_id,
                       (SELECT pg_notify($15, '') WHERE $15::text IS NOT NULL AND EXISTS (SELECT FROM told))
                FROM saved""",
            [d.delivery_id for d in ds], [d.version for d in ds], [d.status for d in ds], [d.attempts for d in ds],
            [d.last_error for d in ds], [d.claimed_at for d in ds], [d.delivered_at for d in ds],
            [d.not_before for d in ds], *told, notify,
        )
        return {r["delivery_id"] for r in rows}

    async def interrupted(self, claimed_before: datetime, limit: int) -> list[Delivery]:
        """Deliveries still `sending` that were claimed before `claimed_before` (their lease is over)."""
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status = $1 AND claimed_at < $2 ORDER BY claimed_at LIMIT $3",
            SENDING, claimed_before, limit,
        )
        return [_delivery(r) for r in rows]

    async def next_due(self) -> datetime | None:
        return await self.conn.fetchval("SELECT min(not_before) FROM deliveries WHERE status = $1", PENDING)

    async def forget_recipient(self, recipient_id: str, reason: str) -> None:
        """Nothing more goes to this person, and what was kept for them loses its content."""
        await self.conn.execute(
            "UPDATE deliveries SET status = $2, last_error = $3 WHERE recipient_id = $1 AND status IN ($4, $5)",
            recipient_id, FAILED, reason, PENDING, SENDING)
        await self.conn.execute(
            "UPDATE deliveries SET address = 'erased', subject = '', body = '', html = '', attachment = NULL, "
            "mime = NULL WHERE recipient_id = $1", recipient_id)

    async def drop_mail_naming(self, person_id: str, strings: Iterable[str]) -> int:
        """Mail bytes that may name this person lose them, before their name is scrubbed from the text
        the bytes were written from: those to their partners (an invite or a certificate names them,
        folded or encoded), and any whose text holds one of `strings` (as `shared.erasure.scrub` looks
        for them). Such a mail is written again from the scrubbed text when it is sent. Returns how many."""
        patterns = [f"%{_like_escape(s)}%" for s in strings if s]
        return int((await self.conn.execute(
            """UPDATE deliveries SET mime = NULL WHERE mime IS NOT NULL AND (
                   recipient_id IN (SELECT mentee_id FROM pairs WHERE mentor_id = $1
                                    UNION SELECT mentor_id FROM pairs WHERE mentee_id = $1)
                   OR subject ILIKE ANY($2::text[]) OR body ILIKE ANY($2::text[]) OR html ILIKE ANY($2::text[])
                   OR address ILIKE ANY($2::text[]) OR attachment::text ILIKE ANY($2::text[]))""",
            person_id, patterns)).split()[-1])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class HeldAlert:
    """A stretch at risk kept until its program's team has contacts: ids, the score and the reasons'
    codes (`Reason` as JSON), what `domain.program_team.at_risk_alert` needs besides names."""

    relationship_id: str
    program_id: str
    cause_event_id: str  # the relationship.at_risk held: the alert's deliveries derive from it
    score: float
    reason_codes: tuple[dict[str, Any], ...] = ()


class RiskAlertRepository:
    """Relationships the program team has been alerted about in their current stretch at risk."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def open(self, relationship_id: str, *, cause_event_id: str, at: datetime) -> bool:
        """False when this stretch at risk was alerted already."""
        return await self.conn.fetchval(
            "INSERT INTO risk_alerts (relationship_id, cause_event_id, alerted_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true", relationship_id, cause_event_id, at,
        ) is not None

    async def close(self, relationship_id: str) -> None:
        """The relationship is no longer at risk: a later fall is a new change of state (and a held
        alert of this stretch is never sent)."""
        await self.conn.execute("DELETE FROM risk_alerts WHERE relationship_id = $1", relationship_id)

    async def hold(self, alert: HeldAlert, *, at: datetime) -> bool:
        """`open`, for a stretch whose program's team cannot be told yet: kept untold, with what the
        alert needs. False when this stretch at risk was alerted (or held) already."""
        return await self.conn.fetchval(
            "INSERT INTO risk_alerts (relationship_id, cause_event_id, alerted_at, told, program_id, score, "
            "reason_codes) VALUES ($1, $2, $3, false, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
            alert.relationship_id, alert.cause_event_id, at, alert.program_id, alert.score, list(alert.reason_codes),
        ) is not None

    async def lock_program(self, program_id: str) -> None:
        """Serialise holding a program's alert with telling its held ones (both take it, for the
        transaction): otherwise an alert held while the contacts are being saved would see no
        contacts, and the save would not see the held row, and it would wait for the next settings."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.risk_alerts.' || $1, 0))",
            program_id,
        )

    async def held(self, program_id: str) -> list[HeldAlert]:
        """The program's stretches at risk still held, oldest first, locked for this transaction."""
        rows = await self.conn.fetch(
            "SELECT relationship_id, program_id, cause_event_id, score, reason_codes FROM risk_alerts "
            "WHERE program_id = $1 AND NOT told ORDER BY alerted_at, relationship_id FOR UPDATE", program_id)
        return [HeldAlert(r["relationship_id"], r["program_id"], r["cause_event_id"], r["score"],
                          tuple(r["reason_codes"] or ())) for r in rows]

    async def mark_told(self, relationship_ids: Sequence[str], *, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE risk_alerts SET told = true, alerted_at = $2 WHERE relationship_id = ANY($1::text[]) AND NOT told",
            list(relationship_ids), at)

    async def drop_held(self, relationship_ids: Sequence[str]) -> None:
        """Held alerts about pairs that have ended: nothing left for the team to act on."""
        await self.conn.execute(
            "DELETE FROM risk_alerts WHERE relationship_id = ANY($1::text[]) AND NOT told", list(relationship_ids))


def _item(r: asyncpg.Record) -> DigestItem:
    return DigestItem(r["item_id"], r["program_id"], r["kind"], r["occurred_at"], r["details"])


class DigestRepository:
    """Digest items as they arrive, and which program has had its digest for which local day."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, item: DigestItem) -> None:
        await self.conn.execute(
            "INSERT INTO digest_items (program_id, item_id, kind, occurred_at, details) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT DO NOTHING", item.program_id, item.item_id, item.kind, item.occurred_at, item.details)

    async def add_many(self, items: Sequence[DigestItem]) -> None:
        """`add` for many in one statement (a wave's); those already there are left as they are."""
        if not items:
            return
        await self.conn.execute(
            "INSERT INTO digest_items (program_id, item_id, kind, occurred_at, details) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]::jsonb[]) "
            "ON CONFLICT DO NOTHING", [i.program_id for i in items], [i.item_id for i in items],
            [i.kind for i in items], [i.occurred_at for i in items], [orjson.dumps(i.details).decode() for i in items])

    async def claim(self, program_id: str, day: date, *, at: datetime) -> bool:
        """Take this program's digest for this local day; False when it was taken already (by an
        earlier pass or another replica: the unique row makes the second wait, then give way)."""
        return await self.conn.fetchval(
            "INSERT INTO digests (program_id, local_date, composed_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true", program_id, day, at,
        ) is not None

    async def take_items(self, program_id: str, day: date) -> list[DigestItem]:
        """Every item of the program not yet in a digest, now in this day's."""
        rows = await self.conn.fetch(
            "UPDATE digest_items SET local_date = $2 WHERE program_id = $1 AND local_date IS NULL "
            "RETURNING program_id, item_id, kind, occurred_at, details", program_id, day)
        await self.conn.execute("UPDATE digests SET items = $3 WHERE program_id = $1 AND local_date = $2",
                                program_id, day, len(rows))
        return sorted((_item(r) for r in rows), key=lambda i: (i.occurred_at, i.item_id))

    async def taken(self, program_id: str, day: date) -> bool:
        return await self.conn.fetchval(
            "SELECT true FROM digests WHERE program_id = $1 AND local_date = $2", program_id, day) is not None
