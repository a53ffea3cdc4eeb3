"""The price of each criterion: the round re-solved without it, and what the others gain."""

from datetime import UTC, datetime

import pytest

from services.matching.domain import MatchSettings, solve_cohort
from services.matching.domain.pricing import Outcome, price_criteria, settings_without
from tandem.population import population

from .oracle import diverse_met, mentor, person

AT = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)


def report_for(mentees, mentors, settings=MatchSettings()):
    return price_criteria(lambda s: solve_cohort(mentees, mentors, at=AT, settings=s), settings)


def test_goal_fit_costs_diversity_here_and_the_report_says_so():
    # Only "x" teaches hiring; it is "b"'s whole goal and half of "a"'s, while "a" asked for
    # another sector, which only "x" offers. Goal fit first gives x to b: a's wish goes unmet.
    a = person("a", goals=("hiring", "budgeting"), diverse=True, sector="legal")
    b = person("b", goals=("hiring",), sector="legal")
    x = mentor("x", capacity=1, skills=("hiring",), sector="sales")
    y = mentor("y", capacity=1, skills=("budgeting",), sector="legal")
    report = report_for([a, b], [x, y])
    assert (report.chosen.goal_fit, report.chosen.diverse, report.chosen.asked) == (1.5, 0, 1)
    without_goal = report.without["goal_fit"]
    assert (without_goal.goal_fit, without_goal.diverse) == (0.5, 1)
    assert report.without["diverse_perspective"].goal_fit == 1.5  # it ranks below goal fit: nothing to gain
    text = "\n".join(report.lines())
    assert "coverage is never traded: 2 pairs, the maximum, in every run" in text
    assert "- Without goal fit: worse: 1.0 less goal fit (-66.7 %, 0.750 -> 0.250 per pair). Better: 1 fewer " \
           "mentees without the diverse perspective they asked for (1 -> 0; served 0 of 1 -> 1 of 1)." in text
    assert "- Without diverse perspective: the same outcome on every criterion: it costs nothing on this pool." in text
    assert "0 of 1 matched mentees who asked for a diverse perspective got one (0.0 %)" in text


def test_load_spread_has_a_price_in_the_smaller_criteria():
    # "ideal" is the better seniority match for both mentees, but by less than the load-spread cost
    # of a second mentee: with load spread each mentor takes one.
    mentees = [person("e1", seniority=3), person("e2", seniority=3)]
    ideal, older = mentor("ideal", seniority=6, capacity=2), mentor("older", seniority=8, capacity=2)
    report = report_for(mentees, [ideal, older])
    assert (report.chosen.mentors_used, report.chosen.mentors_shared) == (2, 0)
    alone = report.without["load_spread"]
    assert (alone.mentors_used, alone.mentors_shared, alone.most_new) == (1, 1, 2)
    assert alone.smaller > report.chosen.smaller
    text = "\n".join(report.lines())
    assert "- Without load spread: worse: load spread 2 -> 1 mentors take new mentees, 0 -> 1 take two or more " \
           "(most for one mentor 1 -> 2). Better: smaller criteria +0.047 per pair (seniority +0.125)." in text
    assert "Price of fairness: spreading new mentees over 2 mentors (instead of 1) costs 0.047 of the smaller " \
           "criteria per pair (4.7 % of them)" in text  # nobody asked for a diverse perspective: not mentioned


def test_outcomes_are_measured_from_the_pairs():
    people = population("many-skills", 200, 60, seed=4)
    mentees, mentors = [p for p in people if p.is_mentee], [p for p in people if p.is_mentor]
    by_id = {p.participant_id: p for p in people}
    result = solve_cohort(mentees, mentors, at=AT)
    outcome = Outcome.of(result, MatchSettings().weights.normalised())
    pairs = [(by_id[p.mentee_id], by_id[p.mentor_id]) for p in result.pairs]
    assert outcome.matched == len(pairs)
    assert outcome.goal_fit == pytest.approx(sum(len(set(e.goals) & set(m.skills)) / len(e.goals) for e, m in pairs),
                                             abs=1e-4 * len(pairs))  # explanations round values to 4 places
    assert outcome.diverse == sum(diverse_met(e, m) for e, m in pairs)
    assert outcome.asked == sum(e.diverse_perspective for e, _ in pairs)
    assert outcome.mentors_used == len({m.participant_id for _, m in pairs})


def test_dropping_a_criterion_removes_its_level_and_its_weight():
    settings = MatchSettings()
    no_goal = settings_without(settings, "goal_fit")
    assert no_goal.priorities == ("diverse_perspective",) and no_goal.weights.goal_fit == 0
    no_diversity = settings_without(settings, "diverse_perspective")
    assert no_diversity.priorities == ("goal_fit",) and no_diversity.weights.perspective == 0
    assert settings_without(settings, "load_spread").load_spread == 0
    # A program weighing goal fit alone keeps a weight to rank by.
    from services.matching.domain import ScoreWeights

    only_goals = MatchSettings(weights=ScoreWeights(goal_fit=1, availability=0, seniority=0, perspective=0, language=0))
    assert settings_without(only_goals, "goal_fit").weights.goal_fit == 1
