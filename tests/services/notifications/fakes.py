"""Notifications' tables in memory (the delivery log, risk alerts, digest items), for handler and
loop unit tests. One `NotificationTables` can back several fake units of work, as one database does."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from services.notifications.adapters.repository import MAIL_SERVER, HeldAlert, Locked
from services.notifications.domain.delivery import FAILED, PENDING, SENDING, Delivery
from services.notifications.domain.digest import DigestItem
from services.notifications.domain.forgotten import rebuilt_if_naming
from shared.contracts.events import EventData
from shared.people import Communication, Participant
from tests.support.fakes import (
    FakePairDirectory,
    FakeParticipantDirectory,
    FakeProgramDirectory,
    FakeUnitOfWork,
)


def participant(pid: str, *, name: str | None = None, roles=("mentee",), locale="en-GB", languages=("en",),
                tz="Europe/Amsterdam", region="EMEA", sector="engineering", goals=(), style="direct",
                quiet: tuple[str, str] | None = None, channel="email", webhook_url: str | None = None,
                active: bool = True) -> Participant:
    return Participant(
        participant_id=pid, program_id="prog-1", roles=tuple(roles), name=name or pid.title(),
        email=f"{pid}@example.com", locale=locale, languages=tuple(languages), timezone=tz, country="NL",
        region=region, sector=sector, seniority=3, goals=tuple(goals),
        communication=Communication(channel=channel, style=style, quiet_start=quiet[0] if quiet else None,
                                    quiet_end=quiet[1] if quiet else None, webhook_url=webhook_url),
        active=active,
    )


def endpoint_of(d: Delivery) -> str:
    """adapters/repository.py's ENDPOINT, in Python: the mail server, or a webhook URL's host and port."""
    if d.channel == "email":
        return MAIL_SERVER
    found = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#]*@)?([^/?#]*)", d.address)
    return found[1].lower() if found else d.address


class FakeDeliveries:
    """Keeps copies, as a table would: an aggregate's changes count only once saved."""

    def __init__(self, log: dict[str, Delivery], pairs: FakePairDirectory | None = None) -> None:
        self.log = log
        self.pairs = pairs

    async def add(self, delivery: Delivery) -> bool:
        if delivery.delivery_id in self.log:
            return False
        self.log[delivery.delivery_id] = replace(delivery)
        return True

    async def add_many(self, deliveries) -> None:
        for delivery in deliveries:
            await self.add(delivery)

    async def save(self, delivery: Delivery) -> bool:
        stored = self.log.get(delivery.delivery_id)
        if stored is None or stored.version != delivery.version - 1:
            return False
        self.log[delivery.delivery_id] = replace(delivery)
        return True

    async def get(self, delivery_id: str) -> Delivery | None:
        found = self.log.get(delivery_id)
        return None if found is None else replace(found)

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        due = sorted((d for d in self.log.values() if d.status == PENDING and d.not_before <= now),
                     key=lambda d: d.not_before)
        return [replace(d) for d in due[:limit]]

    async def lock_due(self, now: datetime, limit: int, *, room: Mapping[str, int],
                       default_room: int) -> Locked:
        """As adapters/repository.py: mail up to the mail server's room, and a window of `limit`
        webhooks to endpoints with room, each endpoint's share capped by its room."""
        full = {endpoint for endpoint, free in room.items() if free <= 0}
        due = await self.due(now, len(self.log))
        mail = [(d, MAIL_SERVER) for d in due if d.channel == "email"][:max(0, min(limit, room.get(
            MAIL_SERVER, default_room)))]
        window = [d for d in due if d.channel != "email" and endpoint_of(d) not in full][:limit]
        taken: Counter[str] = Counter()
        chosen = []
        for d in window:
            endpoint = endpoint_of(d)
            if taken[endpoint] < room.get(endpoint, default_room):
                taken[endpoint] += 1
                chosen.append((d, endpoint))
        found = sorted(mail + chosen, key=lambda pair: pair[0].not_before)[:limit]
        return Locked(found, bool(found) and len(window) >= limit)

    async def claim_due(self, now: datetime, limit: int, *, room: Mapping[str, int],
                        default_room: int) -> Locked:
        """As adapters/repository.py: `lock_due`, each claimed by the aggregate and saved."""
        found, more = await self.lock_due(now, limit, room=room, default_room=default_room)
        for delivery, _ in found:
            delivery.claim(now)
        saved = await self.save_all(d for d, _ in found)
        return Locked([(d, endpoint) for d, endpoint in found if d.delivery_id in saved], more)

    async def save_all(self, deliveries: Iterable[Delivery]) -> set[str]:
        return {d.delivery_id for d in deliveries if await self.save(d)}

    async def interrupted(self, claimed_before: datetime, limit: int) -> list[Delivery]:
        stuck = [d for d in self.log.values() if d.status == SENDING and d.claimed_at < claimed_before]
        return [replace(d) for d in stuck[:limit]]

    async def next_due(self) -> datetime | None:
        return min((d.not_before for d in self.log.values() if d.status == PENDING), default=None)

    async def forget_recipient(self, recipient_id: str, reason: str) -> None:
        for key, d in self.log.items():
            if d.recipient_id == recipient_id:
                left = {"status": FAILED, "last_error": reason} if d.status in (PENDING, SENDING) else {}
                self.log[key] = replace(d, address="erased", subject="", body="", html="", attachment=None,
                                        mime=None, **left)

    async def drop_mail_naming(self, person_id: str, strings: Iterable[str]) -> int:
        wanted = [s.casefold() for s in strings if s]
        pairs = self.pairs.pairs.values() if self.pairs is not None else ()
        partners = {p.other(person_id) for p in pairs if p.includes(person_id)}
        dropped = 0
        for key, d in self.log.items():
            text = " ".join([d.subject, d.body, d.html, d.address, d.attachment.content if d.attachment else ""])
            if d.mime is not None and (d.recipient_id in partners or any(w in text.casefold() for w in wanted)):
                self.log[key] = replace(d, mime=None)
                dropped += 1
        return dropped


