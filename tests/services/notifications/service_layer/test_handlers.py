"""Notifications' subscription table on a fake unit of work: no database, no broker.

Handlers only write the delivery log (what to send, to whom, from when); sending is the delivery
loop's (test_dispatcher.py).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.subjects import Agreement, LinkAct
from services.notifications.domain import preferences
from services.notifications.domain.delivery import delivery_id
from services.notifications.service_layer import program_team
from services.notifications.service_layer.handlers import (
    SUBSCRIPTIONS,
    NotificationsDeps,
)
from services.notifications.settings import NotificationSettings
from shared import programs, replica
from shared.contracts import events as ev
from shared.contracts.types import Reason
from shared.errors import NotYetKnown, PermanentError
from shared.loops import Wakeup
from tests.services.notifications.fakes import FakeNotificationsUnitOfWork
from tests.support.fakes import FixedClock, deliver
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # Monday: 09:00 in Sao Paulo, 13:00 in Amsterdam
START = NOW + timedelta(days=3)


class CountingWakeup(Wakeup):
    def __init__(self) -> None:
        super().__init__()
        self.times = 0

    def set(self) -> None:
        self.times += 1
        super().set()


@pytest.fixture
def deps() -> NotificationsDeps:
    return NotificationsDeps(NotificationSettings(cadence_days=14, duration_minutes=45), wake=CountingWakeup())


@pytest.fixture
async def uow(deps) -> FakeNotificationsUnitOfWork:
    """Ana (mentee, Brazilian Portuguese, indirect tone, quiet 21:00-07:30) and Bram (mentor, Dutch, direct)."""
    uow = FakeNotificationsUnitOfWork(FixedClock(NOW))
    await deliver(SUBSCRIPTIONS, onboarded(pid="ana", name="Ana Souza", locale="pt-BR", languages=("pt", "en"),
                                           tz="America/Sao_Paulo", style="indirect", quiet=("21:00", "07:30"),
                                           region="LATAM", sector="marketing", goals=("public speaking",)), uow, deps)
    await deliver(SUBSCRIPTIONS, onboarded(pid="bram", name="Bram de Vries", roles=("mentor",), locale="nl-NL",
                                           languages=("nl", "en"), seniority=7, capacity=1), uow, deps)
    return uow


def proposed() -> ev.MatchProposed:
    return ev.MatchProposed(proposal_id="p1", program_id="prog-1", mentee_id="ana", mentor_id="bram", score=0.8,
                            expires_at=NOW + timedelta(days=3), explanation={"components": {
                                "goal_fit": {"contribution": 0.4, "note": "mentor's skills cover 1 of 1 goals",
                                             "reason": {"code": "goals_covered", "params": {
                                                 "covered": ["public speaking"], "missing": [], "total": 1}}}}})


def established(rid: str = "r1") -> ev.MatchEstablished:
    return ev.MatchEstablished(relationship_id=rid, proposal_id="p1", program_id="prog-1", mentee_id="ana",
                               mentor_id="bram", established_at=NOW, goals=["public speaking"])


def meeting(model, **extra):
    return model(meeting_id="m1", relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana",
                 occurrence=1, start=START, end=START + timedelta(minutes=45), ics="BEGIN:VCALENDAR\r\n", **extra)


def reminder() -> ev.ReminderDue:
    return ev.ReminderDue(reminder_id="rem1", meeting_id="m1", relationship_id="r1", participant_ids=["bram", "ana"],
                          meeting_start=START, minutes_before=60)


def feedback_requested(who: str = "ana", rid: str = "r1") -> ev.FeedbackRequested:
    return ev.FeedbackRequested(request_id="q1", relationship_id=rid, meeting_id="m1", participant_id=who,
                                role="mentee", due_at=NOW + timedelta(days=7))


def ended(reason_code: str = "ended_on_request", rid: str = "r1") -> ev.MatchEnded:
    return ev.MatchEnded(relationship_id=rid, program_id="prog-1", mentee_id="ana", mentor_id="bram",
                         reason="complaint about punctuality", ended_at=NOW, reason_code=reason_code,
                         requested_by="ops:sanne" if reason_code == "ended_on_request" else None)


def nudge(note: str | None = "Your kickoff went well; keep the rhythm going!", rid: str = "r1"):
    return ev.RelationshipNudgeRequested(relationship_id=rid, requested_by="ops:sanne", note=note)


def milestone() -> ev.MilestoneAchieved:
    return ev.MilestoneAchieved(relationship_id="r1", participant_id="ana", milestone="public speaking")


def goal_achieved() -> ev.GoalAchieved:
    return ev.GoalAchieved(relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana",
                           goal="public speaking", achieved_at=NOW)


def meetings_missed() -> ev.RelationshipMeetingsMissed:
    return ev.RelationshipMeetingsMissed(relationship_id="r1", program_id="prog-1", mentor_id="bram",
                                         mentee_id="ana", consecutive=2)


def end_scheduled() -> ev.RelationshipEndScheduled:
    return ev.RelationshipEndScheduled(relationship_id="r1", program_id="prog-1", mentor_id="bram",
                                       mentee_id="ana", ends_at=NOW + timedelta(days=7))


def concluded(certificate: bool = True) -> ev.RelationshipConcluded:
    return ev.RelationshipConcluded(
        relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana", reason_code="term_completed",
        established_at=NOW - timedelta(days=180), ended_at=NOW, meetings_held=9,
        goals=[ev.GoalProgress(goal="public speaking", progress=100)], milestones=["first keynote"],
        term_served=1.0, certificate=certificate)


# Every entry of the table: the event, and who gets which template. The pair is known beforehand.
CASES = {
    ev.MatchProposed: (proposed(), {("bram", "match_proposed")}),
    ev.MatchEstablished: (established(), {("bram", "match_established"), ("ana", "match_established")}),
    ev.MeetingScheduled: (meeting(ev.MeetingScheduled), {("bram", "meeting_scheduled"), ("ana", "meeting_scheduled")}),
    ev.MeetingRescheduled: (meeting(ev.MeetingRescheduled, previous_start=START - timedelta(days=1), sequence=1),
                            {("bram", "meeting_rescheduled"), ("ana", "meeting_rescheduled")}),
    ev.MeetingCancelled: (meeting(ev.MeetingCancelled, sequence=2, reason="ill"),
                          {("bram", "meeting_cancelled"), ("ana", "meeting_cancelled")}),
    ev.ReminderDue: (reminder(), {("bram", "reminder_due"), ("ana", "reminder_due")}),
    ev.FeedbackRequested: (feedback_requested(), {("ana", "feedback_requested")}),
    ev.MilestoneAchieved: (milestone(), {("bram", "milestone_achieved"), ("ana", "milestone_achieved")}),
    ev.MatchEnded: (ended(), {("bram", "match_ended_on_request"), ("ana", "match_ended_on_request")}),
    ev.RelationshipNudgeRequested: (nudge(), {("bram", "relationship_nudge"), ("ana", "relationship_nudge")}),
    ev.GoalAchieved: (goal_achieved(), {("bram", "goal_achieved"), ("ana", "goal_achieved")}),
    ev.RelationshipMeetingsMissed: (meetings_missed(), {("bram", "meetings_missed"), ("ana", "meetings_missed")}),
    ev.RelationshipEndScheduled: (end_scheduled(), {("bram", "end_scheduled"), ("ana", "end_scheduled")}),
    ev.RelationshipConcluded: (concluded(), {("bram", "relationship_concluded"), ("ana", "relationship_concluded")}),
    ev.RelationshipFitQuestioned: (ev.RelationshipFitQuestioned(
        relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana", participant_id="bram",
        questioned_at=NOW), {("ana", "fit_questioned")}),
}
# Subscriptions that only keep what an action link's page needs, and send nothing.
RECORDS = {ev.MatchDeclined, ev.MatchExpired, ev.RelationshipAgreementRecorded, ev.MeetingCompleted,
           ev.MeetingMissed}


def test_every_subscription_has_a_case():
    # The program team's subscriptions have theirs in test_program_team.py; erasure is tested on a real
    # database (tests/e2e/test_erasure.py), since it scrubs every table.
    assert set(SUBSCRIPTIONS) == (set(CASES) | set(replica.PARTICIPANT_SUBSCRIPTIONS)
                                  | set(programs.PROGRAM_SUBSCRIPTIONS) | set(program_team.SUBSCRIPTIONS)
                                  | {ev.ParticipantErased} | RECORDS)


@pytest.mark.parametrize("model", list(CASES), ids=lambda m: m.__name__)
async def test_each_event_writes_the_right_templates_for_the_right_people_and_wakes_the_loop(model, uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps, event_id="intro")
    if model is ev.RelationshipConcluded:  # what an end causes comes after the end
        await deliver(SUBSCRIPTIONS, ended("term_completed"), uow, deps, event_id="end")
    uow.delivery_log.clear()
    woken = deps.wake.times
    event, expected = CASES[model]
    await deliver(SUBSCRIPTIONS, event, uow, deps, event_id="e-1")
    written = uow.delivery_log.values()
    assert {(d.recipient_id, d.template) for d in written} == expected
    assert all(d.delivery_id == delivery_id("e-1", d.recipient_id, d.template) for d in written)
    assert all(d.status == "pending" and d.attempts == 0 and d.cause_event_id == "e-1" for d in written)
    assert all("{" not in d.subject + d.body + d.html for d in written)  # every placeholder filled
    assert all(d.html.startswith("<!DOCTYPE html>") for d in written)
    # One-click unsubscribe only where that kind of message may be switched off.
    assert all((d.unsubscribe_url is not None) == (preferences.kind_of(d.template) is not None) for d in written)
    assert deps.wake.times == woken + 1
    assert uow.emitted == []  # the delivery loop announces outcomes, not the handlers


async def test_language_and_tone_follow_each_reader(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    (to_bram,), (to_ana,) = uow.for_("bram"), uow.for_("ana")
    assert (to_bram.language, to_bram.subject) == ("nl", "Maak kennis met uw mentee: Ana Souza")  # Dutch, direct
    assert (to_ana.language, to_ana.subject) == ("pt-BR", "Uma apresentação: Bram de Vries")  # indirect
    assert "Horário da Europa Central" in to_ana.body and "Europe/Amsterdam" not in to_ana.body
    assert (to_ana.channel, to_ana.address) == ("email", "ana@example.com")
    # Her notification preferences: a link signed for her alone, in her language.
    prefix = "Escolha quais mensagens você recebe: http://127.0.0.1:8083/a/"
    token = to_ana.body.split(prefix, 1)[1].split()[0]
    link = deps.signer.read(token, NOW)
    assert (link.participant_id, link.kind) == ("ana", ("participant", "preferences"))
    # And the agreement the introduction asks for, one click away.
    agreement = [line for line in to_ana.body.splitlines() if "/a/" in line and prefix not in line]
    assert len(agreement) == 1 and deps.signer.read(agreement[0].rsplit("/a/", 1)[1], NOW).kind == \
        ("relationship", "agreement")


async def test_a_proposal_describes_the_mentee_to_the_mentor(uow, deps):
    await deliver(SUBSCRIPTIONS, proposed(), uow, deps)
    (to_bram,) = uow.for_("bram")
    assert to_bram.subject == "Nieuwe mentee voor u: Ana Souza"
    assert "LATAM" in to_bram.body and "marketing" in to_bram.body and "public speaking" in to_bram.body
    assert "U heeft ervaring met public speaking, het doel dat Ana Souza heeft gesteld." in to_bram.body


async def test_meeting_messages_carry_the_calendar_invite_or_its_cancellation(uow, deps):
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingScheduled), uow, deps)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCancelled, sequence=1), uow, deps)
    methods = {(d.template, d.attachment.mime_type) for d in uow.delivery_log.values()}
    assert methods == {("meeting_scheduled", "text/calendar; method=REQUEST"),
                       ("meeting_cancelled", "text/calendar; method=CANCEL")}


async def test_each_mail_is_written_once_when_planned_and_a_chat_message_is_not(uow, deps):
    await deliver(SUBSCRIPTIONS, onboarded(pid="bram", roles=("mentor",), channel="chat",
                                           webhook_url="https://chat.example/hooks/bram"), uow, deps)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingScheduled), uow, deps)
    (to_ana,), (to_bram,) = uow.for_("ana"), uow.for_("bram")
    assert to_bram.channel == "webhook" and to_bram.mime is None
    written = email.message_from_bytes(to_ana.mime, policy=email.policy.default)
    assert written["Subject"] == to_ana.subject and written["To"] == "ana@example.com"
    assert written["Message-ID"] == f"<{to_ana.delivery_id}@tandem.example>"
    (invite,) = list(written.iter_attachments())
    assert invite.get_content() == to_ana.attachment.content  # with her own meeting page in it


async def test_quiet_hours_hold_a_message_until_they_end_unless_it_would_come_too_late(uow, deps):
    uow.clock.at = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)  # 22:00 in Sao Paulo: Ana's quiet hours
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    assert uow.for_("ana")[0].not_before == datetime(2027, 1, 5, 10, 30, tzinfo=UTC)  # 07:30 her time
    assert uow.for_("bram")[0].not_before == uow.clock.at
    soon = ev.ReminderDue(reminder_id="rem2", meeting_id="m2", relationship_id="r1", participant_ids=["ana"],
                          meeting_start=uow.clock.at + timedelta(hours=1), minutes_before=60)
    await deliver(SUBSCRIPTIONS, soon, uow, deps)
    (late_reminder,) = [d for d in uow.for_("ana") if d.template == "reminder_due"]
    assert late_reminder.not_before == uow.clock.at  # after the meeting it would be useless


async def test_people_who_left_get_nothing_more(uow, deps):
    await deliver(SUBSCRIPTIONS, ev.ParticipantOffboarded(participant_id="ana", program_id="prog-1"), uow, deps)
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    assert [d.recipient_id for d in uow.delivery_log.values()] == ["bram"]


async def test_a_redelivered_event_writes_nothing_twice(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps, event_id="e-1")
    first = {i: (d.subject, d.not_before) for i, d in uow.delivery_log.items()}
    uow.clock.advance(hours=1)
    await deliver(SUBSCRIPTIONS, established(), uow, deps, event_id="e-1")
    assert {i: (d.subject, d.not_before) for i, d in uow.delivery_log.items()} == first
    assert len(first) == 2


async def test_chat_goes_to_the_webhook_when_there_is_one(uow, deps):
    await deliver(SUBSCRIPTIONS, onboarded(pid="bram", roles=("mentor",), channel="chat",
                                           webhook_url="https://chat.example/hooks/bram"), uow, deps)
    await deliver(SUBSCRIPTIONS, onboarded(pid="ana", channel="chat"), uow, deps)  # no URL: e-mail instead
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    assert (uow.for_("bram")[0].channel, uow.for_("bram")[0].address) == ("webhook", "https://chat.example/hooks/bram")
    assert (uow.for_("ana")[0].channel, uow.for_("ana")[0].address) == ("email", "ana@example.com")


async def test_the_introduction_records_the_pair(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    pair = uow.pairs.pairs["r1"]
    assert (pair.mentor_id, pair.mentee_id, pair.goals) == ("bram", "ana", ("public speaking",))


async def test_unknown_people_and_pairs_are_waited_for(uow, deps):
    stranger = proposed().model_copy(update={"mentee_id": "carl"})
    with pytest.raises(NotYetKnown, match="no profile yet for carl"):
        await deliver(SUBSCRIPTIONS, stranger, uow, deps)
    with pytest.raises(NotYetKnown, match="relationship r9 not established here yet"):
        await deliver(SUBSCRIPTIONS, feedback_requested(rid="r9"), uow, deps)
    unknown_pair = established("r2").model_copy(update={"mentee_id": "dora"})
    with pytest.raises(NotYetKnown, match="no profile yet for dora"):
        await deliver(SUBSCRIPTIONS, unknown_pair, uow, deps)
    assert uow.delivery_log == {}
    assert uow.emitted == []


async def test_feedback_is_asked_only_of_someone_in_the_pair(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    await deliver(SUBSCRIPTIONS, onboarded(pid="carl"), uow, deps)
    with pytest.raises(PermanentError, match="carl is not part of relationship r1"):
        await deliver(SUBSCRIPTIONS, feedback_requested("carl"), uow, deps)


# --- the end of a relationship, and nudges -------------------------------------------------------

async def test_each_way_a_relationship_ends_has_its_own_kind_message_in_each_readers_tone(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, ended("ended_on_request"), uow, deps)
    to_bram, to_ana = uow.for_("bram")[0], uow.for_("ana")[0]
    assert (to_bram.language, to_bram.subject) == ("nl", "Uw mentorrelatie met Ana Souza is beëindigd")
    assert (to_ana.language, to_ana.subject) == ("pt-BR", "Sobre a sua relação de mentoria com Bram de Vries")
    assert "nunca é um julgamento" in to_ana.body and "geen oordeel" in to_bram.body
    # The program team's own words stay with the team.
    assert all("punctuality" not in d.subject + d.body for d in uow.delivery_log.values())
    assert uow.pairs.pairs["r1"].status == "ended"

    await deliver(SUBSCRIPTIONS, established("r2"), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, ended("term_completed", rid="r2"), uow, deps)
    assert {(d.recipient_id, d.template) for d in uow.delivery_log.values()} == {
        ("bram", "match_ended_term_completed"), ("ana", "match_ended_term_completed")}
    assert uow.for_("ana")[0].subject == "Com gratidão: sua mentoria com Bram de Vries"


@pytest.mark.parametrize(("leaver", "stays", "template", "says"), [
    ("bram", "ana", "match_ended_partner_left_mentee", "procurando um(a) novo(a) mentor(a)"),
    ("ana", "bram", "match_ended_partner_left_mentor", "nieuwe mentee voor"),
])
async def test_when_someone_leaves_only_the_one_who_stays_is_told(uow, deps, leaver, stays, template, says):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    with pytest.raises(NotYetKnown, match="who left relationship r1 is not known here yet"):
        await deliver(SUBSCRIPTIONS, ended("participant_left"), uow, deps)  # the offboarding is on its way
    await deliver(SUBSCRIPTIONS, ev.ParticipantOffboarded(participant_id=leaver, program_id="prog-1"), uow, deps)
    await deliver(SUBSCRIPTIONS, ended("participant_left"), uow, deps)
    (told,) = uow.delivery_log.values()
    assert (told.recipient_id, told.template) == (stays, template)
    assert says in told.body and "punctuality" not in told.body


async def test_what_an_end_causes_waits_for_the_end_and_only_the_one_who_stays_hears_of_it(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    invite = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\n"
              "UID:m1@tandem\r\nDTSTAMP:20270104T120000Z\r\nDTSTART:20270107T120000Z\r\nSEQUENCE:1\r\n"
              "SUMMARY:Mentoring: Ana Souza and Bram de Vries\r\nATTENDEE;CN=Bram de Vries:mailto:bram@example.com\r\n"
              "ATTENDEE;CN=Ana Souza:mailto:ana@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    because_someone_left = ev.MeetingCancelled(
        meeting_id="m1", relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana", occurrence=1,
        start=START, end=START + timedelta(minutes=45), ics=invite, sequence=1, reason="one of you has left",
        reason_code=Reason(code="relationship_ended"))
    closure = ev.FeedbackRequested(request_id="q1", relationship_id="r1", participant_id="ana", role="mentee",
                                   due_at=NOW + timedelta(days=7), kind="closure")
    caused_by_the_end = [because_someone_left, closure, concluded()]
    bram_left = ended("participant_left").model_copy(update={"leaver_id": "bram"})
    for event in caused_by_the_end:  # matching's match.ended is not handled yet
        with pytest.raises(NotYetKnown, match="the end of relationship r1 is not known here yet"):
            await deliver(SUBSCRIPTIONS, event, uow, deps)
    with pytest.raises(NotYetKnown, match="who left relationship r1 is not known here yet"):
        await deliver(SUBSCRIPTIONS, bram_left, uow, deps)  # and that waits for the erasure
    await deliver(SUBSCRIPTIONS, ev.ParticipantErased(participant_id="bram", program_id="prog-1",
                                                      requested_at=NOW), uow, deps)
    for event in [bram_left, *caused_by_the_end]:
        await deliver(SUBSCRIPTIONS, event, uow, deps)
    told = list(uow.delivery_log.values())
    assert sorted(d.template for d in told) == ["closure_requested", "match_ended_partner_left_mentee",
                                                "meeting_cancelled", "relationship_concluded"]
    assert {d.recipient_id for d in told} == {"ana"}
    # Whom she met is told in her language, not by the forgotten name or an English placeholder.
    (cancelled,) = [d for d in told if d.template == "meeting_cancelled"]
    assert "um(a) ex-participante" in cancelled.subject and "former participant" not in cancelled.body
    assert not [d.template for d in told if "Bram" in d.subject + d.body + d.html
                + (d.attachment.content if d.attachment and isinstance(d.attachment.content, str) else "")]


async def test_a_nudge_quotes_the_teams_note_or_does_without(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, nudge(), uow, deps, event_id="n-1")
    to_ana, to_bram = uow.for_("ana")[0], uow.for_("bram")[0]
    assert to_ana.subject == "Pensando em você e em Bram de Vries"  # her indirect tone
    assert "Pediram que passássemos este recado: “Your kickoff went well; keep the rhythm going!”" in to_ana.body
    assert to_bram.subject == "Tijd om bij te praten met Ana Souza?"
    assert "Een bericht van het programmateam: ‘Your kickoff went well" in to_bram.body
    await deliver(SUBSCRIPTIONS, nudge(note=None), uow, deps, event_id="n-2")
    plain = [d for d in uow.delivery_log.values() if d.cause_event_id == "n-2"]
    assert len(plain) == 2 and all("recado" not in d.body and "bericht van" not in d.body and "{" not in d.body
                                   for d in plain)


def nudge_links(deps, delivery) -> list[tuple[str, str, str, str]]:
    """The action links of a nudge, in their order: (label, subject kind, subject, action), read back
    from their signed tokens (the footer's preferences and one-click stop left out)."""
    found = []
    for label, token in re.findall(r"^(.+?): https?://[^/]+/a/([^\s?]+)", delivery.body, re.M):
        link = deps.links.signer.read(token, NOW)
        if link.subject_kind != "participant":
            found.append((label, link.subject_kind, link.subject_id, link.action))
    return found


AGREE_PT, AGREE_NL = "Combinar como vocês vão trabalhar juntos", "Afspreken hoe u samenwerkt"
END_PT, END_NL = "Encerrar esta mentoria antes do previsto", "Dit mentortraject eerder beëindigen"


def assert_agreeing_then_ending_offered(deps, uow) -> None:
    """Nothing agreed yet: each is offered to agree on how to work together, then to end early."""
    assert nudge_links(deps, uow.for_("ana")[0]) == [(AGREE_PT, "relationship", "r1", "agreement"),
                                                     (END_PT, "relationship", "r1", "end")]
    assert nudge_links(deps, uow.for_("bram")[0]) == [(AGREE_NL, "relationship", "r1", "agreement"),
                                                      (END_NL, "relationship", "r1", "end")]


async def ana_answered_and_a_meeting_planned(uow, deps) -> None:
    """Ana answered her agreement link, and meeting m1 (its version 2) is planned."""
    await uow.subjects.record_agreement(Agreement("r1", "ana", {"cadence_days": 14}, NOW))
    await uow.subjects.record_act(LinkAct("ana/relationship/r1/agreement/", "saved", "c-1", NOW))
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingScheduled, kind="recurring", sequence=2), uow, deps)


