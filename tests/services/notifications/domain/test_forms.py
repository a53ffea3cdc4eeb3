from datetime import UTC, datetime

import pytest

from services.notifications.domain import forms

SLOT = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)


def test_a_decline_keeps_its_reason_and_note():
    answer = forms.proposal_answer({"answer": "decline", "reason_code": "no_time", "note": " busy quarter "})
    assert answer == forms.ProposalAnswer(False, "no_time", "busy quarter")
    assert forms.proposal_answer({"answer": "accept", "reason_code": "nonsense"}).accept


@pytest.mark.parametrize("form, field", [
    ({}, "answer"),
    ({"answer": "maybe"}, "answer"),
    ({"answer": "decline", "reason_code": "bored"}, "reason_code"),
    ({"answer": "decline", "note": "x" * 501}, "note"),
])
def test_a_bad_proposal_answer_names_its_field(form, field):
    with pytest.raises(forms.FieldError) as bad:
        forms.proposal_answer(form)
    assert bad.value.field == field


def agreement(**changes):
    form = {"cadence_days": "14", "duration_minutes": "60", "place": "video", "response_time_hours": "24",
            "goals": "public speaking\n\n  negotiation  \n", "boundaries": ""} | changes
    return forms.agreement(form, cadence=(7, 28), duration=(30, 90), edits_goals=True)


def test_an_agreement_within_the_programs_bounds():
    a = agreement()
    assert (a.cadence_days, a.duration_minutes, a.place, a.goals) == (14, 60, "video", ("public speaking", "negotiation"))
    assert a.boundaries is None


@pytest.mark.parametrize("changes, field", [
    ({"cadence_days": "6"}, "cadence_days"), ({"cadence_days": "29"}, "cadence_days"),
    ({"cadence_days": "two"}, "cadence_days"), ({"duration_minutes": "91"}, "duration_minutes"),
    ({"place": "moon"}, "place"), ({"response_time_hours": "0"}, "response_time_hours"),
    ({"goals": "\n".join(f"goal {i}" for i in range(11))}, "goals"), ({"boundaries": "b" * 2001}, "boundaries"),
])
def test_an_agreement_out_of_range_names_its_field(changes, field):
    with pytest.raises(forms.FieldError) as bad:
        agreement(**changes)
    assert bad.value.field == field


def test_a_meeting_moves_only_to_an_offered_time():
    assert forms.meeting_change({"answer": "move", "slot": SLOT.isoformat()}, (SLOT,)).new_start == SLOT
    with pytest.raises(forms.FieldError):
        forms.meeting_change({"answer": "move", "slot": "2027-01-07T09:00:00+00:00"}, (SLOT,))
    cancel = forms.meeting_change({"answer": "cancel", "reason_code": "unwell"}, (SLOT,))
    assert (cancel.new_start, cancel.reason_code) == (None, "unwell")


def test_feedback_rating_goals_and_fit():
    f = forms.feedback({"rating": "4", "goal_0": "100", "goal_1": "", "fit": "not_good"}, ("a", "b"), asks_fit=True)
    assert (f.rating, f.progress, f.fit) == (4, {"a": 100}, "not_good")
    assert forms.feedback({"rating": "4", "fit": "good"}, (), asks_fit=False).fit is None
    for bad, field in (({"rating": "6"}, "rating"), ({"rating": "3", "goal_0": "33"}, "goal_0")):
        with pytest.raises(forms.FieldError) as error:
            forms.feedback(bad, ("a",), asks_fit=False)
        assert error.value.field == field


def test_only_the_mentee_asks_for_a_new_mentor():
    form = {"reason_code": "not_a_good_fit", "rematch": "on", "do_not_pair_again": "on"}
    assert forms.end_early(form, may_rematch=True).rematch
    assert not forms.end_early(form, may_rematch=False).rematch
    with pytest.raises(forms.FieldError):
        forms.end_early({}, may_rematch=True)


def test_preferences_unticked_kinds_are_muted_and_quiet_hours_are_checked():
    kinds = ("reminders", "checkins", "nudges")
    p = forms.preferences({"want_checkins": "on", "quiet_start": "21:00", "quiet_end": "07:30", "locale": "nl",
                           "style": "indirect"}, kinds=kinds, locales=("en", "nl"), chat_possible=False)
    assert (p.muted, p.quiet_hours, p.locale, p.style, p.channel) == (("reminders", "nudges"), ("21:00", "07:30"),
                                                                     "nl", "indirect", None)
    for bad, field in (({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
                       ({"quiet_start": "21:00"}, "quiet_end"), ({"channel": "chat"}, "channel"),
                       ({"locale": "xx"}, "locale")):
        with pytest.raises(forms.FieldError) as error:
            forms.preferences(bad, kinds=kinds, locales=("en", "nl"), chat_possible=False)
        assert error.value.field == field
