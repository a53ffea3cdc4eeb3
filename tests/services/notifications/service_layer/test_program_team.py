"""The program team's alerts and daily digest on fakes: no database, no broker.

Ops contacts are configured on programs.v1; alerts go to each of them in their own language,
through their own channel, known in the delivery log by an opaque id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.notifications.admins import ADMINS, UNROUTED, parse_contacts
from services.notifications.domain.delivery import OPS_CONTACT, delivery_id
from services.notifications.domain.program_team import contact_id
from services.notifications.service_layer import program_team
from services.notifications.service_layer.digests import DigestSchedule
from services.notifications.service_layer.handlers import (
    SUBSCRIPTIONS,
    NotificationsDeps,
)
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts.types import Reason
from shared.dead_letters import DeadLetter, DeadLetters
from shared.loops import Wakeup
from shared.programs import OpsContact
from tests.services.notifications.fakes import (
    FakeDatabase,
    FakeNotificationsUnitOfWork,
    NotificationTables,
)
from tests.support.fakes import FixedClock, deliver
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday, 13:00 in Amsterdam
DASHBOARD = "https://tandem.example/dashboard"
SANNE = OpsContact("Sanne de Vries", "sanne@example.com", "nl-NL")
CHAT = OpsContact("Program team", "team@example.com", "en", "chat", "https://chat.example/hooks/team")


@pytest.fixture
def deps() -> NotificationsDeps:
    return NotificationsDeps(NotificationSettings(dashboard_url=DASHBOARD), wake=Wakeup(), admins=())


@pytest.fixture
def tables() -> NotificationTables:
    return NotificationTables()


@pytest.fixture
async def uow(deps, tables) -> FakeNotificationsUnitOfWork:
    """Ana (mentee) and Bram (mentor) are a pair in the Pilot program, whose team is Sanne (Dutch, e-mail)
    and a chat channel (English)."""
    uow = FakeNotificationsUnitOfWork(FixedClock(NOW), tables=tables)
    await given(uow, deps, configured(), *pilot_pair())
    uow.delivery_log.clear()
    return uow


def pilot_pair() -> list:
    return [onboarded(pid="ana", name="Ana Souza", style="indirect"),
            onboarded(pid="bram", name="Bram de Vries", roles=("mentor",), seniority=7, capacity=1),
            ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id="prog-1", mentee_id="ana",
                                mentor_id="bram", established_at=NOW)]


def configured(timezone: str = "Europe/Amsterdam", contacts=(SANNE, CHAT), program_id: str = "prog-1"):
    return ev.ProgramConfigured(program_id=program_id, name="Pilot", timezone=timezone, ops_contacts=[
        {"name": c.name, "email": c.email, "locale": c.locale, "channel": c.channel, "webhook_url": c.webhook_url}
        for c in contacts])


async def given(uow, deps, *events, event_id: str | None = None) -> None:
    for event in events:
        await deliver(SUBSCRIPTIONS, event, uow, deps, event_id=event_id)


def at_risk(score: float = 31.5) -> ev.RelationshipAtRisk:
    return ev.RelationshipAtRisk(relationship_id="r1", score=score,
                                 reasons=["recent ratings are low (average 1.5 of 5)", "1 of 2 meetings missed"])


def health(current: str) -> ev.RelationshipHealthChanged:
    return ev.RelationshipHealthChanged(relationship_id="r1", previous=None, current=current, score=50.0)


def letter(offset: int, program_id: str | None) -> DeadLetter:
    return DeadLetter(topic="meeting-commands.v1", partition=0, offset=offset,
                      reason="no meeting m-9 in relationship r1", error_type="PermanentError", service="scheduling",
                      failed_at=NOW, event_type="meeting.cancel.requested", program_id=program_id)


async def dead_letter(uow, deps, item: DeadLetter) -> None:
    uow.cause = None
    await SUBSCRIPTIONS[DeadLetters](item, uow, deps)


TEAM_CASES = {ev.ProgramConfigured, ev.RelationshipHealthChanged, ev.RelationshipAtRisk, ev.MatchUnavailable, ev.RelationshipUnschedulable,
              DeadLetters}


def test_every_program_team_subscription_has_tests():
    assert set(program_team.SUBSCRIPTIONS) == TEAM_CASES


# --- alerts --------------------------------------------------------------------------------------

async def test_an_at_risk_relationship_alerts_each_contact_in_their_language_through_their_channel(uow, deps):
    await given(uow, deps, at_risk(), event_id="risk-1")
    sanne, chat = contact_id("prog-1", SANNE), contact_id("prog-1", CHAT)
    by_contact = {d.recipient_id: d for d in uow.delivery_log.values()}
    assert set(by_contact) == {sanne, chat}
    to_sanne, to_chat = by_contact[sanne], by_contact[chat]
    assert (to_sanne.channel, to_sanne.address, to_sanne.language) == ("email", "sanne@example.com", "nl")
    assert to_sanne.subject == "Risico: Bram de Vries & Ana Souza (Pilot)"
    assert "- recent ratings are low (average 1.5 of 5)\n- 1 of 2 meetings missed" in to_sanne.body
    assert "gezondheidsscore van 31,5 van de 100" in to_sanne.body  # Dutch digits
    assert f"{DASHBOARD}/programs/prog-1?state=at_risk" in to_sanne.body
    assert (to_chat.channel, to_chat.address, to_chat.language) == ("webhook", CHAT.webhook_url, "en")
    assert to_chat.subject == "At risk: Bram de Vries & Ana Souza (Pilot)"
    for d in (to_sanne, to_chat):
        assert d.recipient_kind == OPS_CONTACT and d.not_before == NOW and "{" not in d.subject + d.body
        assert d.delivery_id == delivery_id("risk-1", d.recipient_id, "ops_relationship_at_risk")
        assert d.recipient_id.startswith("ops-") and "example" not in d.recipient_id  # nothing about who they are


async def test_one_alert_per_change_of_state_and_none_for_a_redelivery(uow, deps):
    await given(uow, deps, at_risk(), event_id="risk-1")
    await given(uow, deps, at_risk(), event_id="risk-1")  # redelivered
    await given(uow, deps, at_risk(score=25.0), event_id="risk-2")  # told again while still at risk
    assert {d.cause_event_id for d in uow.delivery_log.values()} == {"risk-1"} and len(uow.delivery_log) == 2
    await given(uow, deps, health("watch"), event_id="better")  # it recovers a little...
    await given(uow, deps, health("at_risk"), at_risk(score=20.0), event_id="risk-3")  # ...and falls again
    assert sorted(d.cause_event_id for d in uow.delivery_log.values()) == ["risk-1"] * 2 + ["risk-3"] * 2


async def test_no_alert_once_the_stretch_closed_or_for_a_relationship_that_has_ended(uow, deps):
    await given(uow, deps, configured(contacts=()))
    await given(uow, deps, at_risk(), event_id="risk-1")
    assert uow.delivery_log == {}  # held (below)
    await given(uow, deps, health("healthy"), configured())  # it recovered before the team had contacts
    assert uow.delivery_log == {}
    await given(uow, deps, ev.MatchEnded(relationship_id="r1", program_id="prog-1", mentee_id="ana", mentor_id="bram",
                                         reason="done", ended_at=NOW, reason_code="term_completed"))
    uow.delivery_log.clear()
    await given(uow, deps, at_risk(), event_id="risk-2")
    assert uow.delivery_log == {}


# --- alerts held until the program's team has contacts --------------------------------------------

CODES = [Reason(code="ratings_low", params={"average": 1.5}), Reason(code="meetings_missed",
                                                                     params={"missed": 1, "held": 2})]


def coded_at_risk(score: float = 31.5) -> ev.RelationshipAtRisk:
    return at_risk(score).model_copy(update={"reason_codes": CODES})


def alerts(uow) -> list[tuple]:
    """What each contact gets, as the delivery log has it."""
    return sorted((d.delivery_id, d.recipient_id, d.channel, d.address, d.language, d.subject, d.body,
                   d.cause_event_id, d.cause_type, d.recipient_kind) for d in uow.delivery_log.values()
                  if d.template == "ops_relationship_at_risk")


async def test_an_alert_before_the_settings_is_held_then_sent_once_as_it_would_have_been(uow, deps, tables):
    expected_uow = FakeNotificationsUnitOfWork(uow.clock, tables=NotificationTables())
    await given(expected_uow, deps, configured(), *pilot_pair())
    await given(expected_uow, deps, coded_at_risk(), event_id="risk-1")  # the team's contacts known: sent at once
    expected = alerts(expected_uow)
    assert len(expected) == 2

    del tables.programs.programs["prog-1"]  # programs.v1 has not reached notifications yet
    await given(uow, deps, coded_at_risk(), event_id="risk-1")
    await given(uow, deps, coded_at_risk(score=25.0), event_id="risk-2")  # told again, same stretch
    assert uow.delivery_log == {}
    (held,) = tables.held_alerts.values()
    assert (held.relationship_id, held.program_id, held.cause_event_id, held.score) == ("r1", "prog-1", "risk-1", 31.5)
    assert [c["code"] for c in held.reason_codes] == ["ratings_low", "meetings_missed"]
    assert "Ana" not in repr(held) and "Bram" not in repr(held) and "ratings are low" not in repr(held)

    await given(uow, deps, configured(), event_id="settings-1")
    assert alerts(uow) == expected  # in each contact's language and channel, derived from the event held
    assert tables.held_alerts == {} and tables.risk_alerts == {"r1": "risk-1"}

    await given(uow, deps, configured(), event_id="settings-1")  # redelivered
    await given(uow, deps, configured(timezone="Asia/Tokyo"), event_id="settings-2")  # new settings
    await given(uow, deps, coded_at_risk(score=20.0), event_id="risk-3")  # still the same stretch
    assert alerts(uow) == expected


async def test_settings_naming_no_contacts_hold_the_alert_until_settings_that_do(uow, deps, tables):
    await given(uow, deps, configured(contacts=()), coded_at_risk(), event_id="risk-1")
    await given(uow, deps, configured(contacts=()), event_id="settings-1")  # still nobody to tell
    assert uow.delivery_log == {} and set(tables.held_alerts) == {"r1"}
    await given(uow, deps, configured(contacts=(SANNE,)), event_id="settings-2")
    (to_sanne,) = uow.delivery_log.values()
    assert (to_sanne.recipient_id, to_sanne.language) == (contact_id("prog-1", SANNE), "nl")
    assert to_sanne.delivery_id == delivery_id("risk-1", to_sanne.recipient_id, "ops_relationship_at_risk")
    assert "ratings are low" not in to_sanne.body and "{" not in to_sanne.body  # worded from the codes, in Dutch


async def test_a_held_stretch_that_closed_sends_nothing_and_the_next_one_is_alerted(uow, deps, tables):
    await given(uow, deps, configured(contacts=()), coded_at_risk(), event_id="risk-1")
    await given(uow, deps, health("watch"))  # it recovers a little while held
    await given(uow, deps, configured(), event_id="settings-1")
    assert uow.delivery_log == {} and tables.risk_alerts == {}
    await given(uow, deps, health("at_risk"), coded_at_risk(), event_id="risk-2")  # ...and falls again
    assert {d.cause_event_id for d in uow.delivery_log.values()} == {"risk-2"} and len(uow.delivery_log) == 2


async def test_a_held_alert_about_a_pair_that_ended_meanwhile_is_dropped(uow, deps, tables):
    await given(uow, deps, configured(contacts=()), coded_at_risk(), event_id="risk-1")
    await given(uow, deps, ev.MatchEnded(relationship_id="r1", program_id="prog-1", mentee_id="ana", mentor_id="bram",
                                         reason="done", ended_at=NOW, reason_code="term_completed"))
    uow.delivery_log.clear()  # the pair's own goodbyes
    await given(uow, deps, configured(), event_id="settings-1")
    assert uow.delivery_log == {} and tables.held_alerts == {} and "r1" not in tables.risk_alerts


async def test_only_the_configured_programs_held_alerts_are_sent(uow, deps, tables):
    await given(uow, deps, configured(contacts=()), coded_at_risk(), event_id="risk-1")
    await given(uow, deps, configured(program_id="prog-2"), event_id="settings-other")
    assert uow.delivery_log == {} and set(tables.held_alerts) == {"r1"}


# --- the daily digest ----------------------------------------------------------------------------

async def test_what_the_digest_will_tell_is_gathered_as_it_arrives(uow, deps, tables):
    await given(uow, deps, configured(program_id="prog-2", contacts=(SANNE,)))
    await given(uow, deps, ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason="no mentor shares a "
                                               "language", reason_code="no_shared_language"), event_id="u-1")
    await given(uow, deps, ev.RelationshipUnschedulable(relationship_id="r1", program_id="prog-1", mentor_id="bram",
                                                        mentee_id="ana", reason="no common hours"), event_id="x-1")
    await dead_letter(uow, deps, letter(7, "prog-1"))
    unrouted = UNROUTED.labels("meeting-commands.v1")._value.get()
    await dead_letter(uow, deps, letter(8, None))  # names no program, and no administrators are set: only counted
    assert UNROUTED.labels("meeting-commands.v1")._value.get() == unrouted + 1
    kinds = sorted((i.program_id, i.kind) for i in tables.digest_items.values())
    assert kinds == [("prog-1", "dead_letter"), ("prog-1", "unmatched"), ("prog-1", "unschedulable")]
    assert tables.digest_items[("prog-1", "u-1")].details["reason_code"] == "no_shared_language"
    # nothing goes to the team before 08:00 (the mentee is told themselves: test_waiting.py)
    assert [d.template for d in uow.delivery_log.values()] == ["match_unavailable"]


class Replica:
    """A notifications process as the digest loop sees it: its own deps, one shared database."""

    def __init__(self, tables: NotificationTables, clock: FixedClock, admins: tuple[OpsContact, ...] = ()) -> None:
        self.db = FakeDatabase(clock, tables)
        self.schedule = DigestSchedule(self.db.transaction, clock,
                                       NotificationsDeps(NotificationSettings(dashboard_url=DASHBOARD), Wakeup(),
                                                         admins=admins))


def digests(tables: NotificationTables) -> list:
    return sorted((d for d in tables.log.values() if d.template == "ops_daily_digest"),
                  key=lambda d: (d.cause_event_id, d.recipient_id))


async def test_the_digest_goes_out_at_eight_in_the_programs_zone_once_and_only_with_news(uow, deps, tables):
    clock = uow.clock
    clock.at = datetime(2027, 1, 5, 6, 30, tzinfo=UTC)  # 07:30 in Amsterdam
    for i in range(3):  # the same mentee, told three times: one line, the latest word
        await given(uow, deps, ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason=f"reason {i}",
                                                   reason_code="no_overlap"), event_id=f"u-{i}")
    await given(uow, deps, ev.RelationshipUnschedulable(relationship_id="r1", program_id="prog-1", mentor_id="bram",
                                                        mentee_id="ana", reason="no common hours"), event_id="x-1")
    for offset in (1, 2):
        await dead_letter(uow, deps, letter(offset, "prog-1"))
    a, b = Replica(tables, clock), Replica(tables, clock)
    passed = await a.schedule.step()
    assert digests(tables) == [] and passed.due_in == 30 * 60  # until 08:00 there

    clock.at = datetime(2027, 1, 5, 7, 0, tzinfo=UTC)  # 08:00 in Amsterdam
    await a.schedule.step()
    await b.schedule.step()  # another replica: the day's digest is taken
    to_sanne, to_chat = sorted(digests(tables), key=lambda d: d.channel)
    assert to_sanne.cause_event_id == "digest/prog-1/2027-01-05" and to_sanne.cause_type == "daily.digest"
    assert to_sanne.subject == "Pilot, 5 januari 2027: 4 dingen om naar te kijken"
    # Reasons that came without a code (older producers) keep the event's own words.
    assert "Een mentee aan wie we niemand konden voorstellen:\n- Ana Souza: reason 2\n" in to_sanne.body
    assert "Een koppel zonder gezamenlijk moment om af te spreken:\n- Bram de Vries & Ana Souza\n" in to_sanne.body
    assert "2 berichten die het systeem niet kon verwerken:\n- meeting-commands.v1 meeting.cancel.requested (2x): " \
           "no meeting m-9 in relationship r1" in to_sanne.body
    assert f"{DASHBOARD}/programs/prog-1\n" in to_sanne.body and "{" not in to_sanne.body
    assert (to_chat.channel, to_chat.subject) == ("webhook", "Pilot, January 5, 2027: 4 things to look at")
    assert all(d.recipient_kind == OPS_CONTACT for d in (to_sanne, to_chat))

    # Later that day: a new item waits for tomorrow's digest; a quiet day sends nothing.
    clock.at = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)
    await given(uow, deps, ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason="reason 3",
                                               reason_code="no_overlap"), event_id="u-3")
    passed = await a.schedule.step()
    assert len(digests(tables)) == 2 and passed.due_in == 16 * 3600  # until 08:00 tomorrow
    clock.at = datetime(2027, 1, 6, 7, 0, tzinfo=UTC)
    await a.schedule.step()
    assert [d.cause_event_id for d in digests(tables)][2:] == ["digest/prog-1/2027-01-06"] * 2
    clock.at = datetime(2027, 1, 7, 7, 0, tzinfo=UTC)
    await a.schedule.step()
    assert len(digests(tables)) == 4 and tables.digests[("prog-1", date(2027, 1, 7))] == 0


async def test_new_settings_wake_the_digest_loop_to_look_at_the_programs_eight_oclock_again(uow, deps, tables):
    deps.wake_digests.clear()
    await given(uow, deps, configured(timezone="Asia/Tokyo"))
    assert deps.wake_digests._event.is_set()
    assert tables.programs.programs["prog-1"].timezone == "Asia/Tokyo"


async def test_each_program_has_its_digest_at_its_own_eight_oclock(uow, deps, tables):
    await given(uow, deps, configured(program_id="prog-tokyo", timezone="Asia/Tokyo", contacts=(CHAT,)))
    for program_id in ("prog-1", "prog-tokyo"):
        await given(uow, deps, ev.MatchUnavailable(program_id=program_id, mentee_id="ana", reason="none free",
                                                   reason_code="mentors_at_capacity"), event_id=f"u-{program_id}")
    clock = uow.clock
    clock.at = datetime(2027, 1, 4, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo, midnight in Amsterdam
    replica = Replica(tables, clock)
    passed = await replica.schedule.step()
    assert [d.cause_event_id for d in digests(tables)] == ["digest/prog-tokyo/2027-01-05"]
    assert passed.due_in == timedelta(hours=8).total_seconds()  # Amsterdam's 08:00 is next


async def test_a_dead_letter_naming_no_program_goes_to_the_administrators_only(uow, deps, tables):
    admins = parse_contacts("ops@tandem.example, beheer@tandem.example:nl-NL")
    deps.admins = admins
    await given(uow, deps, configured(program_id="prog-2", contacts=(SANNE,)))
    await dead_letter(uow, deps, letter(7, "prog-1"))
    await dead_letter(uow, deps, letter(8, None))
    assert sorted((i.program_id, i.item_id) for i in tables.digest_items.values()) == [
        ("prog-1", "meeting-commands.v1.dlq/0/7"), (ADMINS, "meeting-commands.v1.dlq/0/8")]

    clock = uow.clock
    clock.at = datetime(2027, 1, 5, 8, 0, tzinfo=UTC)  # 08:00 in UTC (the deployment's zone), 09:00 in Amsterdam
    await Replica(tables, clock, admins).schedule.step()
    sent = digests(tables)
    to_admins = [d for d in sent if d.cause_event_id == f"digest/{ADMINS}/2027-01-05"]
    to_program = [d for d in sent if d.cause_event_id == "digest/prog-1/2027-01-05"]
    assert sorted(d.address for d in to_admins) == ["beheer@tandem.example", "ops@tandem.example"]
    assert all("meeting-commands.v1 meeting.cancel.requested: no meeting m-9" in d.body for d in to_admins)
    assert all(f"{DASHBOARD}\n" in d.body for d in to_admins)  # the whole dashboard, not a program's page
    assert [d.language for d in sorted(to_admins, key=lambda d: d.address)] == ["nl", "en"]  # their catalogues
    # Each program's team hears of its own letters only; prog-2 has nothing to hear of.
    assert {d.address for d in to_program} == {SANNE.email, CHAT.webhook_url}
    assert all(d.body.count("meeting.cancel.requested") == 1 for d in to_program)
    assert not [d for d in sent if "prog-2" in d.cause_event_id]


def test_administrators_are_a_list_of_addresses_with_an_optional_locale():
    assert parse_contacts("") == ()
    assert [(c.email, c.locale) for c in parse_contacts(" a@x.io ,b@y.org:pt-BR,")] == [("a@x.io", "en"),
                                                                                          ("b@y.org", "pt-BR")]
    for bad, message in (("a@x.io, Ana", "entry 2 is not an e-mail address"), ("a@x.io:??", "entry 1 has no valid")):
        with pytest.raises(ValueError, match=message) as caught:
            parse_contacts(bad)
        assert "Ana" not in str(caught.value)
