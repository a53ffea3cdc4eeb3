"""The term loop on fake units of work: the heads-up a week before, the end at `term_days`, the
mentor's place free again; once each, whichever replica looks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.service_layer.loops import follow_terms
from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from tests.services.matching.fakes import FakeMatchingUnitOfWork, MatchingTables, apply
from tests.support.fakes import FixedClock
from tests.support.people import onboarded

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)


async def take(event: ev.EventData, uow, deps) -> None:
    await apply(uow, deps, event)


class Replica:
    """What the loop needs of its service: deps, a clock and transactions on the shared tables."""

    def __init__(self, clock: FixedClock, tables: MatchingTables, deps: MatchingDeps) -> None:
        self.clock, self.tables, self.deps, self.uows = clock, tables, deps, []

    def transaction(self):
        replica = self

        class Context:
            async def __aenter__(self):
                replica.uows.append(FakeMatchingUnitOfWork(replica.clock, replica.tables))
                return replica.uows[-1]

            async def __aexit__(self, *exc):
                await replica.uows[-1].commit()
                return False
        return Context()

    def emitted(self) -> list[ev.EventData]:
        return [e for u in self.uows for e in u.emitted]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def tables() -> MatchingTables:
    return MatchingTables()


@pytest.fixture
def deps() -> MatchingDeps:
    return MatchingDeps.from_settings(MatchingSettings(response_window_hours=72))


async def establish(uow, deps, mentee_id: str = "ana") -> ev.MatchEstablished:
    await take(ev.MatchRequested(mentee_id=mentee_id, program_id="prog-1"), uow, deps)
    proposal = uow.of_type(ev.MatchProposed)[-1]
    await take(ev.ProposalAccepted(proposal_id=proposal.proposal_id,
                                                     participant_id=proposal.mentor_id), uow, deps)
    return uow.of_type(ev.MatchEstablished)[-1]


async def test_a_week_before_the_term_ends_both_are_told_and_at_its_end_the_mentors_place_is_free(clock, tables, deps):
    uow = FakeMatchingUnitOfWork(clock, tables)
    for event in (ev.ProgramConfigured(program_id="prog-1", name="Short", term_days=14),
                  onboarded(pid="m1", roles=("mentor",), seniority=8, capacity=1, skills=("public speaking",)),
                  onboarded(pid="ana", seniority=2, goals=("public speaking",)),
                  onboarded(pid="bo", seniority=2, goals=("public speaking",))):
        await take(event, uow, deps)
    established = await establish(uow, deps)
    a, b = Replica(clock, tables, deps), Replica(clock, tables, deps)

    clock.advance(days=6, hours=23)
    passed = await follow_terms(a)
    assert not a.emitted() and passed.due_in == timedelta(hours=1).total_seconds()
    clock.advance(hours=1)  # a week before the end
    await follow_terms(a)
    await follow_terms(b)  # another replica looks too: told once
    (scheduled,) = a.emitted() + b.emitted()
    assert isinstance(scheduled, ev.RelationshipEndScheduled)
    assert (scheduled.relationship_id, scheduled.ends_at) == (established.relationship_id, NOW + timedelta(days=14))
    assert tables.relationships[established.relationship_id].end_notice_at == clock.at

    # Meanwhile the mentor is full: Bo gets nobody.
    await take(ev.MatchRequested(mentee_id="bo", program_id="prog-1"), uow, deps)
    assert uow.of_type(ev.MatchUnavailable)[-1].reason_code == "mentors_at_capacity"

    clock.advance(days=7)
    await follow_terms(b)
    await follow_terms(a)
    ended = [e for e in a.emitted() + b.emitted() if isinstance(e, ev.MatchEnded)]
    assert [(e.relationship_id, e.reason_code, e.reason, e.ended_at) for e in ended] == \
        [(established.relationship_id, "term_completed", "term completed", clock.at)]
    assert tables.relationships[established.relationship_id].status == "ended"
    assert "m1" in b.uows[-2].programs.touched["prog-1"]  # every replica's index sees the free place
    assert not [e for e in b.emitted() if isinstance(e, ev.MatchProposed)]  # a completed term is no reason to rematch
    assert (await follow_terms(a)).due_in is None  # nothing left to follow

    await take(ev.MatchRequested(mentee_id="bo", program_id="prog-1"), uow, deps)
    assert (uow.of_type(ev.MatchProposed)[-1].mentee_id, uow.of_type(ev.MatchProposed)[-1].mentor_id) == ("bo", "m1")


async def test_the_term_in_force_counts_and_a_relationship_ended_before_is_left_alone(clock, tables, deps):
    uow = FakeMatchingUnitOfWork(clock, tables)
    for event in (onboarded(pid="m1", roles=("mentor",), seniority=8, capacity=2, skills=("public speaking",)),
                  onboarded(pid="ana", seniority=2, goals=("public speaking",)),
                  onboarded(pid="bo", seniority=2, goals=("public speaking",))):
        await take(event, uow, deps)
    first, second = await establish(uow, deps, "ana"), await establish(uow, deps, "bo")
    loop = Replica(clock, tables, deps)
    assert (await follow_terms(loop)).due_in == timedelta(days=180 - 7).total_seconds()  # the deployment's default
    await take(ev.RelationshipEndRequested(relationship_id=second.relationship_id,
                                                             requested_by="ops:sanne", reason="a fresh start"), uow, deps)
    await take(ev.ProgramConfigured(program_id="prog-1", name="Shorter", term_days=30), uow, deps)
    clock.advance(days=31)  # the heads-up's moment has passed too: the relationship simply ends
    await follow_terms(loop)
    assert [(type(e).__name__, e.relationship_id) for e in loop.emitted()] == [("MatchEnded", first.relationship_id)]
