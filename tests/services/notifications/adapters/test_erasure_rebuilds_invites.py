"""Notifications' part of an erasure on a real PostgreSQL: the invites their partner got are
rebuilt without them (not text-replaced), whatever folding and escaping did to their name, the
messages kept for them lose their content and attachments, and other pairs' invites stay whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.repository import DeliveryRepository
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.outgoing import Attachment
from services.notifications.entrypoints.app import MIGRATIONS
from services.notifications.service_layer import erasure
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from services.scheduling.domain.invites import build_invite, meeting_for_pair
from services.scheduling.domain.outcomes import Slot
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.db import create_pool, migrate
from shared.people import Pair, Participant
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
NAME, EMAIL = "Cavalcanti, Maria Fernanda Oliveira de Albuquerque", "maria.cavalcanti@example.com"


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "notifications", size=2)
    await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    yield pool
    await pool.close()


def person(pid: str, name: str, email: str) -> Participant:
    return Participant.from_profile(onboarded(pid=pid)).with_(name=name, email=email)


def invite_to(reader: Participant, mentor: Participant, mentee: Participant, did: str, status: str) -> Delivery:
    meeting = meeting_for_pair(f"m-{did}", Slot(NOW, NOW + timedelta(hours=1)), mentor, mentee, occurrence=1)
    return Delivery(delivery_id=did, recipient_id=reader.participant_id, channel="email",
                    template="meeting_scheduled", language="en", cause_event_id=f"e-{did}",
                    cause_type="meeting.scheduled", address=reader.email, subject=f"Meeting with {mentor.name}",
                    body=f"Your meeting with {mentor.name}", not_before=NOW, status=status,
                    attachment=Attachment("invite.ics", build_invite(meeting, stamp=NOW), "text/calendar"))


def uow_on(conn) -> NotificationsUnitOfWork:
    return NotificationsUnitOfWork(conn, source="/test", clock=ProgramClock(start=NOW, speed=1.0),
                                   schema="notifications")


async def test_an_erasure_rebuilds_the_partners_invites_and_clears_their_own(pool):
    maria, ana, other = person("maria", NAME, EMAIL), person("ana", "Ana Souza", "ana@example.com"), \
        person("bram", "Bram de Vries", "bram@example.com")
    async with pool.acquire() as conn:
        uow = uow_on(conn)
        for p in (maria, ana, other):
            await uow.participants.save(p)
        await uow.pairs.add(Pair("r1", "prog-1", "maria", "ana", NOW))
        await uow.pairs.add(Pair("r2", "prog-1", "bram", "ana", NOW))
        deliveries = DeliveryRepository(conn)
        for d in (invite_to(ana, maria, ana, "to-ana-sent", "delivered"),
                  invite_to(ana, maria, ana, "to-ana-pending", "pending"),
                  invite_to(maria, maria, ana, "to-maria", "pending"),
                  invite_to(ana, other, ana, "other-pair", "delivered")):
            assert await deliveries.add(d)
        untouched = (await deliveries.get("other-pair")).attachment.content
        async with conn.transaction():
            await erasure.on_participant_erased(
                ev.ParticipantErased(participant_id="maria", program_id="prog-1", requested_at=NOW), uow, None)

        for did in ("to-ana-sent", "to-ana-pending"):
            kept = await deliveries.get(did)
            ics = kept.attachment.content
            flat = ics.replace("\r\n ", "").replace("\\,", ",").casefold()
            for part in [NAME, EMAIL, "Cavalcanti", "Maria", "Fernanda", "Oliveira", "Albuquerque"]:
                assert part.casefold() not in flat, (did, part)
            assert "mailto:ana@example.com" in flat and "uid:" in flat
            assert NAME not in kept.subject + kept.body  # the text around it: the shared scrub
        assert (await deliveries.get("to-ana-pending")).status == "pending"  # still goes out, without her
        theirs = await deliveries.get("to-maria")
        assert theirs.status == "failed" and theirs.attachment is None and theirs.body == "" and theirs.address == "erased"
        assert (await deliveries.get("other-pair")).attachment.content == untouched
        # Nothing else names her anywhere in the schema, in any column cast to text.
        for table in ("deliveries", "participants", "pairs"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table} t WHERE t::text ILIKE '%Fernanda%' "
                                       "OR t::text ILIKE '%cavalcanti%'") == 0


async def test_an_agreement_about_a_forgotten_person_is_not_kept(pool):
    async with pool.acquire() as conn:
        uow = uow_on(conn)
        await uow.pairs.add(Pair("r1", "prog-1", "maria", "ana", NOW))
        await uow.participants.erase("maria")
        from services.notifications.service_layer.handlers import SUBSCRIPTIONS
        for by in ("ana", "maria"):
            await SUBSCRIPTIONS[ev.RelationshipAgreementRecorded](ev.RelationshipAgreementRecorded(
                relationship_id="r1", participant_id=by, cadence_days=14, duration_minutes=45, place="in_person",
                place_details="Rua Augusta 1500, apt. 12", response_time_hours=24, recorded_at=NOW,
                boundaries="No calls after 8 pm, Maria"), uow, None)
        assert await conn.fetchval("SELECT count(*) FROM agreements") == 0
