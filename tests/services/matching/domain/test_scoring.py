"""Weights, component shapes and the breakdown every proposal carries."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.matching.domain import MatchIndex, MatchSettings, ScoreWeights, solve_cohort
from services.matching.domain.scoring import COMPONENTS, seniority_fit

from .oracle import mentor, person

AT = datetime(2027, 3, 1, tzinfo=UTC)


def test_weights_are_normalised_and_must_not_all_be_zero():
    w = ScoreWeights(goal_fit=2, availability=1, seniority=1, perspective=0, language=0).normalised()
    assert w == {"goal_fit": 0.5, "availability": 0.25, "seniority": 0.25, "perspective": 0.0, "language": 0.0}
    with pytest.raises(ValidationError):
        ScoreWeights(goal_fit=0, availability=0, seniority=0, perspective=0, language=0)
    with pytest.raises(ValidationError):
        ScoreWeights(goal_fit=-1)
    with pytest.raises(ValidationError):
        MatchSettings(ideal_gap_min=5, ideal_gap_max=3)


def test_seniority_gap_is_best_in_the_ideal_band():
    assert [float(seniority_fit(g, 2, 4)) for g in range(0, 10)] == [0, 0.5, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0]


def test_a_pair_carries_every_component_with_value_weight_contribution_and_note():
    mentee = person("e", goals=("leadership", "hiring", "budgeting"), seniority=3, diverse=True, region="EMEA",
                    country="NL", sector="finance", locale="nl-NL", languages=("nl", "en"))
    coach = mentor("m", skills=("leadership", "hiring", "sales"), seniority=6, region="APAC", country="JP",
                   sector="finance", locale="ja-JP", languages=("ja", "en"))
    (pair,) = solve_cohort([mentee], [coach], at=AT).pairs
    parts = pair.explanation["components"]
    assert set(parts) == set(COMPONENTS)
    assert parts["goal_fit"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert "2 of 3 goals" in parts["goal_fit"]["note"] and "not covered: budgeting" in parts["goal_fit"]["note"]
    assert parts["availability"]["value"] == 1.0 and "40 h overlap" in parts["availability"]["note"]
    assert parts["seniority"]["value"] == 1.0 and "3 levels more senior" in parts["seniority"]["note"]
    assert parts["perspective"]["value"] == pytest.approx(0.7) and "other region (APAC)" in parts["perspective"]["note"]
    assert parts["language"]["value"] == 0.0 and "only a second language (en)" in parts["language"]["note"]
    assert sum(p["weight"] for p in parts.values()) == pytest.approx(1.0, abs=1e-3)
    for p in parts.values():
        assert p["contribution"] == pytest.approx(p["value"] * p["weight"], abs=1e-3)
    assert pair.score == pytest.approx(sum(p["contribution"] for p in parts.values()), abs=1e-3)
    assert pair.explanation["facts"]["shared_languages"] == ["en"]


def test_program_weights_change_who_is_best():
    mentee = person("e", goals=("hiring",), diverse=True, region="EMEA", country="NL", sector="legal")
    same_place = mentor("near", skills=("hiring",), region="EMEA", country="NL", sector="legal")
    far_away = mentor("far", skills=(), region="NA", country="US", sector="sales")
    for weights, best in ((ScoreWeights(), "near"), (ScoreWeights(goal_fit=0.01, perspective=1), "far")):
        index = MatchIndex(MatchSettings(weights=weights))
        for p in (mentee, same_place, far_away):
            index.upsert(p)
        assert index.best_mentor("e", at=AT).mentor_id == best
        assert solve_cohort([mentee], [same_place, far_away], at=AT,
                            settings=MatchSettings(weights=weights)).pairs[0].mentor_id == best


def test_without_a_wish_for_diversity_a_shared_sector_counts():
    mentee = person("e", sector="legal")
    index = MatchIndex()
    for p in (mentee, mentor("same", sector="legal"), mentor("other", sector="sales")):
        index.upsert(p)
    ranked = index.ranked_mentors("e", at=AT)
    assert [p.mentor_id for p in ranked] == ["same", "other"]
    assert ranked[0].explanation["components"]["perspective"]["value"] == 1.0
    assert ranked[1].explanation["components"]["perspective"]["value"] == 0.0