@dataclass
class NotificationTables:
    log: dict[str, Delivery] = field(default_factory=dict)
    people: FakeParticipantDirectory = field(default_factory=FakeParticipantDirectory)
    programs: FakeProgramDirectory = field(default_factory=FakeProgramDirectory)
    pairs: FakePairDirectory = field(default_factory=FakePairDirectory)
    risk_alerts: dict[str, str] = field(default_factory=dict)  # relationship -> the event alerted for (or held)
    held_alerts: dict[str, HeldAlert] = field(default_factory=dict)  # the stretches held, not told yet
    digest_items: dict[tuple[str, str], DigestItem] = field(default_factory=dict)
    digested: dict[tuple[str, str], date] = field(default_factory=dict)  # item -> the digest that took it
    digests: dict[tuple[str, date], int] = field(default_factory=dict)  # (program, local day) -> items
    subjects: dict[tuple[str, str], object] = field(default_factory=dict)  # (kind, id) -> proposal, meeting, ...
    waiting: dict[str, str] = field(default_factory=dict)  # mentee told no mentor fits -> the event told of


class FakeSubjects:
    """What action links are about (adapters/subjects.py), in memory."""

    def __init__(self, t: NotificationTables) -> None:
        self.t = t

    async def add_proposal(self, p) -> None:
        self.t.subjects.setdefault(("proposal", p.proposal_id), p)

    async def add_proposals(self, ps) -> None:
        for p in ps:
            await self.add_proposal(p)

    async def close_proposal(self, proposal_id: str, status: str) -> None:
        found = self.t.subjects.get(("proposal", proposal_id))
        if found is not None and found.status == "open":
            self.t.subjects[("proposal", proposal_id)] = replace(found, status=status)

    async def proposal(self, proposal_id: str):
        return self.t.subjects.get(("proposal", proposal_id))

    async def save_meeting(self, m) -> None:
        known = self.t.subjects.get(("meeting", m.meeting_id))
        if known is None or known.sequence <= m.sequence:
            self.t.subjects[("meeting", m.meeting_id)] = m

    async def meeting(self, meeting_id: str):
        return self.t.subjects.get(("meeting", meeting_id))

    async def next_meeting(self, relationship_id: str, after):
        planned = [m for k, m in self.t.subjects.items() if k[0] == "meeting" and m.relationship_id == relationship_id
                   and m.status == "planned" and m.starts_at > after]
        return min(planned, key=lambda m: (m.starts_at, m.meeting_id), default=None)

    async def meetings_to_ask_about(self, now, limit: int):
        due = [m for k, m in self.t.subjects.items() if k[0] == "meeting" and m.status == "planned"
               and m.ends_at <= now and ("asked", m.meeting_id) not in self.t.subjects]
        return sorted(due, key=lambda m: m.ends_at)[:limit]

    async def meeting_over(self, meeting_id: str) -> None:
        found = self.t.subjects.get(("meeting", meeting_id))
        if found is not None:
            self.t.subjects[("meeting", meeting_id)] = replace(found, status="over")
        self.t.subjects[("asked", meeting_id)] = True

    async def mark_asked(self, meeting_id: str) -> None:
        self.t.subjects[("asked", meeting_id)] = True

    async def next_meeting_end(self):
        return min((m.ends_at for k, m in self.t.subjects.items() if k[0] == "meeting" and m.status == "planned"
                    and ("asked", m.meeting_id) not in self.t.subjects), default=None)

    async def add_request(self, r) -> None:
        self.t.subjects.setdefault(("request", r.request_id), r)

    async def request(self, request_id: str):
        return self.t.subjects.get(("request", request_id))

    async def record_agreement(self, a) -> None:
        known = self.t.subjects.get(("agreement", a.relationship_id))
        if known is None or known.recorded_at <= a.recorded_at:
            self.t.subjects[("agreement", a.relationship_id)] = a

    async def agreement(self, relationship_id: str):
        return self.t.subjects.get(("agreement", relationship_id))

    async def forget_agreements_of(self, participant_id: str) -> None:
        for key, a in list(self.t.subjects.items()):
            if key[0] == "agreement" and a.participant_id == participant_id:
                del self.t.subjects[key]

    async def record_act(self, act):
        key = ("act", act.binding)
        if key in self.t.subjects:
            return self.t.subjects[key]
        self.t.subjects[key] = act
        return None

    async def act(self, binding: str):
        return self.t.subjects.get(("act", binding))


