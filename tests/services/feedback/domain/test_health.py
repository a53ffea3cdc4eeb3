from services.feedback.domain.health import Signals, assess


def test_a_new_relationship_with_good_feedback_is_healthy():
    health = assess(Signals(ratings=(5, 4), progress=(4,), meetings_completed=2))
    assert health.state == "healthy" and health.score > 80


def test_low_ratings_and_missed_meetings_put_a_pair_at_risk_with_reasons():
    health = assess(Signals(ratings=(2, 1, 2), progress=(1,), meetings_completed=1, meetings_missed=2, requests_overdue=2))
    assert health.state == "at_risk"
    assert "recent ratings are low (average 1.7 of 5)" in health.reasons
    assert "2 of 3 meetings missed" in health.reasons
    assert "2 feedback requests unanswered" in health.reasons


def test_a_relationship_recovers_when_recent_feedback_improves():
    bad = (1,) * 6
    assert assess(Signals(ratings=bad, meetings_completed=6)).state != "healthy"
    assert assess(Signals(ratings=bad + (5,) * 6, meetings_completed=12)).state == "healthy"


def test_scores_stay_in_range():
    assert assess(Signals(ratings=(1,) * 3, meetings_missed=5, requests_overdue=10)).score == 0
    assert assess(Signals()).score == 100


def test_every_reason_comes_as_english_text_and_as_a_stable_code_with_parameters():
    health = assess(Signals(ratings=(2, 1, 2), progress=(1,), meetings_completed=1, meetings_missed=2,
                            requests_overdue=2, checkins_overdue=1))
    assert [(c.code, c.params) for c in health.codes] == [
        ("ratings_low", {"average": 1.7}), ("little_progress", {}), ("meetings_missed", {"missed": 2, "held": 3}),
        ("requests_unanswered", {"count": 2}), ("checkins_unanswered", {"count": 1})]
    assert len(health.reasons) == len(health.codes)
    assert "1 check-ins unanswered after a reminder" in health.reasons
    (going_well,) = assess(Signals(ratings=(5,), meetings_completed=1)).codes
    assert going_well.code == "going_well" and going_well.params == {}


def test_two_missed_meetings_in_a_row_put_a_pair_on_watch_until_they_meet_again():
    in_a_row = assess(Signals(ratings=(5, 5, 5), meetings_completed=4, meetings_missed=2, missed_in_a_row=2))
    assert in_a_row.state == "watch"
    assert ("meetings_missed_in_a_row", {"count": 2}) in [(c.code, c.params) for c in in_a_row.codes]
    assert "the last 2 meetings in a row did not happen" in in_a_row.reasons
    # The same misses, with a meeting held since: no streak, the pair is healthy again.
    assert assess(Signals(ratings=(5, 5, 5), meetings_completed=5, meetings_missed=2)).state == "healthy"


def test_goal_progress_feeds_health_once_enough_of_the_term_has_gone():
    early = assess(Signals(ratings=(4,), meetings_completed=2, goals=(0, 10), term_elapsed=0.1))
    assert early.state == "healthy" and "goals_stalled" not in [c.code for c in early.codes]
    stalled = assess(Signals(ratings=(4,), meetings_completed=2, goals=(0, 10), term_elapsed=0.6))
    assert ("goals_stalled", {"progress": 5, "term_elapsed": 60}) in [(c.code, c.params) for c in stalled.codes]
    assert stalled.score < early.score
    on_track = assess(Signals(ratings=(4,), meetings_completed=2, goals=(50, 70), term_elapsed=0.6))
    assert on_track.score > stalled.score and on_track.state == "healthy"
    # A pair that tracks no goals is never called stalled.
    assert assess(Signals(ratings=(4,), meetings_completed=2, term_elapsed=0.9)).codes[0].code == "going_well"


def test_someone_saying_it_is_not_a_good_fit_puts_even_a_thriving_pair_at_risk():
    thriving = dict(ratings=(5, 5), progress=(5,), meetings_completed=2)
    mentee = assess(Signals(**thriving, not_a_good_fit=("mentee",)))
    assert mentee.state == "at_risk"
    assert [(c.code, c.params) for c in mentee.codes] == [("not_a_good_fit", {"by": "mentee"})]
    assert mentee.reasons == ("the mentee says it is not a good fit",)
    both = assess(Signals(**thriving, not_a_good_fit=("mentee", "mentor")))
    assert [(c.code, c.params) for c in both.codes] == [("not_a_good_fit", {"by": "both"})]
    assert both.reasons == ("both say it is not a good fit",)
    assert assess(Signals(**thriving)).state == "healthy"
