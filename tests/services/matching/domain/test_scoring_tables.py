"""`explain_pairs` takes each component's value for a pair's facts from a per-settings table: the
same values, roundings and scores as calling every component function on the columns of all pairs."""

from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain import MatchSettings, ScoreWeights
from services.matching.domain.features import first_language
from services.matching.domain.objective import diverse_met
from services.matching.domain.scoring import (
    COMPONENTS,
    availability_fit,
    explain_pairs,
    goal_fit,
    language_ease,
    perspective_fit,
    seniority_fit,
)

from .oracle import person

AT = datetime(2027, 3, 1, 7, 30, tzinfo=UTC)
TERMS = ["a", "b", "c", "d"]


def people(draw, role: str, count: int) -> list:
    return [person(
        f"{role}{i}", roles=(role,), capacity=2 if role == "mentor" else 0,
        languages=tuple(draw(st.lists(st.sampled_from(["en", "es", "ja"]), min_size=1, max_size=3, unique=True))),
        locale=draw(st.sampled_from(["en", "es", "ja", "fr"])),
        seniority=draw(st.integers(1, 10)),
        goals=tuple(draw(st.lists(st.sampled_from(TERMS), max_size=4, unique=True))) if role == "mentee" else (),
        skills=tuple(draw(st.lists(st.sampled_from(TERMS), max_size=4, unique=True))) if role == "mentor" else (),
        region=draw(st.sampled_from(["EMEA", "APAC"])), country=draw(st.sampled_from(["NL", "JP"])),
        sector=draw(st.sampled_from(["legal", "sales"])), diverse=draw(st.booleans()),
    ) for i in range(count)]


@st.composite
def batches(draw):
    n = draw(st.integers(0, 12))
    weights = ScoreWeights(**{c: draw(st.sampled_from([0.0, 0.1, 0.15, 0.3, 1.0])) for c in COMPONENTS[:-1]},
                           language=draw(st.sampled_from([0.05, 0.1, 0.7])))
    lo = draw(st.integers(1, 5))
    match = MatchSettings(weights=weights, ideal_gap_min=lo, ideal_gap_max=draw(st.integers(lo, 9)),
                          overlap_target_hours=draw(st.sampled_from([1.0, 6.0, 7.5])),
                          priorities=draw(st.sampled_from([("goal_fit", "diverse_perspective"), ("goal_fit",), ()])))
    seconds = draw(st.lists(st.integers(0, 40 * 3600), min_size=n, max_size=n))
    return people(draw, "mentee", n), people(draw, "mentor", n), seconds, match


def column_values(mentees, mentors, seconds, match) -> dict:
    """Every component over all pairs in one call each (how explanations were computed before)."""
    def col(f):
        return np.array([f(e, m) for e, m in zip(mentees, mentors, strict=True)])

    skills = [set(m.skills) for m in mentors]
    covered = np.array([sum(g in s for g in e.goals) for e, s in zip(mentees, skills, strict=True)])
    first = col(lambda e, m: (first_language(e), first_language(m)))
    same = np.array([a == b for a, b in first]) if len(first) else np.array([], dtype=bool)
    spoken = col(lambda e, m: first_language(e) in m.languages or first_language(m) in e.languages)
    diverse, region = col(lambda e, m: e.diverse_perspective), col(lambda e, m: m.region != e.region)
    sector = col(lambda e, m: m.sector != e.sector)
    return {
        "goal_fit": goal_fit(covered, col(lambda e, m: len(e.goals))),
        "availability": availability_fit(np.asarray(seconds, dtype=np.float64) / 3600, match.overlap_target_hours),
        "seniority": seniority_fit(col(lambda e, m: m.seniority - e.seniority), *match.ideal_gap),
        "perspective": perspective_fit(diverse, region, col(lambda e, m: m.country != e.country), sector),
        "language": language_ease(same, spoken),
        "met": diverse_met(diverse, region, sector),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.integers(1, 3))
def test_table_values_equal_the_component_functions_on_all_pairs(batch, repeats):
    mentees, mentors, seconds, match = batch
    values = column_values(mentees, mentors, seconds, match)
    w = match.weights.normalised()
    for _ in range(repeats):  # later calls read the table's memo
        explained = explain_pairs(mentees, mentors, seconds, at=AT, settings=match)
        assert len(explained) == len(mentees)
        for k, (score, why) in enumerate(explained):
            per = {c: values[c].tolist()[k] for c in COMPONENTS}
            assert score == sum(w[c] * per[c] for c in COMPONENTS)
            assert why["score"] == round(score, 4)
            for c in COMPONENTS:
                part = why["components"][c]
                assert (part["value"], part["weight"], part["contribution"]) == \
                    (round(per[c], 4), round(w[c], 4), round(w[c] * per[c], 4))
            assert why["priorities"]["goal_fit"]["value"] == round(per["goal_fit"], 4)
            assert why["priorities"]["diverse_perspective"]["met"] is values["met"].tolist()[k]


def test_each_settings_has_its_own_table():
    mentee = person("e", goals=("a", "b"), seniority=2)
    mentor = person("m", roles=("mentor",), skills=("a",), seniority=9, capacity=1)
    one = MatchSettings(weights=ScoreWeights(goal_fit=1, availability=0, seniority=0, perspective=0, language=0))
    other = MatchSettings(ideal_gap_min=7, ideal_gap_max=9)
    for _ in range(2):
        (a, why_a), = explain_pairs([mentee], [mentor], [3600], at=AT, settings=one)
        (b, why_b), = explain_pairs([mentee], [mentor], [3600], at=AT, settings=other)
        assert a == 0.5 and why_a["components"]["seniority"]["weight"] == 0.0
        assert why_b["components"]["seniority"]["value"] == 1.0 and b != a
