"""Answers that arrive after someone of the pair was forgotten on request keep no words: the
comment is dropped, the rating still counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps
from services.feedback.settings import FeedbackSettings
from shared.contracts import events as ev
from tests.services.feedback.fakes import FakeFeedbackUnitOfWork
from tests.support.fakes import FixedClock, deliver

NOW = datetime(2027, 2, 1, 9, tzinfo=UTC)
DEPS = FeedbackDeps(FeedbackSettings(feedback_due_days=7))


@pytest.fixture
async def uow() -> FakeFeedbackUnitOfWork:
    uow = FakeFeedbackUnitOfWork(FixedClock(NOW))
    await deliver(SUBSCRIPTIONS, ev.MatchEstablished(relationship_id="r1", proposal_id="p1", program_id="g",
                                                     mentee_id="ana", mentor_id="bram", established_at=NOW), uow, DEPS)
    return uow


def answer(fid: str, by: str) -> ev.FeedbackSubmitted:
    return ev.FeedbackSubmitted(feedback_id=fid, relationship_id="r1", participant_id=by, kind="closure", rating=4,
                                comment="Bram Ölçer, İstanbul office, helped me a lot")


@pytest.mark.parametrize("erased", ["bram", "ana"])  # about them (the partner writes) or by them (a replay)
async def test_a_comment_by_or_about_an_erased_person_is_not_kept(uow, erased):
    uow.participants.tombstones.add(erased)
    await deliver(SUBSCRIPTIONS, answer("f1", "ana"), uow, DEPS)
    kept = uow.tables.feedback["f1"]
    assert kept.comment is None and kept.rating == 4


async def test_a_comment_in_a_pair_without_an_erasure_is_kept(uow):
    uow.participants.tombstones.add("someone-else")
    await deliver(SUBSCRIPTIONS, answer("f1", "ana"), uow, DEPS)
    assert uow.tables.feedback["f1"].comment == "Bram Ölçer, İstanbul office, helped me a lot"
