"""Matching never brings back someone forgotten on request: their later profile is refused with the
reason `erased`, whether the erasure came after or before their onboarding, and neither a request
nor a cohort round proposes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.settings import MatchingSettings
from shared.contracts import events as ev
from shared.errors import PermanentError
from tests.services.matching.fakes import FakeMatchingUnitOfWork, apply
from tests.support.fakes import FixedClock
from tests.support.people import onboarded, person

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
DEPS = MatchingDeps.from_settings(MatchingSettings(response_window_hours=72))


def mentor(pid: str, model=ev.ParticipantOnboarded) -> ev.ParticipantOnboarded:
    return model.model_validate(person(pid=pid, roles=("mentor",), seniority=8, capacity=3,
                                       skills=("public speaking",)))


def erased(pid: str) -> ev.ParticipantErased:
    return ev.ParticipantErased(participant_id=pid, program_id="prog-1", requested_at=NOW)


@pytest.fixture
def uow() -> FakeMatchingUnitOfWork:
    return FakeMatchingUnitOfWork(FixedClock(NOW))


async def given(uow, *events) -> None:
    await apply(uow, DEPS, *events)


@pytest.mark.parametrize("erased_first", [False, True], ids=["erased after onboarding", "erased before onboarding"])
async def test_a_forgotten_mentor_comes_back_by_no_profile_and_is_never_proposed(uow, erased_first):
    if erased_first:
        await given(uow, erased("best"))
    else:
        await given(uow, mentor("best"), erased("best"))
    for later in (mentor("best"), mentor("best", ev.ParticipantUpdated)):
        with pytest.raises(PermanentError, match="^erased$"):
            await given(uow, later)
    await given(uow, mentor("other"), *[onboarded(pid=p, seniority=2, goals=("public speaking",))
                                        for p in ("ana", "bo")])
    await given(uow, ev.MatchRequested(mentee_id="ana", program_id="prog-1"),
                ev.CohortRoundRequested(program_id="prog-1", round_id="r1"))
    proposed = uow.of_type(ev.MatchProposed)
    assert {p.mentee_id for p in proposed} == {"ana", "bo"} and {p.mentor_id for p in proposed} == {"other"}
