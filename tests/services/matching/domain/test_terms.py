from datetime import UTC, datetime, timedelta

from services.matching.domain.model import Relationship
from shared.contracts import events as ev

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def relationship() -> Relationship:
    return Relationship(relationship_id="r1", proposal_id="p1", program_id="g", mentee_id="ana", mentor_id="m1",
                        established_at=T0)


def test_the_end_is_announced_once_a_week_before_and_the_relationship_ends_at_its_term():
    r = relationship()
    assert r.follow_term(term_days=30, now=T0 + timedelta(days=22, hours=23)) == []
    (notice,) = r.follow_term(term_days=30, now=T0 + timedelta(days=23))
    assert isinstance(notice, ev.RelationshipEndScheduled) and notice.ends_at == T0 + timedelta(days=30)
    assert r.follow_term(term_days=30, now=T0 + timedelta(days=29)) == []  # once
    (ended,) = r.follow_term(term_days=30, now=T0 + timedelta(days=30))
    assert isinstance(ended, ev.MatchEnded) and (ended.reason_code, ended.reason) == ("term_completed", "term completed")
    assert r.status == "ended" and r.follow_term(term_days=30, now=T0 + timedelta(days=31)) == []


def test_a_relationship_that_ended_otherwise_has_no_term_to_follow():
    r = relationship()
    r.end_on_request(requested_by="ops", reason="fresh start", now=T0 + timedelta(days=3))
    assert r.follow_term(term_days=7, now=T0 + timedelta(days=10)) == []
