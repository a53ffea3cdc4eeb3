"""The cohort round's candidate pass (cached parts, rare goals added sparsely, run-maxima thresholds,
threads) against a plain reference: every row computed whole by `pair_row`, feasibility from the
independent rules, each mentee's top k and each mentor's best mentees picked by sorting."""

from datetime import UTC, datetime

import numpy as np
import pytest

from services.matching.domain import MatchSettings, cohort
from services.matching.domain.candidates import Weights, pair_row
from services.matching.domain.cohort import _Round
from services.matching.domain.overlap import class_intervals
from tandem.population import POPULATIONS, population

from .oracle import broken_rules

AT = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)
COLUMN_RULES = {"language", "seniority", "overlap", "meeting window", "capacity", "mentor role"}


@pytest.mark.parametrize("kind", sorted(POPULATIONS))
@pytest.mark.parametrize(("seed", "k", "chunk"), [(3, 16, 8), (8, 5, 64)])
def test_candidate_pass_equals_whole_rows_sorted(monkeypatch, kind, seed, k, chunk):
    monkeypatch.setattr(cohort, "CHUNK", chunk)  # small chunks: class rows kept and recomputed across chunks
    people = population(kind, 160, 70, seed=seed)
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    load = {m.participant_id: i % 3 for i, m in enumerate(mentors)}  # some mentors full
    excluded = {(mentees[i].participant_id, mentors[(3 * i) % len(mentors)].participant_id) for i in range(0, 160, 5)}
    settings = MatchSettings(candidates_per_mentee=k)
    rnd = _Round(mentees, mentors, at=AT, settings=settings, load=load, excluded_pairs=excluded, directory=None)
    rnd.candidate_arcs()

    E, M = rnd.E, rnd.M
    w = Weights(settings, max_goals=int(E.n_terms.max()))
    managers = {p.participant_id: p.manager_id for p in people}
    reference = np.empty((len(E), len(M)), dtype=np.float32)
    for i, mentee in enumerate(mentees):
        key = rnd.e_classes.keys[E.avail[i]]
        seconds = rnd.m_overlap.overlap_seconds(class_intervals(key, rnd.start, rnd.end))
        starts = rnd.m_starts.overlap_seconds(rnd.starts(key, rnd.start, rnd.end))
        reference[i] = pair_row(w, E.row(i), M, seconds, M.avail, starts)
        for j, coach in enumerate(mentors):
            broken = broken_rules(mentee, coach, at=AT, min_hours=settings.min_overlap_hours, managers=managers,
                                  free=int(M.free[j]), excluded=excluded)
            # The row itself holds the rules on columns; chains and earlier pairs are cut from it after.
            assert (reference[i, j] == -np.inf) == bool(set(broken) & COLUMN_RULES), (i, j, broken)
            if broken:
                reference[i, j] = -np.inf
    assert np.isfinite(reference).mean() > 0.05  # enough feasible pairs for the comparison to mean something

    for i, row in enumerate(reference):
        want = sorted(np.flatnonzero(row > -np.inf).tolist(), key=lambda j: (-row[j], j))[:k]
        assert rnd.best_idx[i][rnd.best_idx[i] >= 0].tolist() == want
        assert np.array_equal(rnd.best_val[i][: len(want)], row[want])  # bit for bit

    rows, cols, vals = rnd.mentor_best
    quota = cohort.MENTOR_SIDE[0] * M.free + cohort.MENTOR_SIDE[1]
    for j in range(len(M)):
        column = reference[:, j]
        best = np.sort(column[column > -np.inf])[::-1][: quota[j]]
        assert np.sort(vals[cols == j])[::-1].tolist() == best.tolist()  # ties may pick other mentees
        assert np.array_equal(column[rows[cols == j]], vals[cols == j])
