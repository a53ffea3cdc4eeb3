"""Fakes for handler unit tests: a unit of work that keeps state in dictionaries and collects what
handlers emit, and the shared replicas in memory. Each service's own fakes build on these
(`tests/services/<service>/fakes.py`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared.clock import ProgramClock
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventData, type_of
from shared.errors import NotYetKnown
from shared.people import Choices, Pair, Participant
from shared.programs import ConfiguredProgram, ProgramSettings
from shared.replica import Erased, require_all


class FixedClock:
    """A program clock that stands still until a test moves it."""

    speed = 1.0

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.at += timedelta(**delta)

    def real_seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.at).total_seconds())


class FakeParticipantDirectory:
    """As `shared.replica.ParticipantDirectory`: `people` holds the profiles as saved, `choices` the
    people's own choices, laid over the profile on every read."""

    def __init__(self) -> None:
        self.people: dict[str, Participant] = {}
        self.choices: dict[str, Choices] = {}
        self.tombstones: set[str] = set()  # erased_participants

    async def save(self, participant: Participant) -> None:
        if participant.choices is not None:
            raise ValueError(f"participant {participant.participant_id} carries their own choices; save the profile")
        if participant.participant_id in self.tombstones:
            raise Erased()
        self.people[participant.participant_id] = participant.with_(active=True, erased=False)

    async def is_erased(self, participant_id: str) -> bool:
        return participant_id in self.tombstones

    async def erased_among(self, ids) -> set[str]:
        return set(ids) & self.tombstones

    async def erase(self, participant_id: str) -> Participant | None:
        self.tombstones.add(participant_id)
        before = self._read(participant_id)
        if before is None or before.erased:
            return None
        self.people[participant_id] = before.forgotten()
        self.choices.pop(participant_id, None)
        return before

    async def record_choices(self, participant_id: str, choices: Choices) -> bool:
        found = self.people.get(participant_id)
        if found is None and participant_id in self.tombstones:
            return False
        if found is None:
            raise NotYetKnown(f"no profile yet for {participant_id}")
        stored = self.choices.get(participant_id)
        if found.erased or (stored is not None and stored.changed_at > choices.changed_at):
            return False
        self.choices[participant_id] = choices
        return True

    def _read(self, participant_id: str) -> Participant | None:
        found = self.people.get(participant_id)
        return None if found is None else found.with_choices(self.choices.get(participant_id))

    async def deactivate(self, participant_id: str) -> bool:
        found = self.people.get(participant_id)
        if found is None or not found.active:
            return False
        self.people[participant_id] = found.with_(active=False)
        return True

    async def get(self, participant_id: str, *, lock: bool = False) -> Participant | None:
        return self._read(participant_id)

    async def many(self, ids: list[str]) -> dict[str, Participant]:
        return {i: self._read(i) for i in ids if i in self.people}

    async def require(self, *ids: str) -> list[Participant]:
        return require_all(await self.many(list(ids)), ids)

    async def in_program(self, program_id: str) -> list[Participant]:
        return sorted((self._read(p.participant_id) for p in self.people.values()
                       if p.active and not p.erased and p.program_id == program_id), key=lambda p: p.participant_id)

    async def active(self) -> list[Participant]:
        return [self._read(p.participant_id) for p in self.people.values() if p.active and not p.erased]


class FakeProgramDirectory:
    def __init__(self) -> None:
        self.programs: dict[str, ConfiguredProgram] = {}

    async def save(self, program: ConfiguredProgram) -> None:
        self.programs[program.program_id] = program

    async def configured(self, program_id: str) -> ConfiguredProgram | None:
        return self.programs.get(program_id)

    async def configured_many(self, program_ids) -> dict[str, ConfiguredProgram]:
        return {i: self.programs[i] for i in sorted(set(program_ids)) if i in self.programs}

    async def get(self, program_id: str, defaults) -> ProgramSettings:
        return ProgramSettings.resolve(program_id, self.programs.get(program_id), defaults)

    async def get_many(self, program_ids, defaults) -> dict[str, ProgramSettings]:
        return {i: ProgramSettings.resolve(i, self.programs.get(i), defaults) for i in sorted(set(program_ids))}

    async def all(self) -> list[ConfiguredProgram]:
        return sorted(self.programs.values(), key=lambda p: p.program_id)


class FakePairDirectory:
    def __init__(self) -> None:
        self.pairs: dict[str, Pair] = {}

    async def add(self, pair: Pair) -> bool:
        if pair.relationship_id in self.pairs:
            return False
        self.pairs[pair.relationship_id] = pair
        return True

    async def end(self, relationship_id: str, *, reason: str, at: datetime) -> bool:
        pair = self.pairs.get(relationship_id)
        if pair is None or not pair.active:
            return False
        self.pairs[relationship_id] = replace(pair, status="ended", ended_at=at, end_reason=reason)
        return True

    async def get(self, relationship_id: str, *, lock: bool = False) -> Pair | None:
        return self.pairs.get(relationship_id)

    async def require(self, relationship_id: str, *, lock: bool = False) -> Pair:
        pair = self.pairs.get(relationship_id)
        if pair is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return pair


class FakeUnitOfWork:
    """What handlers see of a unit of work, without a database: `emitted` collects their events."""

    def __init__(self, clock: ProgramClock | FixedClock) -> None:
        self.clock = clock
        self.cause: Envelope | None = None
        self.emitted: list[EventData] = []
        self.rollbacks: list = []
        self.scrubbed: list[str] = []
        self.participants = FakeParticipantDirectory()
        self.program_settings = FakeProgramDirectory()
        self.pairs = FakePairDirectory()

    def now(self) -> datetime:
        return self.clock.now()

    def emit(self, data: EventData, *, subject: str | None = None, event_id: str | None = None) -> None:
        self.emitted.append(data)

    def after_commit(self, callback) -> None:
        callback()

    async def scrub_personal(self, strings: tuple[str, ...]) -> int:
        self.scrubbed.extend(strings)
        return 0

    def after_rollback(self, callback) -> None:
        self.rollbacks.append(callback)

    def of_type(self, model: type[EventData]) -> list[EventData]:
        return [e for e in self.emitted if isinstance(e, model)]


async def deliver(subscriptions, data: EventData, uow: FakeUnitOfWork, deps, *, event_id: str | None = None) -> None:
    """Hand one event to the handler its service's table names, as the consumer would (minus the inbox)."""
    uow.cause = new_envelope(type=type_of(type(data)), source="/test", data=data, time=uow.now(), id=event_id)
    await subscriptions[type(data)](data, uow, deps)


async def claim_through_uow(uow, topic: str, claims) -> list[bool]:
    """The consumer's inbox claim (Runtime.claim_inbox) for a fake unit of work: one `claim_inbox` call
    per event, as the fake records them."""
    return [await uow.claim_inbox(topic, c.event_id, c.event_type, c.digest()) for c in claims]