class FakeWaitingMentees:
    """adapters/waiting.py in memory."""

    def __init__(self, t: NotificationTables) -> None:
        self.t = t

    async def tell(self, mentee_id: str, program_id: str, *, cause_event_id: str, at: datetime) -> bool:
        if mentee_id in self.t.waiting:
            return False
        self.t.waiting[mentee_id] = cause_event_id
        return True

    async def no_longer_waiting(self, mentee_ids) -> None:
        for mentee_id in mentee_ids:
            self.t.waiting.pop(mentee_id, None)


class FakeRiskAlerts:
    def __init__(self, t: NotificationTables) -> None:
        self.t = t

    async def open(self, relationship_id: str, *, cause_event_id: str, at: datetime) -> bool:
        if relationship_id in self.t.risk_alerts:
            return False
        self.t.risk_alerts[relationship_id] = cause_event_id
        return True

    async def close(self, relationship_id: str) -> None:
        self.t.risk_alerts.pop(relationship_id, None)
        self.t.held_alerts.pop(relationship_id, None)

    async def hold(self, alert: HeldAlert, *, at: datetime) -> bool:
        if alert.relationship_id in self.t.risk_alerts:
            return False
        self.t.risk_alerts[alert.relationship_id] = alert.cause_event_id
        self.t.held_alerts[alert.relationship_id] = alert
        return True

    async def lock_program(self, program_id: str) -> None:
        """One process, one transaction at a time: nothing to serialise."""

    async def held(self, program_id: str) -> list[HeldAlert]:
        return [a for a in self.t.held_alerts.values() if a.program_id == program_id]

    async def mark_told(self, relationship_ids, *, at: datetime) -> None:
        for rid in relationship_ids:
            self.t.held_alerts.pop(rid, None)

    async def drop_held(self, relationship_ids) -> None:
        for rid in relationship_ids:
            if self.t.held_alerts.pop(rid, None) is not None:
                self.t.risk_alerts.pop(rid, None)


