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
