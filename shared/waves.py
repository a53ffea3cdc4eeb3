"""Set-wise handlers: many events of a batch applied with a few statements instead of a few each.

A handler stays the reference: `async def on_x(event, uow, deps)` applies one event. It may also
say how to apply many at once, with `@set_wise(many)`:

    async def on_profiles(events: Sequence[Applied], uow, deps) -> None: ...   # one wave, together

    @set_wise(on_profiles)
    async def on_profile(event, uow, deps) -> None: ...

The consumer (shared/consumer.py) cuts each batch into *waves*: runs of consecutive events, in the
batch's order, whose handlers share the same `many`, each claimed new in the inbox, and whose lock
resources (by default the event's key: a person, a pair, a program) appear once. A wave is applied
by one call of `many` in the batch's transaction. So nothing is reordered, and `many` must leave
the same state and emit the same events as the reference applied to the wave's events one after
the other (a property test holds each `many` to it). If a wave fails, the batch's transaction is
rolled back; the events before the wave are applied again, then the wave's one event at a time, where
the failing event is found and parked, and the rest of the batch goes on as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.envelope import Envelope

Resources = Callable[[Any], Iterable[Hashable]]


@dataclass(frozen=True)
class Applied:
    """One event of a wave: what it says, and its envelope (the cause of what it emits)."""

    envelope: Envelope
    data: Any


Many = Callable[[Sequence[Applied], Any, Any], Awaitable[None]]  # (wave, unit of work, deps)


def _key(data: Any) -> Iterable[Hashable]:
    return (data.key_value(),)


def set_wise(many: Many, *, resources: Resources = _key):
    """Declare that `many` applies a wave of this handler's events together (module docstring).
    `resources`: what an event locks or changes that another event of the same wave must not."""

    def declare(one):
        one.many, one.resources = many, resources
        return one

    return declare


def many_of(handler: Any) -> Many | None:
    return getattr(handler, "many", None)


def wave_end(handlers: Sequence[Any], data: Sequence[Any], fresh: Sequence[bool], start: int) -> int:
    """Where the wave that starts at `start` ends (exclusive); `start + 1` when it is one event."""
    many = many_of(handlers[start])
    if many is None or not fresh[start]:
        return start + 1
    taken: set[Hashable] = set(handlers[start].resources(data[start]))
    end = start + 1
    while end < len(handlers) and fresh[end] and many_of(handlers[end]) is many:
        needs = set(handlers[end].resources(data[end]))
        if needs & taken:
            break
        taken |= needs
        end += 1
    return end
