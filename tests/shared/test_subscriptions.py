"""Building a service's table: one handler per event class, facts observed and orders handled."""

from __future__ import annotations

import pytest

from shared import replica
from shared.contracts import events as ev
from shared.contracts.events import CATALOGUE, COMMAND_TOPICS
from shared.dead_letters import DeadLetters
from shared.subscriptions import DuplicateHandler, except_for, handle, on, on_dead_letters, subscriptions
from tandem.eventdocs import subscription_tables


async def on_established(event: ev.MatchEstablished, uow, deps) -> None: ...


async def on_established_too(event: ev.MatchEstablished, uow, deps) -> None: ...


async def on_cancel(event: ev.MeetingCancelRequested, uow, deps) -> None: ...


async def on_onboarded(event: ev.ParticipantOnboarded, uow, deps) -> None: ...


def test_a_table_is_built_from_subscriptions_and_shared_tables():
    table = subscriptions(replica.PARTICIPANT_SUBSCRIPTIONS, on(ev.MatchEstablished, on_established),
                          handle(ev.MeetingCancelRequested, on_cancel), on_dead_letters(on_established))
    assert table[ev.MatchEstablished] is on_established and table[ev.MeetingCancelRequested] is on_cancel
    assert table[ev.ParticipantUpdated] is replica.on_participant_profile
    assert table[DeadLetters] is on_established


def test_a_second_handler_for_one_event_is_refused_where_the_table_is_built():
    with pytest.raises(DuplicateHandler, match="MatchEstablished has two handlers"):
        subscriptions(on(ev.MatchEstablished, on_established), on(ev.MatchEstablished, on_established_too))
    with pytest.raises(DuplicateHandler, match="ParticipantOnboarded"):
        subscriptions(replica.PARTICIPANT_SUBSCRIPTIONS, on(ev.ParticipantOnboarded, on_onboarded))
    table = subscriptions(except_for(replica.PARTICIPANT_SUBSCRIPTIONS, ev.ParticipantOnboarded),
                          on(ev.ParticipantOnboarded, on_onboarded))
    assert table[ev.ParticipantOnboarded] is on_onboarded
    with pytest.raises(KeyError):
        except_for(replica.PARTICIPANT_SUBSCRIPTIONS, ev.MatchEstablished)


def test_facts_are_observed_and_orders_handled():
    with pytest.raises(TypeError, match="not an event"):
        on(ev.MeetingCancelRequested, on_cancel)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="not a command"):
        handle(ev.MatchEstablished, on_established)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="not an event"):
        on(DeadLetters, on_established)  # type: ignore[type-var]  # dead letters: on_dead_letters


def test_every_message_on_a_command_topic_is_a_command_and_nothing_else_is():
    for topic, types in CATALOGUE.items():
        for event_type, model in types.items():
            assert issubclass(model, ev.Command) == (topic in COMMAND_TOPICS), (topic, event_type)
            assert issubclass(model, ev.Event) != issubclass(model, ev.Command), event_type


def test_every_services_table_is_built_with_the_function():
    for service, table in subscription_tables().items():
        assert subscriptions(table) == dict(table), service  # no class twice, each of the right kind