async def test_a_nudge_offers_ways_forward_for_the_pairs_state_and_only_then_ending_early(uow, deps):
    """No agreement yet: both are offered to agree, then to end early. Once Ana has answered, Bram is
    asked to confirm what she proposed and Ana is not asked again. A planned meeting can be moved from
    the nudge (its current version); a cancelled or past one is not offered."""
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, nudge(), uow, deps, event_id="n-1")
    assert_agreeing_then_ending_offered(deps, uow)
    assert "de eerste link hieronder brengt u daar" in uow.for_("bram")[0].body

    # Ana answered her agreement link; a meeting is planned, another cancelled, a third already over.
    await ana_answered_and_a_meeting_planned(uow, deps)
    earlier = {"meeting_id": "m0", "start": START - timedelta(days=1), "end": START - timedelta(days=1)}
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingScheduled, kind="recurring", sequence=0).model_copy(
        update=earlier), uow, deps)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCancelled, sequence=1).model_copy(update=earlier), uow, deps)
    m1 = await uow.subjects.meeting("m1")
    await uow.subjects.save_meeting(replace(m1, meeting_id="m-past", starts_at=NOW - timedelta(days=3),
                                            ends_at=NOW - timedelta(days=3)))
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, nudge(), uow, deps, event_id="n-2")
    to_ana, to_bram = uow.for_("ana")[0], uow.for_("bram")[0]
    assert nudge_links(deps, to_ana) == [("Remarcar nosso próximo encontro", "meeting", "m1", "change"),
                                         (END_PT, "relationship", "r1", "end")]
    assert nudge_links(deps, to_bram) == [("Bevestigen hoe u samenwerkt", "relationship", "r1", "agreement"),
                                          ("Ons volgende gesprek verzetten", "meeting", "m1", "change"),
                                          (END_NL, "relationship", "r1", "end")]
    assert "Ana Souza heeft voorgesteld hoe u samenwerkt" in to_bram.body
    assert "Uw volgende gesprek staat gepland op" in to_bram.body and "eerste link" not in to_bram.body
    moved = re.search(r"https?://[^/]+/a/([^\s?]+)", to_ana.body.split("Remarcar nosso próximo encontro: ")[1])
    link = deps.links.signer.read(moved.group(1), NOW)
    assert link.variant == "2" and link.expires_at == START  # this version of the meeting, until it starts


