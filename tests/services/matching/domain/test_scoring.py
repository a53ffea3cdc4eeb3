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


def test_goal_fit_comes_before_any_weighting():
    # However a program weighs the score, a mentor who covers the goal wins over one who does not.
    mentee = person("e", goals=("hiring",), diverse=True, region="EMEA", country="NL", sector="legal")
    same_place = mentor("near", skills=("hiring",), region="EMEA", country="NL", sector="legal")
    far_away = mentor("far", skills=(), region="NA", country="US", sector="sales")
    for weights in (ScoreWeights(), ScoreWeights(goal_fit=0.01, perspective=1), ScoreWeights(goal_fit=0, language=1)):
        settings = MatchSettings(weights=weights)
        assert _best_on_demand(settings, mentee, same_place, far_away) == "near"
        assert solve_cohort([mentee], [same_place, far_away], at=AT, settings=settings).pairs[0].mentor_id == "near"
    # A program that gives goal fit no priority ranks by its weights alone.
    flat = MatchSettings(priorities=(), weights=ScoreWeights(goal_fit=0.01, perspective=1))
    assert _best_on_demand(flat, mentee, same_place, far_away) == "far"


def test_program_weights_tune_the_tie_breakers():
    # Both cover the goal and both are from another region: the weights decide between more shared
    # time (availability) and a closer seniority gap.
    mentee = person("e", goals=("hiring",), diverse=True, seniority=3)
    evenings = ({"days": ["mon", "tue"], "start": "13:00", "end": "15:00"},)
    available = mentor("available", skills=("hiring",), region="NA", seniority=10)
    suited = mentor("suited", skills=("hiring",), region="APAC", seniority=6, windows=evenings)
    for weights, best in ((ScoreWeights(availability=1, seniority=0.01), "available"),
                          (ScoreWeights(availability=0.01, seniority=1), "suited")):
        settings = MatchSettings(weights=weights)
        assert _best_on_demand(settings, mentee, available, suited) == best
        assert solve_cohort([mentee], [available, suited], at=AT, settings=settings).pairs[0].mentor_id == best


def _best_on_demand(settings, *people):
    index = MatchIndex(settings)
    for p in people:
        index.upsert(p)
    return index.best_mentor(people[0].participant_id, at=AT).mentor_id


def test_without_a_wish_for_diversity_a_shared_sector_counts():
    mentee = person("e", sector="legal")
    index = MatchIndex()
    for p in (mentee, mentor("same", sector="legal"), mentor("other", sector="sales")):
        index.upsert(p)
    ranked = index.ranked_mentors("e", at=AT)
    assert [p.mentor_id for p in ranked] == ["same", "other"]
    assert ranked[0].explanation["components"]["perspective"]["value"] == 1.0
    assert ranked[1].explanation["components"]["perspective"]["value"] == 0.0


def test_the_explanation_says_what_was_ranked_before_the_score():
    mentee = person("e", goals=("leadership", "hiring", "budgeting"), diverse=True, region="EMEA", sector="finance")
    coach = mentor("m", skills=("leadership", "hiring"), region="EMEA", sector="finance")
    (pair,) = solve_cohort([mentee], [coach], at=AT).pairs
    ranked = pair.explanation["priorities"]
    assert ranked["order"] == ["coverage", "goal_fit", "diverse_perspective", "score"]
    assert ranked["goal_fit"]["value"] == pair.explanation["components"]["goal_fit"]["value"] == pytest.approx(2 / 3,
                                                                                                            abs=1e-4)
    assert ranked["diverse_perspective"] == {"asked": True, "met": False,
                                             "note": "asked for but not met: same region (EMEA) and sector (finance)"}
    assert ranked["note"] == ("ranked by goal fit (2 of 3 goals covered), then a mentor from another region or "
                              f"sector (asked for, not met), then the weighted score ({pair.score:.2f}) to break ties")
    # The on-demand index explains the same way.
    index = MatchIndex()
    for p in (mentee, coach):
        index.upsert(p)
    assert index.best_mentor("e", at=AT).explanation == pair.explanation


def test_priorities_are_named_once_each():
    assert MatchSettings(priorities=("diverse_perspective", "goal_fit")).priorities[0] == "diverse_perspective"
    with pytest.raises(ValidationError):
        MatchSettings(priorities=("goal_fit", "goal_fit"))
    with pytest.raises(ValidationError):
        MatchSettings(priorities=("seniority",))


def test_each_component_also_carries_its_reason_as_a_code_with_parameters_for_each_readers_language():
    mentee = person("e", goals=("leadership", "hiring", "budgeting"), seniority=3, diverse=True, region="EMEA",
                    country="NL", sector="finance", locale="nl-NL", languages=("nl", "en"))
    coach = mentor("m", skills=("leadership", "hiring", "sales"), seniority=6, region="APAC", country="JP",
                   sector="finance", locale="ja-JP", languages=("ja", "en"))
    (pair,) = solve_cohort([mentee], [coach], at=AT).pairs
    reasons = {name: part["reason"] for name, part in pair.explanation["components"].items()}
    assert reasons["goal_fit"] == {"code": "goals_covered", "params": {
        "covered": ["leadership", "hiring"], "missing": ["budgeting"], "total": 3}}
    assert reasons["availability"] == {"code": "weekly_overlap", "params": {"hours": 40.0, "enough_hours": 6.0}}
    assert reasons["seniority"] == {"code": "seniority_gap", "params": {"levels": 3, "ideal_min": 2, "ideal_max": 4}}
    assert reasons["perspective"]["code"] == "diverse_perspective"
    assert {k: reasons["perspective"]["params"][k] for k in ("asked", "met", "other_region", "region")} == {
        "asked": True, "met": True, "other_region": True, "region": "APAC"}
    assert reasons["language"] == {"code": "second_language_only", "params": {"languages": ["en"]}}
    # Plain JSON values only: they travel on matches.v1 and are worded by notifications.
    import json
    assert json.loads(json.dumps(reasons)) == reasons
