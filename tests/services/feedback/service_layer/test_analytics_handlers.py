"""The read model's subscriptions on the fake unit of work: each fact lands once, whatever the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from shared.dead_letters import DeadLetter, DeadLetters
from tests.services.feedback.fakes import FakeFeedbackUnitOfWork
from tests.support.fakes import FixedClock, deliver
from tests.support.people import onboarded

NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
DEPS = FeedbackDeps(FeedbackSettings(feedback_due_days=7))


@pytest.fixture
def uow() -> FakeFeedbackUnitOfWork:
    return FakeFeedbackUnitOfWork(FixedClock(NOW))


def proposal(model, pid: str = "prop-1", **extra):
    return model(proposal_id=pid, program_id="g", mentee_id="ana", mentor_id="bram", **extra)


def meeting(model, mid: str = "m1", **extra):
    return model(meeting_id=mid, relationship_id="r1", program_id="g", mentor_id="bram", mentee_id="ana",
                 occurrence=1, start=NOW, end=NOW + timedelta(minutes=45), **extra)


async def test_onboarding_keeps_the_profile_and_its_first_event_time(uow):
    await deliver(SUBSCRIPTIONS, onboarded(pid="ana", program_id="g"), uow, DEPS)
    uow.clock.advance(days=3)
    await deliver(SUBSCRIPTIONS, onboarded(pid="ana", program_id="g"), uow, DEPS)  # told again later
    assert uow.participants.people["ana"].region == "EMEA"
    assert uow.analytics_tables.onboarded == {"ana": ("g", NOW)}


async def test_a_proposal_closes_once_even_when_the_match_overtakes_it(uow):
    await deliver(SUBSCRIPTIONS, ev.MatchEstablished(relationship_id="r1", proposal_id="prop-1", program_id="g",
                                                     mentee_id="ana", mentor_id="bram", established_at=NOW), uow, DEPS)
    await deliver(SUBSCRIPTIONS, proposal(ev.MatchProposed, score=0.8, explanation={}, expires_at=NOW), uow, DEPS)
    await deliver(SUBSCRIPTIONS, proposal(ev.MatchExpired, expired_at=NOW), uow, DEPS)
    row = uow.analytics_tables.proposals["prop-1"]
    assert row["status"] == "accepted" and row["proposed_at"] == NOW
    assert "r1" in uow.pairs.pairs

    await deliver(SUBSCRIPTIONS, proposal(ev.MatchProposed, "prop-2", score=0.5, explanation={}, expires_at=NOW),
                  uow, DEPS)
    await deliver(SUBSCRIPTIONS, proposal(ev.MatchDeclined, "prop-2", reason="busy"), uow, DEPS)
    await deliver(SUBSCRIPTIONS, proposal(ev.MatchDeclined, "prop-2", reason="busy"), uow, DEPS)
    assert uow.analytics_tables.proposals["prop-2"]["status"] == "declined"


async def test_meetings_keep_their_latest_state_and_a_closed_one_stays_closed(uow):
    await deliver(SUBSCRIPTIONS, ev.MatchEstablished(relationship_id="r1", proposal_id="p", program_id="g",
                                                     mentee_id="ana", mentor_id="bram", established_at=NOW), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingScheduled, ics="x"), uow, DEPS)
    moved = NOW + timedelta(days=1)
    await deliver(SUBSCRIPTIONS, ev.MeetingRescheduled(meeting_id="m1", relationship_id="r1", program_id="g",
                                                       mentor_id="bram", mentee_id="ana", occurrence=1, start=moved,
                                                       end=moved, previous_start=NOW, sequence=1, ics="x"), uow, DEPS)
    assert uow.analytics_tables.meetings["m1"]["start"] == moved
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingMissed, absent=["bram"]), uow, DEPS)
    await deliver(SUBSCRIPTIONS, meeting(ev.MeetingCancelled, sequence=2, ics="x"), uow, DEPS)
    assert uow.analytics_tables.meetings["m1"]["status"] == "missed"
    # Feedback's own facts: the health change is counted where feedback makes it.
    assert uow.analytics_tables.health_changes == [("r1", None, "at_risk")]
    assert uow.tables.health["r1"][2] == ("1 of 1 meetings missed",)

    await deliver(SUBSCRIPTIONS, ev.MeetingUnplaceable(relationship_id="r1", program_id="g", occurrence=4,
                                                       reason="no slot"), uow, DEPS)
    await deliver(SUBSCRIPTIONS, ev.RelationshipUnschedulable(relationship_id="r2", program_id="g", mentor_id="c",
                                                              mentee_id="d", reason="never overlap"), uow, DEPS)
    assert uow.analytics_tables.unplaceable == {("r1", 4): "g", ("r2", 0): "g"}


async def test_notifications_and_dead_letters_are_kept_once(uow):
    delivered = ev.NotificationDelivered(notification_id="n1", recipient_id="ana", channel="email", template="t",
                                         language="en", cause_event_id="e", delivered_at=NOW)
    failed = ev.NotificationFailed(notification_id="n2", recipient_id="bram", channel="email", template="t",
                                   cause_event_id="e", error="550", attempts=1)
    for event in (delivered, delivered, failed):
        await deliver(SUBSCRIPTIONS, event, uow, DEPS)
    assert {k: v[1] for k, v in uow.analytics_tables.notifications.items()} == {"n1": "delivered", "n2": "failed"}

    letter = DeadLetter(topic="matches.v1", partition=0, offset=7, reason="bad", error_type="InvalidMessage",
                        service="feedback", failed_at=NOW, event_type="match.proposed", program_id="g")
    await SUBSCRIPTIONS[DeadLetters](letter, uow, DEPS)
    await SUBSCRIPTIONS[DeadLetters](letter, uow, DEPS)
    assert list(uow.analytics_tables.dead_letters) == ["matches.v1.dlq/0/7"]


def test_every_public_fact_the_dashboard_counts_is_subscribed():
    wanted = {ev.ProgramConfigured, ev.ParticipantOnboarded, ev.ParticipantUpdated, ev.ParticipantOffboarded,
              ev.MatchProposed, ev.MatchDeclined, ev.MatchExpired, ev.MatchEstablished, ev.MatchEnded,
              ev.MeetingScheduled, ev.MeetingRescheduled, ev.MeetingCancelled, ev.MeetingCompleted, ev.MeetingMissed,
              ev.MeetingUnplaceable, ev.RelationshipUnschedulable, ev.FeedbackSubmitted, ev.NotificationDelivered,
              ev.NotificationFailed, DeadLetters}
    assert wanted <= set(SUBSCRIPTIONS)
    # Feedback never reads its own output back: its facts are counted where it makes them.
    assert not {ev.FeedbackRequested, ev.RelationshipHealthChanged, ev.RelationshipAtRisk} & set(SUBSCRIPTIONS)
