"""Vectorised rows agree with the independent rules and with the one-pair explanation; top-k is exact."""

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.matching.domain import MatchSettings
from services.matching.domain.candidates import BlockTopK, TopK, Weights, pair_row
from services.matching.domain.features import AvailabilityClasses, PeopleTable, Vocabularies
from services.matching.domain.overlap import WEEK, OverlapTable, class_intervals
from services.matching.domain.scoring import explain_pairs
from shared.availability import to_epoch
from tandem.population import profiles

from .oracle import broken_rules

AT = datetime(2027, 3, 24, 15, 30, tzinfo=UTC)
COLUMN_RULES = {"language", "seniority", "overlap", "capacity", "mentor role"}


def test_rows_match_the_independent_rules_and_the_explained_score():
    people = profiles(40, 25, seed=11)
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    settings = MatchSettings()
    vocab, e_classes, m_classes = Vocabularies(), AvailabilityClasses(), AvailabilityClasses()
    vocab.learn_all(people)
    free = [p.mentor_capacity - (i % 3) for i, p in enumerate(mentors)]  # some mentors are full
    E = PeopleTable.build(mentees, vocab, e_classes, terms="goals")
    M = PeopleTable.build(mentors, vocab, m_classes, terms="skills", free=free)
    start = to_epoch(AT)
    table = OverlapTable(m_classes.keys, start, start + WEEK)
    checked = 0
    for i, mentee in enumerate(mentees):
        seconds = table.overlap_seconds(class_intervals(e_classes.keys[E.avail[i]], start, start + WEEK))
        row = pair_row(Weights(settings), E.row(i), M, seconds, M.avail)
        explained = explain_pairs([mentee] * len(mentors), mentors, seconds[M.avail], at=AT, settings=settings)
        for j, coach in enumerate(mentors):
            broken = set(broken_rules(mentee, coach, at=AT, min_hours=2, managers={}, free=free[j])) & COLUMN_RULES
            assert (row[j] == -np.inf) == bool(broken), (mentee.participant_id, coach.participant_id, broken)
            if not broken:
                assert abs(float(row[j]) - explained[j][0]) < 1e-5
                checked += 1
    assert checked > 200  # the population leaves plenty of feasible pairs to compare


scores = st.sampled_from([-np.inf, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 0.3333, 0.99])


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 60)), elements=scores), st.integers(1, 8))
def test_top_k_is_the_exact_best_with_ties_by_column(block, k):
    def brute(row):
        order = sorted((j for j in range(len(row)) if row[j] != -np.inf), key=lambda j: (-row[j], j))[:k]
        return order, [row[j] for j in order]

    idx, vals = BlockTopK(k)(block)
    for r, row in enumerate(block):
        want, want_vals = brute(row)
        assert idx[r][idx[r] >= 0].tolist() == want
        assert vals[r][: len(want)].tolist() == want_vals
        one, one_vals = TopK(k)(row)
        assert one.tolist() == want and one_vals.tolist() == want_vals