async def test_a_nudge_for_an_ended_relationship_is_refused_and_an_unknown_one_waited_for(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    await deliver(SUBSCRIPTIONS, ended(), uow, deps)
    uow.delivery_log.clear()
    with pytest.raises(PermanentError, match="^relationship r1 has ended; only an active pair is nudged$"):
        await deliver(SUBSCRIPTIONS, nudge(), uow, deps)
    with pytest.raises(NotYetKnown, match="relationship r9 not established here yet"):
        await deliver(SUBSCRIPTIONS, nudge(rid="r9"), uow, deps)
    assert uow.delivery_log == {}


# --- goals, missed meetings, the end of the term, and the closing celebration ---------------------

async def test_a_reached_goal_is_celebrated_with_both(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, goal_achieved(), uow, deps)
    to_bram, to_ana = uow.for_("bram")[0], uow.for_("ana")[0]
    assert to_bram.subject == "Doel bereikt: public speaking"
    assert "você e Bram de Vries alcançaram o objetivo “public speaking”" in to_ana.body


async def test_missed_meetings_get_a_kind_nudge_that_blames_nobody(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, meetings_missed(), uow, deps)
    to_bram, to_ana = uow.for_("bram")[0], uow.for_("ana")[0]
    assert "Uw laatste 2 geplande bijeenkomsten met Ana Souza zijn niet doorgegaan." in to_bram.body
    assert "Parece que os seus últimos 2 encontros planejados com Bram de Vries não puderam acontecer." in to_ana.body
    assert "isso é muito normal" in to_ana.body  # her indirect tone: nothing is anyone's fault


async def test_missed_meetings_offer_ways_forward_for_the_pairs_state_before_ending_early(uow, deps):
    """As the team's nudge does: agree on how to work together while nothing is recorded; once Ana has
    answered, Bram confirms what she proposed; the next planned meeting, named on each reader's clock,
    can be moved; ending early comes last."""
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, meetings_missed(), uow, deps, event_id="mm-1")
    assert_agreeing_then_ending_offered(deps, uow)
    assert "Kunt u samen een nieuw moment afspreken" in uow.for_("bram")[0].body

    await ana_answered_and_a_meeting_planned(uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, meetings_missed(), uow, deps, event_id="mm-2")
    to_ana, to_bram = uow.for_("ana")[0], uow.for_("bram")[0]
    assert nudge_links(deps, to_ana) == [("Remarcar nosso próximo encontro", "meeting", "m1", "change"),
                                         (END_PT, "relationship", "r1", "end")]
    assert nudge_links(deps, to_bram) == [("Bevestigen hoe u samenwerkt", "relationship", "r1", "agreement"),
                                          ("Ons volgende gesprek verzetten", "meeting", "m1", "change"),
                                          (END_NL, "relationship", "r1", "end")]
    assert "Ana Souza heeft voorgesteld hoe u samenwerkt" in to_bram.body
    # The same meeting on each reader's clock.
    assert "Uw volgende gesprek staat gepland op donderdag 7 januari 2027, 13:00 (Midden-Europese tijd)" in to_bram.body
    assert ("Seu próximo encontro está marcado para quinta-feira, 7 de janeiro de 2027 09:00 (Horário de Brasília)"
            in to_ana.body)
    assert "Kunt u samen een nieuw moment afspreken" not in to_bram.body


