"""A mentee for whom no mentor fits right now hears it themselves, once per stretch of waiting
(service_layer/waiting.py), on fakes: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.delivery import delivery_id
from services.notifications.service_layer import waves
from services.notifications.service_layer.handlers import SUBSCRIPTIONS, NotificationsDeps
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts.envelope import new_envelope
from shared.errors import NotYetKnown
from shared.loops import Wakeup
from shared.waves import Applied
from tests.services.notifications.fakes import FakeNotificationsUnitOfWork, NotificationTables
from tests.support.fakes import FixedClock, deliver
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday, 13:00 in Amsterdam, 09:00 in Sao Paulo


@pytest.fixture
def deps() -> NotificationsDeps:
    return NotificationsDeps(NotificationSettings(), wake=Wakeup(), admins=())


@pytest.fixture
def tables() -> NotificationTables:
    return NotificationTables()


@pytest.fixture
async def uow(deps, tables) -> FakeNotificationsUnitOfWork:
    """Ana (mentee, Brazilian Portuguese, indirect tone) and Bram (mentor, Dutch), not paired."""
    uow = FakeNotificationsUnitOfWork(FixedClock(NOW), tables=tables)
    await given(uow, deps, onboarded(pid="ana", name="Ana Souza", locale="pt-BR", languages=("pt", "en"),
                                     tz="America/Sao_Paulo", style="indirect"),
                onboarded(pid="bram", name="Bram de Vries", roles=("mentor",), locale="nl-NL", seniority=7,
                          capacity=1))
    return uow


async def given(uow, deps, *events, event_id: str | None = None) -> None:
    for event in events:
        await deliver(SUBSCRIPTIONS, event, uow, deps, event_id=event_id)


def unavailable(code: str = "mentors_at_capacity", mentee: str = "ana", **params) -> ev.MatchUnavailable:
    return ev.MatchUnavailable(program_id="prog-1", mentee_id=mentee, reason="(the team's English)",
                               reason_code=code, reason_params=params or ({"compatible": 2} if
                                                                          code == "mentors_at_capacity" else {}))


def proposed(proposal_id: str = "p-1") -> ev.MatchProposed:
    return ev.MatchProposed(proposal_id=proposal_id, program_id="prog-1", mentee_id="ana", mentor_id="bram",
                            score=0.8, explanation={}, expires_at=NOW + timedelta(days=7))


def told(uow) -> list:
    return sorted((d for d in uow.for_("ana") if d.template == "match_unavailable"), key=lambda d: d.cause_event_id)


async def test_the_mentee_is_told_in_their_language_and_tone_why_and_what_happens_next(uow, deps, tables):
    await given(uow, deps, unavailable(), event_id="u-1")
    (mail,) = told(uow)
    assert mail.delivery_id == delivery_id("u-1", "ana", "match_unavailable")
    assert (mail.language, mail.address) == ("pt-BR", "ana@example.com")
    assert mail.subject == "Notícias sobre a busca do(a) seu(sua) mentor(a)"  # the indirect tone's subject
    assert "Obrigado pela sua paciência." in mail.body
    assert "Novas vagas surgem à medida que outras relações de mentoria chegam ao fim." in mail.body  # the reason
    assert "A equipe do programa está ciente" in mail.body  # the team knows...
    assert "entraremos em contato assim que um(a) mentor(a) aceitar trabalhar com você" in mail.body  # ...what next
    assert "(the team's English)" not in mail.body  # the producer's words are the team's, not the mentee's
    assert tables.digest_items[("prog-1", "u-1")].kind == "unmatched"  # and the team's digest lists them
    assert uow.for_("bram") == []


async def test_told_once_per_stretch_of_waiting(uow, deps, tables):
    await given(uow, deps, unavailable("places_taken_in_round"), event_id="round-1")  # a cohort round
    await given(uow, deps, unavailable("no_overlap", min_hours=2, compatible=1), event_id="request-1")
    await given(uow, deps, unavailable("mentors_at_capacity"), event_id="round-2")
    await given(uow, deps, unavailable(), event_id="round-1")  # redelivered
    assert [d.cause_event_id for d in told(uow)] == ["round-1"]
    # every one still goes into the team's digest
    assert {key[1] for key in tables.digest_items} == {"round-1", "request-1", "round-2"}


async def test_told_again_after_a_proposal_came_and_went(uow, deps):
    await given(uow, deps, unavailable(), event_id="u-1")
    await given(uow, deps, proposed("p-1"), event_id="prop-1")
    await given(uow, deps, ev.MatchDeclined(proposal_id="p-1", program_id="prog-1", mentee_id="ana", mentor_id="bram",
                                            reason="no time"), event_id="dec-1")
    await given(uow, deps, unavailable("no_shared_language"), event_id="u-2")  # the rematch after the decline
    await given(uow, deps, unavailable(), event_id="u-3")  # still the same stretch
    assert [d.cause_event_id for d in told(uow)] == ["u-1", "u-2"]


async def test_told_again_after_a_relationship_came_and_went(uow, deps):
    await given(uow, deps, unavailable(), event_id="u-1")
    await given(uow, deps, ev.MatchEstablished(relationship_id="r1", proposal_id="p-9", program_id="prog-1",
                                               mentee_id="ana", mentor_id="bram", established_at=NOW), event_id="est")
    await given(uow, deps, ev.MatchEnded(relationship_id="r1", program_id="prog-1", mentee_id="ana", mentor_id="bram",
                                         reason="not a fit", ended_at=NOW, reason_code="ended_on_request"))
    await given(uow, deps, unavailable(), event_id="u-2")  # the rematch found nobody
    assert [d.cause_event_id for d in told(uow)] == ["u-1", "u-2"]


@pytest.mark.parametrize("code", ["already_matched", "awaiting_answer"])
async def test_a_mentee_who_has_a_mentor_or_awaits_an_answer_is_not_unmatched(uow, deps, tables, code):
    """Neither told nor listed in the digest, and it does not use up the telling of a real wait."""
    await given(uow, deps, unavailable(code), event_id="busy-1")
    assert told(uow) == [] and tables.digest_items == {} and tables.waiting == {}
    await given(uow, deps, unavailable(), event_id="u-1")
    assert [d.cause_event_id for d in told(uow)] == ["u-1"]
    await given(uow, deps, unavailable(code), event_id="busy-2")
    assert set(tables.digest_items) == {("prog-1", "u-1")}


async def test_quiet_hours_and_channels_are_respected_as_for_every_mail(uow, deps):
    await given(uow, deps, onboarded(pid="chen", locale="zh-CN", quiet=("12:00", "18:00"), channel="webhook",
                                     webhook_url="https://chat.example/hooks/chen"))
    await given(uow, deps, unavailable(mentee="chen"), event_id="u-1")
    (mail,) = uow.for_("chen")
    assert (mail.channel, mail.address) == ("webhook", "https://chat.example/hooks/chen")
    assert mail.not_before == datetime(2027, 1, 4, 17, 0, tzinfo=UTC)  # 18:00 in Amsterdam
    assert mail.language == "zh-Hans" and "我们仍在为你寻找导师" in mail.subject


async def test_someone_who_left_is_not_told_and_someone_not_known_yet_waits(uow, deps, tables):
    await given(uow, deps, ev.ParticipantOffboarded(participant_id="ana", program_id="prog-1"))
    await given(uow, deps, unavailable(), event_id="u-1")
    assert told(uow) == [] and tables.waiting == {}
    with pytest.raises(NotYetKnown):
        await given(uow, deps, unavailable(mentee="nobody-yet"), event_id="u-2")


async def test_a_wave_of_proposals_ends_the_wait_as_one_proposal_does(uow, deps, tables):
    """match.proposed applied a wave at a time (waves.py) ends each proposed mentee's stretch of waiting."""
    await given(uow, deps, onboarded(pid="chen"), unavailable(mentee="chen"), event_id="u-chen")
    await given(uow, deps, unavailable(), event_id="u-ana")
    await given(uow, deps, onboarded(pid="dana"), unavailable(mentee="dana"), event_id="u-dana")
    wave = [Applied(new_envelope(type="match.proposed", source="/test", data=e, time=NOW), e)
            for e in (proposed("p-1"), proposed("p-2").model_copy(update={"mentee_id": "chen"}))]
    await waves.on_matches_proposed(wave, uow, deps)
    assert set(tables.waiting) == {"dana"}
    await given(uow, deps, unavailable(), event_id="u-ana-2")
    assert [d.cause_event_id for d in told(uow)] == ["u-ana", "u-ana-2"]
