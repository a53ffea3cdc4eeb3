"""The mail bytes written when a delivery is planned (`deliveries.mime`) on a real PostgreSQL: they
are personal data, so they stay only while the mail may still be sent. Settling drops them, an
erasure drops every one that may name the person (those to their partners, and those whose text
names them) before the scrub, and the retention purge empties them with the rest of the content.
The end-to-end erasure search (tests/e2e/test_erasure_holds.py) reads them, quoted-printable and
base64 parts included: here it finds the names before the erasure and nothing after."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters import retention
from services.notifications.adapters.mail_format import MailWriter
from services.notifications.adapters.repository import DeliveryRepository
from services.notifications.adapters.senders import message_of
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.outgoing import Attachment
from services.notifications.entrypoints.app import MIGRATIONS
from services.notifications.service_layer import erasure
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.db import create_pool, migrate
from shared.people import Pair, Participant
from shared.programs import PROGRAMS_TRACK
from shared.purge import Purge, RetentionSettings
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from tests.e2e.test_erasure_holds import _plain, _strings, needles
from tests.support.people import onboarded

pytestmark = pytest.mark.integration
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
WRITER = MailWriter("Tandem <noreply@tandem.example>")
# Names the encodings hide: quoted-printable breaks "İlkay" into =C4=B0lkay, base64 hides CJK whole.
ILKAY = ("İlkay Gündoğan", "ilkay.gundogan@example.com")
TARO = ("山田 太郎", "yamada.taro@example.jp")


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "notifications", size=2)
    await migrate(pool, "notifications", MIGRATIONS, (PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK))
    yield pool
    await pool.close()


def person(pid: str, name: str, email: str) -> Participant:
    return Participant.from_profile(onboarded(pid=pid)).with_(name=name, email=email)


def mail(did: str, to: Participant, text: str, *, status: str = "pending", invite: str | None = None) -> Delivery:
    d = Delivery(delivery_id=did, recipient_id=to.participant_id, channel="email", template="meeting_scheduled",
                 language="en", cause_event_id=f"e-{did}", cause_type="meeting.scheduled", address=to.email,
                 subject="Your next meeting", body=text, html=f"<p>{text}</p>", not_before=NOW, status=status,
                 attachment=None if invite is None else Attachment("invite.ics", invite, "text/calendar"))
    d.mime = WRITER.write(message_of(d), date=NOW)
    assert d.mime is not None
    return d


def uow_on(conn) -> NotificationsUnitOfWork:
    return NotificationsUnitOfWork(conn, source="/test", clock=ProgramClock(start=NOW, speed=1.0),
                                   schema="notifications")


async def found(conn, *people: tuple[str, str]) -> set[str]:
    """Which deliveries hold any of the people's names or addresses, read as the e2e search reads."""
    wanted = [_plain(n) for p in people for n in needles(*p)]
    hits = set()
    for row in await conn.fetch("SELECT delivery_id, to_jsonb(t)::text AS r FROM deliveries t"):
        texts = [_plain(s) for s in _strings(json.loads(row["r"]))]
        if any(w in t for w in wanted for t in texts):
            hits.add(row["delivery_id"])
    return hits


async def mimes(conn) -> dict[str, bytes | None]:
    return {r["delivery_id"]: r["mime"] for r in await conn.fetch("SELECT delivery_id, mime FROM deliveries")}