class FakeDigests:
    def __init__(self, t: NotificationTables) -> None:
        self.t = t

    async def add(self, item: DigestItem) -> None:
        self.t.digest_items.setdefault((item.program_id, item.item_id), item)

    async def claim(self, program_id: str, day: date, *, at: datetime) -> bool:
        if (program_id, day) in self.t.digests:
            return False
        self.t.digests[(program_id, day)] = 0
        return True

    async def take_items(self, program_id: str, day: date) -> list[DigestItem]:
        taken = [i for key, i in self.t.digest_items.items() if key[0] == program_id and key not in self.t.digested]
        for item in taken:
            self.t.digested[(item.program_id, item.item_id)] = day
        self.t.digests[(program_id, day)] = len(taken)
        return sorted(taken, key=lambda i: (i.occurred_at, i.item_id))

    async def taken(self, program_id: str, day: date) -> bool:
        return (program_id, day) in self.t.digests

    def waiting(self, program_id: str) -> list[DigestItem]:
        return [i for key, i in self.t.digest_items.items() if key[0] == program_id and key not in self.t.digested]


class FakeStoredInvites:
    """adapters/stored_invites.py over the fake delivery log."""

    def __init__(self, t: NotificationTables) -> None:
        self.t = t

    async def rebuild_naming(self, person: Participant) -> int:
        pid = person.participant_id
        partners = {p.other(pid) for p in self.t.pairs.pairs.values() if p.includes(pid)}
        changed = 0
        for did, d in list(self.t.log.items()):
            a = d.attachment
            if d.recipient_id in partners and a is not None and a.mime_type.startswith("text/calendar"):
                content = rebuilt_if_naming(a.content, d.address, person.personal_strings())
                if content != a.content:
                    self.t.log[did] = replace(d, attachment=None if content is None else replace(a, content=content),
                                              mime=None)
                    changed += 1
        return changed


class FakeNotificationsUnitOfWork(FakeUnitOfWork):
    def __init__(self, clock, log: dict[str, Delivery] | None = None, *,
                 tables: NotificationTables | None = None) -> None:
        super().__init__(clock)
        self.tables = tables or NotificationTables(log={} if log is None else log)
        self.delivery_log: dict[str, Delivery] = self.tables.log
        self.deliveries = FakeDeliveries(self.delivery_log, self.tables.pairs)
        self.participants = self.tables.people
        self.program_settings = self.tables.programs
        self.pairs = self.tables.pairs
        self.risk_alerts = FakeRiskAlerts(self.tables)
        self.digests = FakeDigests(self.tables)
        self.subjects = FakeSubjects(self.tables)
        self.invites = FakeStoredInvites(self.tables)
        self.waiting = FakeWaitingMentees(self.tables)

    async def record_outcomes(self, outcomes) -> set[str]:
        saved = await self.deliveries.save_all(d for d, _ in outcomes)
        for delivery, event in outcomes:
            if event is not None and delivery.delivery_id in saved:
                self.emit(event)
        return saved

    def for_(self, recipient_id: str) -> list[Delivery]:
        return [d for d in self.delivery_log.values() if d.recipient_id == recipient_id]


class FakeDatabase:
    """What the delivery loop sees of the database: transactions over one shared delivery log.

    Events emitted in a transaction are `published` only if it ends without an error; `fail_next`
    makes the next saves fail as if the database were away."""

    def __init__(self, clock, tables: NotificationTables | None = None) -> None:
        self.clock = clock
        self.tables = tables or NotificationTables()
        self.log: dict[str, Delivery] = self.tables.log
        self.published: list[EventData] = []
        self.fail_next = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeNotificationsUnitOfWork]:
        uow = FakeNotificationsUnitOfWork(self.clock, tables=self.tables)
        save = uow.deliveries.save

        async def save_unless_away(delivery: Delivery) -> bool:
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionResetError("database away")
            return await save(delivery)

        uow.deliveries.save = save_unless_away  # type: ignore[method-assign]
        yield uow
        self.published += uow.emitted

    def of_type(self, model: type[EventData]) -> list[EventData]:
        return [e for e in self.published if isinstance(e, model)]
