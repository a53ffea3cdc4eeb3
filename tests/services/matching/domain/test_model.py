"""Matching's aggregates on their own: how a relationship ends, and two people kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.matching.domain.model import Relationship
from shared.contracts import events as ev

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def relationship() -> Relationship:
    return Relationship(relationship_id="rel-1", proposal_id="p-1", program_id="prog-1", mentee_id="ana",
                        mentor_id="bram", established_at=NOW - timedelta(days=30))


def test_ending_on_request_says_who_asked_and_why_once():
    r = relationship()
    (ended,) = r.end_on_request(requested_by="ops:sanne", reason="a fresh start", now=NOW)
    assert isinstance(ended, ev.MatchEnded)
    assert (ended.reason_code, ended.requested_by, ended.reason, ended.ended_at) == (
        "ended_on_request", "ops:sanne", "a fresh start", NOW)
    assert (r.status, r.ended_at, r.end_reason, r.active) == ("ended", NOW, "a fresh start", False)
    assert r.end_on_request(requested_by="ops:piet", reason="again", now=NOW + timedelta(hours=1)) == []
    assert r.leave("bram", reason="left", now=NOW) == [] and r.end_reason == "a fresh start"  # the first end stands


def test_someone_leaving_ends_it_with_no_one_asking_and_says_who_left():
    (ended,) = relationship().leave("ana", reason="offboarded", now=NOW)
    assert (ended.reason_code, ended.requested_by, ended.leaver_id) == ("participant_left", None, "ana")
    with pytest.raises(ValueError, match="carl is not part of relationship rel-1"):
        relationship().leave("carl", reason="offboarded", now=NOW)


def test_two_people_kept_apart_are_apart_in_either_role():
    kept = relationship().keep_apart(by="ops:sanne", now=NOW)
    assert (kept.mentee_id, kept.mentor_id, kept.relationship_id, kept.decided_by) == ("ana", "bram", "rel-1",
                                                                                      "ops:sanne")
    assert kept.concerns("ana", "bram") and kept.concerns("bram", "ana") and not kept.concerns("ana", "cy")
