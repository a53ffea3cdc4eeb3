"""Every message Tandem writes, composed from realistic events through the real `compose` code:
each template, each of its cases (a kickoff and a recurring meeting, the mentor's and the mentee's
introduction, ...) and each reason code. Used to render everything in every language and tone."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from services.notifications.domain import compose, digest, program_team
from services.notifications.domain.outgoing import Outgoing
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts.examples import EXAMPLES
from shared.contracts.types import Reason
from shared.dead_letters import DeadLetter
from shared.people import Pair
from shared.programs import OpsContact, ProgramSettings
from tests.services.notifications.fakes import participant

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
ANA = participant("p-000123", name="Ana Souza", locale="pt-BR", tz="America/Sao_Paulo", languages=("pt", "en"),
                  region="LATAM", sector="marketing", goals=("asia market entry", "public speaking"))
BRAM = participant("p-000777", name="Bram de Vries", roles=("mentor",), locale="nl-NL", languages=("nl", "en"),
                   tz="Asia/Tokyo", region="APAC")
CONTACT = OpsContact("Sanne de Vries", "sanne@example.com", "nl-NL")
PROGRAM = replace(ProgramSettings.resolve("global-2027", None, NotificationSettings()), name="Global mentoring 2027",
                  ops_contacts=(CONTACT,))
# What a proposal says mentoring asks of the mentor: the program's settings.
TERMS = {"cadence_days": PROGRAM.cadence_days, "duration_minutes": PROGRAM.duration_minutes,
         "term_days": PROGRAM.term_days}


@dataclass(frozen=True)
class Sample:
    label: str
    outgoing: Outgoing
    team: bool = False


def _event(topic: str, kind: str, model, **changes):
    return model.model_validate({**EXAMPLES[(topic, kind)], **changes})


def participant_samples() -> list[Sample]:
    found: list[Sample] = []

    def add(label: str, messages: list[Outgoing]) -> None:
        found.extend(Sample(f"{label}/{m.recipient_id}", m) for m in messages)

    add("proposed", compose.match_proposed(_event("matches.v1", "match.proposed", ev.MatchProposed), BRAM, ANA, **TERMS))
    one_goal = ANA.with_(goals=("public speaking",))
    add("proposed-one-goal", compose.match_proposed(_event("matches.v1", "match.proposed", ev.MatchProposed, explanation={
        "components": {"goal_fit": {"reason": {"code": "goals_covered", "params": {
            "covered": ["public speaking"], "missing": [], "total": 1}}}}}), BRAM, one_goal, **TERMS))
    add("proposed-some-goals", compose.match_proposed(_event("matches.v1", "match.proposed", ev.MatchProposed, explanation={
        "components": {"goal_fit": {"reason": {"code": "goals_covered", "params": {
            "covered": ["public speaking"], "missing": ["budgeting", "hiring"], "total": 3}}},
            "availability": {"reason": {"code": "weekly_overlap", "params": {"hours": 1.2, "enough_hours": 6}}}}}),
        BRAM, ANA, **TERMS))
    add("proposed-all-goals", compose.match_proposed(_event("matches.v1", "match.proposed", ev.MatchProposed, explanation={
        "components": {"goal_fit": {"reason": {"code": "goals_covered", "params": {
            "covered": ["a", "b", "c"], "missing": [], "total": 3}}},
            "perspective": {"reason": {"code": "diverse_perspective", "params": {"asked": True, "met": True}}},
            "availability": {"reason": {"code": "weekly_overlap", "params": {"hours": 8, "enough_hours": 6}}}}}),
        BRAM, ANA, **TERMS))
    add("proposed-nothing-to-say", compose.match_proposed(_event("matches.v1", "match.proposed", ev.MatchProposed,
                                                                 explanation={}), BRAM, ANA.with_(goals=()), **TERMS))
    add("established", compose.match_established(_event("matches.v1", "match.established", ev.MatchEstablished),
                                                 BRAM, ANA, cadence_days=14, duration_minutes=45))
    scheduled = _event("meetings.v1", "meeting.scheduled", ev.MeetingScheduled)
    add("kickoff", compose.meeting_scheduled(scheduled, BRAM, ANA))
    add("recurring", compose.meeting_scheduled(scheduled.model_copy(update={"kind": "recurring"}), BRAM, ANA))
    rescheduled = _event("meetings.v1", "meeting.rescheduled", ev.MeetingRescheduled)  # Ana asked: "you", "Ana"
    add("rescheduled", compose.meeting_rescheduled(rescheduled, BRAM, ANA))
    for by, who in (("ops:sanne", "team"), (None, "unknown")):  # the program team; a move scheduling made itself
        add(f"rescheduled-by-{who}", compose.meeting_rescheduled(rescheduled.model_copy(update={"requested_by": by}),
                                                                BRAM, ANA))
    cancelled = _event("meetings.v1", "meeting.cancelled", ev.MeetingCancelled)
    codes = [Reason(code="cancelled_by_participant", params={"by": BRAM.participant_id, "note": "ill"}),
             Reason(code="cancelled_by_program_team"), Reason(code="relationship_ended"),
             Reason(code="relationship_term_completed")]
    for code in codes:
        add(f"cancelled-{code.code}", compose.meeting_cancelled(cancelled.model_copy(update={"reason_code": code}),
                                                                BRAM, ANA))
    reminder = _event("reminders.v1", "reminder.due", ev.ReminderDue)
    add("reminder", compose.reminder_due(reminder, {BRAM.participant_id: BRAM, ANA.participant_id: ANA}))
    requested = _event("feedback.v1", "feedback.requested", ev.FeedbackRequested)
    for kind, reminded in (("meeting", False), ("checkin", False), ("checkin", True), ("closure", False)):
        add(f"feedback-{kind}-{reminded}", compose.feedback_requested(
            requested.model_copy(update={"kind": kind, "reminder": reminded}), ANA, BRAM))
    milestone = _event("feedback.v1", "milestone.achieved", ev.MilestoneAchieved)
    add("milestone", compose.milestone_achieved(milestone, ANA, BRAM))
    add("goal", compose.goal_achieved(_event("feedback.v1", "goal.achieved", ev.GoalAchieved), BRAM, ANA))
    missed = _event("feedback.v1", "relationship.meetings.missed", ev.RelationshipMeetingsMissed)
    add("missed", compose.meetings_missed(missed, BRAM, ANA))
    # Ana proposed how they will work together and a meeting is planned: Bram confirms, either can move it.
    add("missed-to-confirm-with-meeting", compose.meetings_missed(missed, BRAM, ANA, compose.PairState(
        agreed_by=ANA.participant_id, answered=frozenset({ANA.participant_id}),
        next_meeting=("m-7", datetime(2027, 1, 11, 14, 0, tzinfo=UTC), 2))))
    add("end-scheduled", compose.end_scheduled(_event("matches.v1", "relationship.end.scheduled",
                                                      ev.RelationshipEndScheduled), BRAM, ANA))
    ended = _event("matches.v1", "match.ended", ev.MatchEnded)
    add("ended-on-request", compose.match_ended(ended, BRAM, ANA))
    add("ended-term", compose.match_ended(ended.model_copy(update={"reason_code": "term_completed"}), BRAM, ANA))
    add("left-mentee", compose.partner_left(ANA, BRAM, remaining_role="mentee"))
    add("left-mentor", compose.partner_left(BRAM, ANA, remaining_role="mentor"))
    nudge = _event("relationship-commands.v1", "relationship.nudge.requested", ev.RelationshipNudgeRequested)
    add("nudge", compose.relationship_nudge(nudge, BRAM, ANA))
    add("nudge-without-note", compose.relationship_nudge(nudge.model_copy(update={"note": None}), BRAM, ANA))
    # Ana proposed how they will work together: Bram is asked to confirm it; their next meeting can move.
    add("nudge-to-confirm-with-meeting", compose.relationship_nudge(nudge, BRAM, ANA, compose.PairState(
        agreed_by=ANA.participant_id, answered=frozenset({ANA.participant_id}),
        next_meeting=("m-7", datetime(2027, 1, 11, 14, 0, tzinfo=UTC), 2))))
    add("fit-questioned", compose.fit_questioned(_event("feedback.v1", "relationship.fit.questioned",
                                                        ev.RelationshipFitQuestioned), BRAM, ANA))
    add("attendance", compose.attendance_requested("m-1", NOW, NOW, BRAM, ANA))
    unavailable = _event("matches.v1", "match.unavailable", ev.MatchUnavailable)
    for code in (*UNMATCHED, "a_code_from_a_newer_matching"):  # worded where it helps the mentee, else left out
        add(f"unavailable-{code}", compose.match_unavailable(unavailable.model_copy(update={"reason_code": code}), ANA))
    concluded = _event("feedback.v1", "relationship.concluded", ev.RelationshipConcluded)
    concluded = concluded.model_copy(update={"goals": [*concluded.goals, ev.GoalProgress(goal="budgeting", progress=0)]})
    add("concluded", compose.relationship_concluded(concluded, BRAM, ANA, program_name="Global mentoring 2027"))
    add("concluded-one-meeting", compose.relationship_concluded(
        concluded.model_copy(update={"meetings_held": 1, "certificate": False}), BRAM, ANA,
        program_name="Global mentoring 2027"))
    return found


def team_samples() -> list[Sample]:
    program = PROGRAM
    at_risk = _event("feedback.v1", "relationship.at_risk", ev.RelationshipAtRisk)
    every_health = [Reason(code="ratings_low", params={"average": 1.7}), Reason(code="little_progress"),
                    Reason(code="meetings_missed", params={"missed": 2, "held": 5}),
                    Reason(code="meetings_missed", params={"missed": 1, "held": 1}),
                    Reason(code="meetings_missed_in_a_row", params={"count": 3}),
                    Reason(code="requests_unanswered", params={"count": 1}),
                    Reason(code="checkins_unanswered", params={"count": 2}),
                    Reason(code="goals_stalled", params={"progress": 10, "term_elapsed": 60}),
                    Reason(code="going_well")]
    at_risk = at_risk.model_copy(update={"reason_codes": every_health, "reasons": ["(English)"] * len(every_health)})
    pair = Pair("rel-7c1d", "global-2027", BRAM.participant_id, ANA.participant_id, NOW)
    people = {BRAM.participant_id: BRAM, ANA.participant_id: ANA}
    found = [Sample("at-risk", m, team=True) for m in program_team.at_risk_alert(
        at_risk, pair, people, program, dashboard_url="http://127.0.0.1:8084/dashboard")]
    items = [digest.DigestItem.unmatched(f"u-{code}", ev.MatchUnavailable(
        program_id="global-2027", mentee_id=f"m-{code}", reason="(English)", reason_code=code, reason_params=params),
        at=NOW) for code, params in UNMATCHED.items()]
    items.append(digest.DigestItem.unschedulable("s-1", _event("meetings.v1", "relationship.unschedulable",
                                                               ev.RelationshipUnschedulable), at=NOW))
    items.append(digest.DigestItem.dead_letter(DeadLetter(
        topic="matches.v1", partition=0, offset=42, reason="not JSON", error_type="DecodeError",
        service="notifications", failed_at=NOW, event_type="match.proposed", program_id="global-2027"),
        "global-2027", at=NOW))
    found += [Sample("digest", m, team=True) for m in digest.compose(
        items, program, date(2027, 1, 5), people, dashboard_url="http://127.0.0.1:8084/dashboard")]
    single = digest.compose(items[:1], program, date(2027, 1, 5), people, dashboard_url="http://x")
    found += [Sample("digest-one", m, team=True) for m in single]
    return found


UNMATCHED = {
    "no_mentors": {}, "no_shared_language": {}, "no_more_senior": {"sharing_language": 3}, "only_themselves": {},
    "management_chain": {}, "previously_paired": {}, "no_overlap": {"min_hours": 2, "compatible": 4},
    "no_meeting_window": {"meeting_minutes": 45, "compatible": 3},
    "mentors_at_capacity": {"compatible": 1}, "at_capacity": {}, "places_taken_in_round": {},
}


def all_samples() -> list[Sample]:
    return participant_samples() + team_samples()


