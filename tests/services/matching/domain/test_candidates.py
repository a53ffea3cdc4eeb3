"""Vectorised rows agree with the independent rules and with the one-pair explanation (their ranking
keys put goal fit first, then a diverse perspective, then the score); top-k is exact."""

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.matching.domain import MatchSettings
from services.matching.domain.candidates import (
    BlockTopK,
    ColumnTopK,
    TermHolders,
    TopK,
    Weights,
    covered_goals,
    goal_part,
    goal_part_by_holders,
    goal_part_sparse,
    goal_values,
    pair_row,
)
from services.matching.domain.features import AvailabilityClasses, PeopleTable, Vocabularies
from services.matching.domain.overlap import WEEK, MeetingStarts, OverlapTable, class_intervals
from services.matching.domain.scoring import explain_pairs
from shared.availability import to_epoch
from tandem.population import participants as profiles
from tandem.population import population

from .oracle import broken_rules

AT = datetime(2027, 3, 24, 15, 30, tzinfo=UTC)
COLUMN_RULES = {"language", "seniority", "overlap", "meeting window", "capacity", "mentor role"}


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
    meeting = MeetingStarts(settings.meeting_seconds, settings.slot_seconds)
    starts_table = OverlapTable(m_classes.keys, start, start + WEEK, intervals_of=meeting)
    checked = 0
    for i, mentee in enumerate(mentees):
        seconds = table.overlap_seconds(class_intervals(e_classes.keys[E.avail[i]], start, start + WEEK))
        starts = starts_table.overlap_seconds(meeting(e_classes.keys[E.avail[i]], start, start + WEEK))
        w = Weights(settings, max_goals=3)
        row = pair_row(w, E.row(i), M, seconds, M.avail, starts)
        explained = explain_pairs([mentee] * len(mentors), mentors, seconds[M.avail], at=AT, settings=settings)
        lexicographic = []
        for j, coach in enumerate(mentors):
            broken = set(broken_rules(mentee, coach, at=AT, min_hours=2, managers={}, free=free[j])) & COLUMN_RULES
            assert (row[j] == -np.inf) == bool(broken), (mentee.participant_id, coach.participant_id, broken)
            if not broken:
                fit = len(set(mentee.goals) & set(coach.skills)) / len(mentee.goals)
                met = mentee.diverse_perspective and (coach.region != mentee.region or coach.sector != mentee.sector)
                score = explained[j][0]
                assert abs(float(row[j]) - (w.steps.goal * fit + w.steps.diverse * met + score)) < 1e-4
                lexicographic.append(((fit, met, round(score, 4)), round(float(row[j]), 4)))
                checked += 1
        # Sorting by key sorts by (goal fit, diverse perspective met, score).
        by_key = [levels for levels, _ in sorted(lexicographic, key=lambda x: x[1])]
        assert by_key == sorted(by_key)
    assert checked > 200  # the population leaves plenty of feasible pairs to compare


scores = st.sampled_from([-np.inf, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 0.3333, 0.99, 2.5, 4.75, 13.0, 14.9])


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
        one, one_vals = TopK(k, span=15)(row)
        assert one.tolist() == want and one_vals.tolist() == want_vals


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 9), st.integers(1, 700), st.integers(1, 16), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_top_k_of_wide_rows_with_few_feasible_entries(rows, width, k, feasible, seed):
    # Wide rows cut into runs (the threshold is the k-th best run maximum): runs without any
    # feasible entry, ties at the threshold and rows with fewer than k feasible entries.
    rng = np.random.default_rng(seed)
    block = rng.choice(np.array([0.0, 0.5, 1.0, 2.5, 13.0], dtype=np.float32), size=(rows, width))
    block += rng.integers(0, 3, size=(rows, width)).astype(np.float32) / 8
    block[rng.random((rows, width)) >= feasible] = -np.inf
    idx, vals = BlockTopK(k)(block)
    for r, row in enumerate(block):
        want = sorted((j for j in range(width) if row[j] != -np.inf), key=lambda j: (-row[j], j))[:k]
        assert idx[r][idx[r] >= 0].tolist() == want
        assert vals[r][: len(want)].tolist() == row[want].tolist()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 12)), elements=scores),
       st.lists(st.integers(0, 6), min_size=12, max_size=12), st.integers(1, 7), st.integers(4, 40))
def test_column_top_k_keeps_each_columns_best_over_a_stream_of_blocks(matrix, quotas, rows_per_block, buffer):
    quota = np.array(quotas[: matrix.shape[1]])
    best = ColumnTopK(quota, buffer_cells=buffer)  # a tiny buffer: many cut-backs on the way
    for lo in range(0, len(matrix), rows_per_block):
        best.add(matrix[lo:lo + rows_per_block], np.arange(lo, min(lo + rows_per_block, len(matrix))))
    rows, cols, vals = best.result()
    assert rows.tolist() == sorted(rows.tolist())
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        want = sorted((v for v in column.tolist() if v != -np.inf), reverse=True)[: quota[j]]
        assert sorted(vals[cols == j].tolist(), reverse=True) == want
        assert (matrix[rows[cols == j], j] == vals[cols == j]).all()


def test_term_holders_count_the_same_goals_as_the_bitsets():
    people = population("thin", 80, 300, seed=2)  # 400 skills: seven bitset words
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    vocab, classes = Vocabularies(), AvailabilityClasses()
    vocab.learn_all(people)
    E = PeopleTable.build(mentees, vocab, classes, terms="goals")
    M = PeopleTable.build(mentors, vocab, classes, terms="skills")
    holders = TermHolders(M)
    for i, mentee in enumerate(mentees):
        got = holders.covered(E.terms[i])
        assert got.tolist() == covered_goals(E.row(i), M).tolist()
        assert got.tolist() == [len(set(mentee.goals) & set(m.skills)) for m in mentors]
    # The other way round: a mentor against every mentee, from the mentees' goal holders.
    w = Weights(MatchSettings(), max_goals=int(E.n_terms.max()))
    by_goal = TermHolders(E)
    for j in range(len(M)):
        assert np.array_equal(goal_part_by_holders(w, M.row(j), by_goal, E.n_terms), goal_part(w, E, M.row(j)))


def test_sparse_goal_part_adds_up_to_the_same_rows():
    people = population("thin", 120, 300, seed=4)  # rare skills: most goal parts are mostly 0
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    vocab, classes = Vocabularies(), AvailabilityClasses()
    vocab.learn_all(people)
    E = PeopleTable.build(mentees, vocab, classes, terms="goals")
    M = PeopleTable.build(mentors, vocab, classes, terms="skills")
    w = Weights(MatchSettings(), max_goals=int(E.n_terms.max()))
    holders = TermHolders(M)
    start = np.random.default_rng(1).random(len(M)).astype(np.float32) * 3
    assert holders.holdings(E.terms).tolist() == [int(holders.covered(E.terms[i]).sum()) for i in range(len(E))]
    goals = holders.terms_by_row(E.terms)
    for i in range(len(E)):
        assert goals[i] == sorted(vocab.terms.get(g) for g in mentees[i].goals)
        dense = goal_part(w, E.row(i), M)
        rows, values = goal_part_sparse(holders, goals[i], goal_values(w, int(E.n_terms[i])))
        assert rows.tolist() == np.flatnonzero(holders.covered(E.terms[i])).tolist()
        assert np.array_equal(values, dense[rows]) and not dense[np.setdiff1d(np.arange(len(M)), rows)].any()
        added = start.copy()
        added[rows] += values
        assert np.array_equal(added, start + dense)  # bit for bit: adding 0 changes nothing
