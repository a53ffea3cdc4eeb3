from services.notifications.domain import preferences


def test_only_reminders_checkins_and_nudges_can_be_switched_off():
    assert preferences.wanted("reminder_due", {"checkins"})
    assert not preferences.wanted("reminder_due", {"reminders"})
    assert not preferences.wanted("checkin_reminder", {"checkins"})
    assert not preferences.wanted("meetings_missed", {"nudges"})
    # What the relationship itself needs always goes out.
    for template in ("match_proposed", "meeting_scheduled", "meeting_cancelled", "feedback_requested",
                     "closure_requested", "match_ended_on_request"):
        assert preferences.wanted(template, set(preferences.KINDS))