async def test_an_erasure_drops_every_mail_that_may_name_them_and_the_search_reads_the_encodings(pool):
    # Ids are pseudonymous, as in the end-to-end test: nothing in them is searched for.
    ilkay, taro, bram, ana = (person("p2", *ILKAY), person("p3", *TARO),
                              person("bram", "Bram de Vries", "bram@example.com"),
                              person("ana", "Ana Souza", "ana@example.com"))
    async with pool.acquire() as conn:
        uow = uow_on(conn)
        for p in (ilkay, taro, bram, ana):
            await uow.participants.save(p)
        await uow.pairs.add(Pair("r1", "prog-1", "bram", "p2", NOW))
        repo = DeliveryRepository(conn)
        for d in (mail("to-partner", bram, "Your kickoff is on Thursday.",  # only the invite names her
                       invite="BEGIN:VCALENDAR\r\nATTENDEE;CN=İlkay Gündoğan:mailto:ilkay.gundogan@example.com\r\n"
                              "END:VCALENDAR\r\n"),
                  mail("names-her", ana, "İlkay Gündoğan asked the team about Thursday."),
                  mail("names-him", ana, "山田 太郎 が参加します。" * 3),  # base64: mostly beyond ASCII
                  mail("to-her", ilkay, "Hello İlkay Gündoğan"),
                  mail("unrelated", ana, "Nothing about anyone else.")):
            assert await repo.add(d)
        # The names are in the bytes too, where only decoding finds them.
        assert b"=C4=B0lkay" in (await mimes(conn))["names-her"]
        await conn.execute("UPDATE deliveries SET body = '', html = '', attachment = NULL")  # the bytes alone
        assert await found(conn, ILKAY) == {"to-partner", "names-her", "to-her"}
        assert await found(conn, TARO) == {"names-him"}
        await conn.execute("DELETE FROM deliveries")
        for d in (mail("to-partner", bram, "Your kickoff is on Thursday.",
                       invite="BEGIN:VCALENDAR\r\nATTENDEE;CN=İlkay Gündoğan:mailto:ilkay.gundogan@example.com\r\n"
                              "END:VCALENDAR\r\n"),
                  mail("names-her", ana, "İlkay Gündoğan asked the team about Thursday."),
                  mail("to-her", ilkay, "Hello İlkay Gündoğan"),
                  mail("unrelated", ana, "Nothing about anyone else.")):
            assert await repo.add(d)

        async with conn.transaction():
            await erasure.on_participant_erased(
                ev.ParticipantErased(participant_id="p2", program_id="prog-1", requested_at=NOW), uow, None)

        kept = await mimes(conn)
        assert kept["to-partner"] is None and kept["names-her"] is None and kept["to-her"] is None
        assert kept["unrelated"] is not None  # nothing of hers: sent as written
        assert await found(conn, ILKAY) == set()
        # Written again from the scrubbed text when it is sent: no name in it either.
        again = WRITER.write(message_of(await repo.get("names-her")))
        texts = [_plain(s) for s in _strings({"mime": "\\x" + again.hex()})]
        assert not [n for n in needles(*ILKAY) if any(_plain(n) in t for t in texts)]
        assert any("a former participant" in t for t in texts)


async def test_a_settled_mail_drops_its_bytes_and_one_to_try_again_keeps_them(pool):
    ana = person("ana", "Ana Souza", "ana@example.com")
    async with pool.acquire() as conn:
        repo = DeliveryRepository(conn)
        for did in ("sent", "refused", "later"):
            assert await repo.add(mail(did, ana, "Hello Ana Souza"))
        claimed = [await repo.get(did) for did in ("sent", "refused", "later")]
        for d in claimed:
            d.claim(NOW)
        assert await repo.save_all(claimed) == {"sent", "refused", "later"}
        assert all(m is not None for m in (await mimes(conn)).values())  # still to be sent
        sent, refused, later = claimed
        sent.delivered(NOW)
        refused.fail("the mail server refused the recipient (550)")
        later.try_later("the mail server answered 451", retry_at=NOW + timedelta(seconds=5), max_attempts=5)
        assert await repo.save_all(claimed) == {"sent", "refused", "later"}
        kept = await mimes(conn)
        assert (kept["sent"], kept["refused"]) == (None, None) and kept["later"] is not None
        assert (await repo.get("later")).mime == kept["later"]


async def test_the_retention_purge_empties_the_bytes_with_the_rest(pool):
    ana = person("ana", "Ana Souza", "ana@example.com")
    keep = RetentionSettings()
    async with pool.acquire() as conn:
        repo = DeliveryRepository(conn)
        assert await repo.add(mail("old", ana, "Hello Ana Souza", status="delivered"))  # as an older version left it
        assert await repo.add(mail("waiting", ana, "Hello Ana Souza"))
        real_now = await conn.fetchval("SELECT now()")
        await conn.execute("UPDATE deliveries SET created_at = $1",
                           real_now - keep.days("delivery_content") - timedelta(days=1))
    await Purge("notifications", pool, retention.rules(keep), lambda: NOW).until_done()
    async with pool.acquire() as conn:
        kept = await mimes(conn)
        assert kept["old"] is None and kept["waiting"] is not None  # not yet sent: untouched