async def test_the_end_of_the_term_is_announced_a_week_ahead_with_the_day_on_each_calendar(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, end_scheduled(), uow, deps)
    to_bram, to_ana = uow.for_("bram")[0], uow.for_("ana")[0]
    assert to_bram.subject == "Uw mentortraject met Ana Souza eindigt op maandag 11 januari 2027"
    assert "11 de janeiro de 2027" in to_ana.body and to_ana.not_before <= NOW + timedelta(days=7)


async def test_the_closing_celebration_attaches_a_certificate_in_each_readers_language(uow, deps):
    import base64

    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    await deliver(SUBSCRIPTIONS, programs_configured(), uow, deps)
    await deliver(SUBSCRIPTIONS, ended("term_completed"), uow, deps)
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, concluded(), uow, deps)
    to_bram, to_ana = uow.for_("bram")[0], uow.for_("ana")[0]
    assert (to_bram.attachment.filename, to_ana.attachment.filename) == ("certificaat.pdf", "certificado.pdf")
    assert to_ana.attachment.mime_type == "application/pdf" and to_ana.attachment.encoding == "base64"
    document = base64.b64decode(to_ana.attachment.content)
    assert document.startswith(b"%PDF")
    from tests.services.notifications.domain.test_certificate import text_of
    assert "Pilot" in text_of(document) and "Ana Souza" in text_of(document)  # the program by its name
    assert "Vocês tiveram 9 encontros." not in to_ana.body and "Vocês se encontraram 9 vezes." in to_ana.body
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, concluded(certificate=False), uow, deps, event_id="again")
    assert all(d.attachment is None for d in uow.delivery_log.values())


