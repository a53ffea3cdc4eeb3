"""How a service says what it handles: one function builds its table, and refuses what is ambiguous.

    SUBSCRIPTIONS = subscriptions(
        replica.PARTICIPANT_SUBSCRIPTIONS,                       # a shared table, checked the same way
        on(ev.MatchEstablished, on_match_established),           # a fact this service observes
        handle(ev.MeetingCancelRequested, on_cancel_requested),  # an order it decides on
    )

- A second handler for the same event class is refused (`DuplicateHandler`) where the table is
  built, at import: a dict literal would silently keep the last one. A service that handles one
  of a shared table's events its own way says so: `except_for(replica.PARTICIPANT_SUBSCRIPTIONS,
  ev.ParticipantOnboarded)`.
- Facts (`ev.Event`) are observed with `on`, orders (`ev.Command`) handled with `handle`; mixing them
  up is refused too, so a handler's name says which kind of message it acts on.
- `on` and `handle` are typed: the handler must take the class it is registered for.

The consumer (shared/consumer.py) reads the table; `tandem.eventdocs` lists it in docs/events.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from shared.contracts.events import Command, Event, EventData
from shared.dead_letters import DeadLetter, DeadLetters

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=Command)
Handler = Callable[[Any, Any, Any], Awaitable[None]]


class DuplicateHandler(ValueError):
    """Two handlers for one event class in one service."""


class Subscription(NamedTuple):
    message: type[EventData] | type[DeadLetters]
    handler: Handler


def on(event: type[E], handler: Callable[[E, Any, Any], Awaitable[None]]) -> Subscription:
    """Observe a fact."""
    if not (isinstance(event, type) and issubclass(event, Event)):
        raise TypeError(f"{getattr(event, '__name__', event)} is not an event; commands are handled: handle(...)")
    return Subscription(event, handler)


def on_dead_letters(handler: Callable[[DeadLetter, Any, Any], Awaitable[None]]) -> Subscription:
    """Observe every dead letter, of every topic (`shared.dead_letters`)."""
    return Subscription(DeadLetters, handler)


def handle(command: type[C], handler: Callable[[C, Any, Any], Awaitable[None]]) -> Subscription:
    """Decide on an order (or a participant's answer)."""
    if not (isinstance(command, type) and issubclass(command, Command)):
        raise TypeError(f"{getattr(command, '__name__', command)} is not a command; events are observed: on(...)")
    return Subscription(command, handler)


def subscriptions(*parts: Subscription | Mapping[Any, Handler]) -> dict[Any, Handler]:
    """A service's table, event class -> handler, from subscriptions and shared tables, in order."""
    table: dict[Any, Handler] = {}
    for part in parts:
        entries = (
            [part]
            if isinstance(part, Subscription)
            else [_subscription(message, handler) for message, handler in part.items()]
        )
        for message, handler in entries:
            if message in table:
                raise DuplicateHandler(
                    f"{message.__name__} has two handlers: {_name(table[message])} and {_name(handler)}"
                )
            table[message] = handler
    return table


def _subscription(message: Any, handler: Handler) -> Subscription:
    if message is DeadLetters:
        return on_dead_letters(handler)
    return (on if issubclass(message, Event) else handle)(message, handler)


def except_for(table: Mapping[Any, Handler], *messages: type) -> dict[Any, Handler]:
    """A shared table without the classes a service handles its own way (said where it is built)."""
    unknown = [m.__name__ for m in messages if m not in table]
    if unknown:
        raise KeyError(f"not in the table: {', '.join(unknown)}")
    return {message: handler for message, handler in table.items() if message not in messages}


def _name(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"
