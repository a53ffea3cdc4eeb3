"""What people read: each message in the reader's language and tone, times on their own clock, zones
and languages by name, reasons and explanations worded from codes, and quiet hours."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.notifications.domain import compose
from services.notifications.domain.explanation import why
from services.notifications.domain.messages import template
from services.notifications.domain.quiet_hours import next_allowed
from services.notifications.domain.render import Writer, render
from services.notifications.i18n.catalogues import language_for
from services.notifications.i18n.values import Moment
from shared.contracts import events as ev
from shared.contracts.examples import EXAMPLES
from shared.contracts.types import Reason
from shared.people import Communication
from tests.services.notifications.fakes import participant

ANA = participant("ana", name="Ana Souza", locale="pt-BR", tz="America/Sao_Paulo", style="indirect",
                  languages=("pt", "en"), region="LATAM", sector="marketing",
                  goals=("asia market entry", "public speaking"))
BRAM = participant("bram", name="Bram de Vries", roles=("mentor",), locale="nl-NL", languages=("nl", "en"))
ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}"


def written(out, reader):
    return render(template(out.template), language_for(reader.locale), reader.communication.style, out.context)


def test_a_proposal_explains_why_in_one_or_two_sentences_in_the_mentors_language():
    data = ev.MatchProposed.model_validate(EXAMPLES[("matches.v1", "match.proposed")])
    (out,) = compose.match_proposed(data, BRAM, ANA, **TERMS)
    mail = written(out, BRAM)
    assert mail.language == "nl" and mail.subject == "Nieuwe mentee voor u: Ana Souza"
    assert "U heeft aan beide doelen van Ana Souza gewerkt. Uw agenda's overlappen ongeveer 8 uur per week." \
        in mail.text
    assert "- asia market entry\n- public speaking" in mail.text  # who the mentee is: their goals first
    assert "januari 2027" in mail.text and "(Midden-Europese tijd)" in mail.text  # Bram's clock, in Dutch
    # Nothing of the engine's own bookkeeping reaches the reader.
    assert "0.82" not in mail.text and "ideal gap" not in mail.text and "p-000" not in mail.text


TERMS = {"cadence_days": 14, "duration_minutes": 45, "term_days": 180}


@pytest.mark.parametrize("reader, says", [
    (BRAM, "Wat het van u vraagt: elke 2 weken een bijeenkomst van 45 minuten, gedurende 180 dagen."),
    (BRAM.with_(locale="ja", communication=Communication(style="indirect")),
     "ご参考までに、おおよそ2週間ごとに、45 分のミーティングを180 日にわたってお願いすることになります。"),
])
def test_a_proposal_says_what_mentoring_asks_of_the_mentor_before_they_answer(reader, says):
    """The guide: clear expectations from the start, how often and how long people meet and for how long."""
    data = ev.MatchProposed.model_validate(EXAMPLES[("matches.v1", "match.proposed")])
    (out,) = compose.match_proposed(data, reader, ANA, **TERMS)
    mail = written(out, reader)
    assert says in mail.text
    assert mail.text.index(says) < mail.text.index("2027")  # before the deadline to answer by


def test_the_explanation_is_built_from_matchings_reason_codes_or_its_facts():
    both = {"components": {"goal_fit": {"reason": {"code": "goals_covered", "params": {
        "covered": ["public speaking", "hiring"], "missing": [], "total": 2}}},
        "availability": {"reason": {"code": "weekly_overlap", "params": {"hours": 3.4, "enough_hours": 6}}}}}
    english = Writer(language_for("en"), "direct")
    assert english.show(why(both, ANA)).text == ("You have worked on both of Ana Souza's goals. "
                                                 "Your calendars overlap by about 3 hours each week.")
    older = {"facts": {"goals_covered": ["public speaking"], "overlap_hours": 1.0}}  # before reason codes
    assert english.show(why(older, ANA)).text == ("You have experience in public speaking, one of the 2 goals "
                                                  "Ana Souza has set. Your calendars overlap by about an hour "
                                                  "each week.")
    japanese = Writer(language_for("ja"), "indirect")
    assert japanese.show(why(both, ANA)).text.endswith("毎週およそ3時間、お二人のご都合の合う時間が重なっています。")


def test_a_meeting_is_shown_on_each_persons_own_clock_with_zones_by_name():
    data = ev.MeetingScheduled.model_validate(EXAMPLES[("meetings.v1", "meeting.scheduled")])
    to_bram, to_ana = compose.meeting_scheduled(data, BRAM, ANA)
    assert to_bram.context["start"] == Moment(data.start, "Europe/Amsterdam")
    assert to_bram.context["start_other"] == Moment(data.start, "America/Sao_Paulo")
    assert to_ana.attachment.mime_type == "text/calendar; method=REQUEST" and to_ana.useful_until == data.start
    to_ana_mail = written(to_ana, ANA)
    assert to_ana_mail.language == "pt-BR"
    assert "quarta-feira, 13 de janeiro de 2027 09:00 (Horário de Brasília)" in to_ana_mail.text
    assert "13:00 (Horário da Europa Central)" in to_ana_mail.text  # Bram's clock, in Ana's language
    assert "America/Sao_Paulo" not in to_ana_mail.text and "Europe/Amsterdam" not in to_ana_mail.text


def test_the_other_clock_is_left_out_when_both_read_the_same_time():
    data = ev.MeetingScheduled.model_validate(EXAMPLES[("meetings.v1", "meeting.scheduled")])
    neighbour = BRAM.with_(participant_id="carl", name="Carl")
    (to_bram, _) = compose.meeting_scheduled(data, BRAM, neighbour)
    assert to_bram.context["start_other"] is None
    assert "Voor Carl" not in written(to_bram, BRAM).text


def test_an_introduction_names_languages_and_zones_and_suggests_the_slower_reply_time():
    data = ev.MatchEstablished.model_validate(EXAMPLES[("matches.v1", "match.established")])
    slow = BRAM.with_(communication=Communication(response_time_hours=72))
    to_bram, to_ana = compose.match_established(data, slow, ANA, cadence_days=14, duration_minutes=45)
    text = written(to_bram, BRAM).text
    assert "Ana Souza spreekt Portugees en Engels; de tijdzone van Ana Souza is Braziliaanse tijd." in text
    assert "elke 2 weken 45 minuten af te spreken, en binnen 3 dagen" in text
    assert written(to_ana, ANA).subject == "Uma apresentação: Bram de Vries"  # her indirect tone


def test_a_reminder_says_how_soon_in_the_readers_language():
    data = ev.ReminderDue.model_validate(EXAMPLES[("reminders.v1", "reminder.due")])
    people = {data.participant_ids[0]: BRAM.with_(participant_id=data.participant_ids[0]),
              data.participant_ids[1]: ANA.with_(participant_id=data.participant_ids[1])}
    to_bram, to_ana = compose.reminder_due(data, people)
    assert written(to_bram, BRAM).subject == "Herinnering: uw bijeenkomst met Ana Souza begint over 1 uur"
    assert "encontrar Bram de Vries em 1 hora" in written(to_ana, ANA).text
    assert to_bram.useful_until == data.meeting_start


@pytest.mark.parametrize("tone", ["direct", "indirect"])
def test_german_lengths_of_time_stand_in_the_case_their_sentence_needs(tone):
    """Babel writes "2 Tage" (nominative); after "innerhalb von" or "in" German needs "2 Tagen": the
    German sentences are built so that the length of time fits as written."""
    reader = BRAM.with_(locale="de", communication=Communication(style=tone, response_time_hours=48))
    data = ev.MatchEstablished.model_validate(EXAMPLES[("matches.v1", "match.established")])
    to_bram, _ = compose.match_established(data, reader, ANA, cadence_days=14, duration_minutes=45)
    reminder = ev.ReminderDue.model_validate(EXAMPLES[("reminders.v1", "reminder.due")]).model_copy(
        update={"minutes_before": 2 * 1440})
    people = {pid: reader.with_(participant_id=pid) for pid in reminder.participant_ids}
    said = [written(to_bram, reader)] + [written(out, reader) for out in compose.reminder_due(reminder, people)]
    text = " ".join(mail.subject + " " + mail.text for mail in said)
    assert "2 Tage" in text  # said, and nowhere after a preposition that wants the dative
    assert not re.search(r"\b(von|in|nach|binnen|mit) 2 Tage\b", text), text


@pytest.mark.parametrize("code, to_ana, to_bram", [
    (Reason(code="cancelled_by_participant", params={"by": "bram", "note": "ill"}),
     "Infelizmente, Bram de Vries não pôde comparecer.", "U heeft de bijeenkomst geannuleerd."),
    (Reason(code="cancelled_by_program_team"), "A equipe do programa precisou cancelar o encontro.",
     "Het programmateam heeft de bijeenkomst geannuleerd."),
    (Reason(code="relationship_term_completed"), "Sua mentoria chegou ao fim do período previsto",
     "Uw mentortraject heeft het einde van de geplande periode bereikt."),
])
def test_a_cancellation_says_why_from_its_code_never_from_the_english(code, to_ana, to_bram):
    data = ev.MeetingCancelled.model_validate({**EXAMPLES[("meetings.v1", "meeting.cancelled")],
                                               "mentor_id": "bram", "mentee_id": "ana",
                                               "reason_code": code.model_dump()})
    for_bram, for_ana = compose.meeting_cancelled(data, BRAM, ANA)
    ana_text, bram_text = written(for_ana, ANA).text, written(for_bram, BRAM).text
    assert to_ana in ana_text and to_bram in bram_text
    assert "ill" not in bram_text  # Bram's own note is not read back to him
    assert ("“ill”" in ana_text) == (code.code == "cancelled_by_participant")
    assert "bram" not in ana_text  # the id in the code is never shown


def test_the_closing_summary_lists_goals_by_how_far_they_came_and_attaches_a_certificate():
    data = ev.RelationshipConcluded.model_validate(EXAMPLES[("feedback.v1", "relationship.concluded")])
    for_bram, for_ana = compose.relationship_concluded(data, BRAM, ANA, program_name="Pilot")
    text = written(for_ana, ANA).text
    assert "Vocês se encontraram 11 vezes." in text
    assert "- public speaking: alcançado\n- asia market entry: 70% do caminho percorrido" in text
    assert "- first keynote" in text and "certificado de conclusão" in text
    assert for_ana.certificate.role == "mentee" and for_bram.certificate.role == "mentor"
    no_certificate = compose.relationship_concluded(data.model_copy(update={"certificate": False}), BRAM, ANA,
                                                    program_name="Pilot")
    assert all(o.certificate is None for o in no_certificate)
    assert "certificado" not in written(no_certificate[1], ANA).text


def test_an_early_end_with_nothing_done_yet_is_not_celebrated():
    """Ended by the program team before a meeting took place: both were told kindly it ended
    (match_ended); a "congratulations" on goals not started would contradict it."""
    data = ev.RelationshipConcluded.model_validate(EXAMPLES[("feedback.v1", "relationship.concluded")]).model_copy(
        update={"reason_code": "ended_on_request", "meetings_held": 0, "milestones": [], "term_served": 0.01,
                "certificate": False, "goals": [ev.GoalProgress(goal="public speaking", progress=0)]})
    assert compose.relationship_concluded(data, BRAM, ANA, program_name="Pilot") == []
    one_meeting = data.model_copy(update={"meetings_held": 1})
    assert len(compose.relationship_concluded(one_meeting, BRAM, ANA, program_name="Pilot")) == 2
    some_progress = data.model_copy(update={"goals": [ev.GoalProgress(goal="public speaking", progress=20)]})
    assert len(compose.relationship_concluded(some_progress, BRAM, ANA, program_name="Pilot")) == 2


@pytest.mark.parametrize("kind, reminder, expected", [
    ("meeting", False, "feedback_requested"), ("checkin", False, "checkin_requested"),
    ("checkin", True, "checkin_reminder"), ("closure", False, "closure_requested"),
])
def test_each_kind_of_feedback_request_has_its_own_message(kind, reminder, expected):
    data = ev.FeedbackRequested.model_validate({**EXAMPLES[("feedback.v1", "feedback.requested")], "kind": kind,
                                                "reminder": reminder})
    (out,) = compose.feedback_requested(data, ANA, BRAM)
    assert out.template == expected and out.useful_until == data.due_at


def test_no_ids_no_timestamps_and_no_codes_in_what_people_read():
    import re

    from tests.services.notifications.samples import participant_samples

    for sample in participant_samples():
        for tone in ("direct", "indirect"):
            mail = render(template(sample.outgoing.template), language_for("en"), tone, sample.outgoing.context)
            for text in (mail.subject, mail.text):
                assert not re.search(ISO_TIMESTAMP, text), sample.label
                assert "p-000" not in text and "rel-" not in text and "_" not in text, (sample.label, text)
                assert not re.search(r"\b[A-Z][a-z]+/[A-Z][a-z_]+\b", text), sample.label  # an IANA zone id


@pytest.mark.parametrize("now, expected", [
    (datetime(2027, 1, 4, 12, 0, tzinfo=UTC), datetime(2027, 1, 4, 12, 0, tzinfo=UTC)),   # 09:00 in Sao Paulo
    (datetime(2027, 1, 5, 1, 0, tzinfo=UTC), datetime(2027, 1, 5, 10, 30, tzinfo=UTC)),   # 22:00 -> 07:30 next day
    (datetime(2027, 1, 5, 9, 0, tzinfo=UTC), datetime(2027, 1, 5, 10, 30, tzinfo=UTC)),   # 06:00 -> 07:30 same day
])
def test_quiet_hours_on_the_recipients_clock(now, expected):
    assert next_allowed(now, "America/Sao_Paulo", "21:00", "07:30") == expected


def test_quiet_hours_ending_in_a_dst_gap():
    # New York springs forward at 02:00 on 2027-03-14; quiet hours ending 02:30 end at 03:00 EDT.
    now = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 00:00 EST
    resumes = next_allowed(now, "America/New_York", "22:00", "02:30")
    assert resumes == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)  # the jump itself: 03:00 EDT


LOCALES = ("en", "nl-NL", "pt-BR", "es-ES", "fr-FR", "de-DE", "ja-JP", "zh-CN")


def _sentences(text: str) -> set[str]:
    return {s.strip() for s in re.split(r"(?<=[.!?:])\s+|\n", text) if re.search(r"[A-Za-z]{3}", s)}


@pytest.mark.parametrize("code, says", [
    ("no_shared_language", "If you speak other languages, tell the program team"),
    ("no_overlap", "If you can offer more available times"),
    ("no_meeting_window", "If you can offer longer blocks of time"),
    ("mentors_at_capacity", "Places free up as other mentoring relationships end."),
    ("places_taken_in_round", "In this matching round"),
    ("no_mentors", "The program has no mentors yet"),
])
def test_a_waiting_mentee_is_told_why_where_it_helps_them(code, says):
    data = ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason="(English)", reason_code=code)
    (out,) = compose.match_unavailable(data, ANA.with_(locale="en", communication=Communication(style="direct")))
    mail = written(out, ANA.with_(locale="en", communication=Communication(style="direct")))
    assert mail.subject == "We are still looking for a mentor for you"
    assert says in mail.text and "The program team knows" in mail.text and "You do not need to do anything now" \
        in mail.text and "(English)" not in mail.text


@pytest.mark.parametrize("code", ["no_more_senior", "management_chain", "previously_paired", "only_themselves",
                                  "a_code_from_a_newer_matching"])
def test_a_reason_that_does_not_help_the_mentee_is_left_out(code):
    data = ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason="(English)", reason_code=code)
    (out,) = compose.match_unavailable(data, ANA)
    assert out.context["reason"] is None
    assert "(English)" not in written(out, ANA).text


@pytest.mark.parametrize("locale", LOCALES[1:])
@pytest.mark.parametrize("style", ["direct", "indirect"])
def test_a_waiting_mentee_reads_it_all_in_their_own_language(locale, style):
    """Every sentence in all 8 languages, in both tones: none is the English one left in."""
    reader = ANA.with_(locale=locale, communication=Communication(style=style))
    english = ANA.with_(locale="en", communication=Communication(style=style))
    for code in ("no_shared_language", "no_overlap", "no_meeting_window", "mentors_at_capacity",
                 "places_taken_in_round", "no_mentors", "previously_paired"):
        data = ev.MatchUnavailable(program_id="prog-1", mentee_id="ana", reason="(English)", reason_code=code)
        (out,) = compose.match_unavailable(data, reader)
        mail, in_english = written(out, reader), written(out, english)
        assert mail.language != "en" and mail.subject != in_english.subject
        left_in = _sentences(in_english.text) & _sentences(mail.text)
        assert not left_in - {s for s in left_in if "Ana Souza" in s}, (locale, style, code, left_in)


def _rescheduled(requested_by: str | None) -> ev.MeetingRescheduled:
    return ev.MeetingRescheduled.model_validate({**EXAMPLES[("meetings.v1", "meeting.rescheduled")],
                                                 "mentor_id": "bram", "mentee_id": "ana",
                                                 "requested_by": requested_by})


@pytest.mark.parametrize("requested_by, to_bram, to_ana", [
    ("ana", "Ana Souza heeft uw bijeenkomst verzet naar",
     "Como você pediu, o seu encontro com Bram de Vries agora será em"),
    ("bram", "U heeft uw bijeenkomst met Ana Souza verzet naar",
     "Bram de Vries pediu para remarcar o seu encontro; agora ele será em"),
    ("ops:sanne", "Het programmateam heeft uw bijeenkomst met Ana Souza verzet naar",
     "A equipe do programa remarcou o seu encontro com Bram de Vries; agora ele será em"),
    (None, "Uw bijeenkomst met Ana Souza is verzet naar", "Seu encontro com Bram de Vries agora será em"),
    ("someone-else", "Uw bijeenkomst met Ana Souza is verzet naar", "Seu encontro com Bram de Vries agora será em"),
])
def test_a_moved_meeting_says_who_moved_it(requested_by, to_bram, to_ana):
    """The other by name, a confirmation for the one who asked, the program team for ops:..., and as
    before when it is not known (a move scheduling made itself, an older event, someone else)."""
    for_bram, for_ana = compose.meeting_rescheduled(_rescheduled(requested_by), BRAM, ANA)
    bram_text, ana_text = written(for_bram, BRAM).text, written(for_ana, ANA).text
    assert to_bram in bram_text and to_ana in ana_text
    assert "sanne" not in bram_text + ana_text and "someone-else" not in bram_text + ana_text  # never an id


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("style", ["direct", "indirect"])
@pytest.mark.parametrize("requested_by", ["ana", "bram", "ops:sanne", None])
def test_who_moved_a_meeting_is_said_in_every_language(locale, style, requested_by):
    reader = ANA.with_(locale=locale, communication=Communication(style=style))
    english = ANA.with_(locale="en", communication=Communication(style=style))
    _, for_ana = compose.meeting_rescheduled(_rescheduled(requested_by), BRAM, reader)
    mail = written(for_ana, reader)
    assert "{" not in mail.text and "Bram de Vries" in mail.text
    if locale != "en":
        left_in = _sentences(written(for_ana, english).text) & _sentences(mail.text)
        assert not {s for s in left_in if "Bram de Vries" not in s and "https://" not in s}, left_in
