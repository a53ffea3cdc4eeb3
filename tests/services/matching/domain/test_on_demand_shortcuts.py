"""The on-demand index's shortcuts give what the full computation gives: the meeting-window rule
checked only on the classes of the current best (then on all), the mentee's row and the parts of
their row kept between requests. The reference is the complete row (`pair_row`, every class's
common meeting starts) computed afresh for each request, ranked by the same `TopK`."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain import MatchIndex, MatchSettings, PairProposal, Unmatched, on_demand
from services.matching.domain.candidates import NEG, TopK, pair_row
from services.matching.domain.features import (
    AvailabilityClasses,
    PeopleTable,
    Vocabularies,
    availability_key,
    encode_rows,
    person_row,
)
from services.matching.domain.overlap import WEEK, class_intervals
from services.matching.domain.rules import excluded_for
from shared.availability import intersect, to_epoch

from .test_properties import pools


def full_ranking(index: MatchIndex, mentee_id: str, at, exclude, k: int) -> list[str]:
    """The k best mentors' ids from the complete row, every rule applied to every mentor."""
    mentee = index._profiles[mentee_id]
    e = person_row(mentee, index._vocab, AvailabilityClasses(), terms="goals")
    start = to_epoch(at)
    horizon = index._horizon(start)
    week = intersect(list(class_intervals(availability_key(mentee), horizon.start, horizon.end)),
                     [(start, start + WEEK)])
    w = index._weights_for(mentee)
    m = index._mentors
    row = pair_row(w, e, m, horizon.overlap_seconds(week), m.avail, horizon.common_starts(week))
    cols, _ = excluded_for(mentee_id, index._slot, index._graph, exclude)
    row[cols] = NEG
    idx, _ = TopK(k, w.steps.span)(row)
    return [m.ids[j] for j in idx.tolist()]


@pytest.mark.parametrize("rounds", [0, 1, 3, 50])
@settings(max_examples=60, deadline=None,  # the fixture only sets a constant, the same for every example
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pool=pools(), k=st.integers(1, 6), step=st.integers(0, 10 * 24 * 3600))
def test_best_and_ranked_equal_the_full_row(monkeypatch, rounds, pool, k, step):
    people, mentees, _, load, excluded, at, hours = pool
    monkeypatch.setattr(on_demand, "LAZY_ROUNDS", rounds)
    index = MatchIndex(MatchSettings(min_overlap_hours=hours))
    for p in people:
        index.upsert(p)
    for mentor_id, active in load.items():
        index.set_load(mentor_id, active)
    for when in (at, at + timedelta(seconds=step)):  # a second request reads the kept rows and parts
        for mentee in mentees:
            pid = mentee.participant_id
            exclude = {b for a, b in excluded if a == pid}
            want = full_ranking(index, pid, when, exclude, k)
            ranked = index.ranked_mentors(pid, at=when, exclude=exclude, limit=k)
            assert [p.mentor_id for p in ranked] == want
            best = index.best_mentor(pid, at=when, exclude=exclude)
            if want:
                assert isinstance(best, PairProposal) and best.mentor_id == want[0] and best == ranked[0]
            else:
                assert isinstance(best, Unmatched)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=pools(), data=st.data())
def test_kept_rows_follow_upserts_removals_and_loads(pool, data):
    """Changes between requests: a mentor's new profile, a removal, a new load, a mentee's new goals."""
    people, mentees, _, _, _, at, hours = pool
    index = MatchIndex(MatchSettings(min_overlap_hours=hours))
    for p in people:
        index.upsert(p)
    for _ in range(4):
        for mentee in mentees:
            if mentee.participant_id in index._profiles:
                pid = mentee.participant_id
                want = full_ranking(index, pid, at, (), 3)
                assert [p.mentor_id for p in index.ranked_mentors(pid, at=at, limit=3)] == want
        who = data.draw(st.sampled_from(people))
        change = data.draw(st.sampled_from(["profile", "remove", "load", "back"]))
        if change == "profile":
            index.upsert(replace(who, **{
                "seniority": data.draw(st.integers(1, 10)), "skills": ("a", "z"), "goals": ("b", "z"),
                "languages": data.draw(st.sampled_from([("en",), ("es", "ja"), ("en", "ja")])),
                "region": data.draw(st.sampled_from(["EMEA", "APAC"]))}))
        elif change == "remove":
            index.remove(who.participant_id)
        elif change == "load":
            index.set_load(who.participant_id, data.draw(st.integers(0, 3)))
        else:
            index.upsert(who)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=pools(), terms=st.sampled_from(["skills", "goals"]))
def test_one_person_row_equals_the_table_encoding(pool, terms):
    people = pool[0]
    vocab = Vocabularies()
    vocab.learn_all(people[::2])  # the others' terms are unknown: dropped alike
    for _ in range(70):  # past 64 terms: bitsets of two words
        vocab.terms.add(f"filler-{len(vocab.terms)}")
    classes = AvailabilityClasses()
    cols = encode_rows(people, vocab, AvailabilityClasses(), terms=terms)
    table = PeopleTable.build(people, vocab, AvailabilityClasses(), terms=terms, free=[3] * len(people))
    for i, p in enumerate(people):
        row = person_row(p, vocab, classes, terms=terms, free=3)
        want = table.row(i)
        for name in ("seniority", "first", "region", "country", "sector", "n_terms", "diverse", "avail", "free",
                     "active"):
            assert getattr(row, name) == getattr(want, name) == (cols[name][i] if name in cols else getattr(want, name))
            assert type(getattr(row, name)) is type(cols[name][i] if name in cols else getattr(row, name))
        assert row.lang.dtype == row.terms.dtype == np.uint64
        assert np.array_equal(row.lang, want.lang) and np.array_equal(row.terms, want.terms)