def programs_configured() -> ev.ProgramConfigured:
    return ev.ProgramConfigured(program_id="prog-1", name="Pilot")


async def test_what_pages_need_is_kept_without_sending_anything(uow, deps):
    await deliver(SUBSCRIPTIONS, proposed(), uow, deps)
    assert (await uow.subjects.proposal("p1")).open
    await deliver(SUBSCRIPTIONS, ev.MatchDeclined(proposal_id="p1", program_id="prog-1", mentee_id="ana",
                                                  mentor_id="bram", reason_code="no_time"), uow, deps)
    assert (await uow.subjects.proposal("p1")).status == "declined"
    uow.delivery_log.clear()
    recorded = ev.RelationshipAgreementRecorded(relationship_id="r1", participant_id="ana", cadence_days=21,
                                                duration_minutes=60, response_time_hours=24, goals=["b", "a"],
                                                recorded_at=NOW)
    await deliver(SUBSCRIPTIONS, recorded, uow, deps)
    older = recorded.model_copy(update={"cadence_days": 7, "recorded_at": NOW - timedelta(hours=1)})
    await deliver(SUBSCRIPTIONS, older, uow, deps)
    assert (await uow.subjects.agreement("r1")).terms["cadence_days"] == 21  # the latest answer stands
    assert uow.delivery_log == {}


async def test_a_switched_off_kind_of_message_is_not_written(uow, deps):
    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    ana = (await uow.participants.require("ana"))[0]
    from dataclasses import replace as _replace
    if not hasattr(ana, "muted"):
        pytest.skip("the participant replica does not keep muted kinds yet")
    uow.participants.people["ana"] = _replace(ana, muted=frozenset({"reminders"}))
    uow.delivery_log.clear()
    await deliver(SUBSCRIPTIONS, reminder(), uow, deps)
    assert {d.recipient_id for d in uow.delivery_log.values()} == {"bram"}


async def test_nobody_is_asked_about_a_meeting_whose_attendance_is_known(uow, deps):
    from services.notifications.service_layer.attendance import AttendanceQuestions
    from contextlib import asynccontextmanager

    await deliver(SUBSCRIPTIONS, established(), uow, deps)
    over = meeting(ev.MeetingScheduled).model_copy(update={"start": NOW - timedelta(hours=2),
                                                           "end": NOW - timedelta(hours=1)})
    await deliver(SUBSCRIPTIONS, over, uow, deps)
    await deliver(SUBSCRIPTIONS, over.model_copy(update={"meeting_id": "m2"}), uow, deps)
    completed = ev.MeetingCompleted(**{k: getattr(over, k) for k in ev.MeetingCompleted.model_fields})
    await deliver(SUBSCRIPTIONS, completed, uow, deps)  # m1's attendance came from a portal
    uow.delivery_log.clear()

    @asynccontextmanager
    async def transaction():
        yield uow
    await AttendanceQuestions(transaction, FixedClock(NOW), deps).step()
    asked = {(d.recipient_id, d.template) for d in uow.delivery_log.values()}
    assert asked == {("ana", "attendance_requested"), ("bram", "attendance_requested")}
    assert {d.cause_event_id for d in uow.delivery_log.values()} == {"meeting-over/m2/0"}
    await AttendanceQuestions(transaction, FixedClock(NOW), deps).step()
    assert len(uow.delivery_log) == 2  # asked once


@pytest.mark.parametrize("requested_by, to_bram, to_ana", [
    ("ana", "Ana Souza heeft uw bijeenkomst verzet naar", "Como você pediu, o seu encontro com Bram de Vries"),
    ("ops:sanne", "Het programmateam heeft uw bijeenkomst met Ana Souza verzet",
     "A equipe do programa remarcou o seu encontro com Bram de Vries"),
    (None, "Uw bijeenkomst met Ana Souza is verzet naar", "Seu encontro com Bram de Vries agora será em"),
])
async def test_a_moved_meeting_tells_each_of_the_pair_who_moved_it(uow, deps, requested_by, to_bram, to_ana):
    await deliver(SUBSCRIPTIONS, established(), uow, deps, event_id="intro")
    uow.delivery_log.clear()
    moved = meeting(ev.MeetingRescheduled, previous_start=START - timedelta(days=1), sequence=1,
                    requested_by=requested_by)
    await deliver(SUBSCRIPTIONS, moved, uow, deps, event_id="moved")
    (for_bram,), (for_ana,) = uow.for_("bram"), uow.for_("ana")
    assert to_bram in for_bram.body and to_ana in for_ana.body
    assert for_ana.attachment is not None  # the updated invite, as before
