"""One realistic example per event, used to write docs/events.md and checked against the models."""

from __future__ import annotations

PROFILE = {
    "participant_id": "p-000123", "program_id": "global-2027", "roles": ["mentee"],
    "name": "Ana Souza", "email": "ana.souza@example.com", "locale": "pt-BR", "languages": ["pt", "en"],
    "timezone": "America/Sao_Paulo", "country": "BR", "region": "LATAM", "sector": "marketing",
    "department": "growth", "manager_id": "p-000045", "seniority": 2,
    "skills": ["analytics"], "goals": ["asia market entry", "public speaking"], "mentor_capacity": 0,
    "preferences": {"diverse_perspective": True},
    "availability": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
    "communication": {"channel": "email", "style": "indirect", "quiet_hours": {"start": "21:00", "end": "07:30"}},
}

_MEETING = {
    "meeting_id": "5f0c2f43-6c0e-5d1b-9a43-2d8a3f1e7c10", "relationship_id": "rel-7c1d", "program_id": "global-2027",
    "mentor_id": "p-000777", "mentee_id": "p-000123", "occurrence": 1,
    "start": "2027-01-13T12:00:00Z", "end": "2027-01-13T12:45:00Z",
}
_ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tandem//Scheduling//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        "UID:0f6d...@tandem\r\nSEQUENCE:0\r\nDTSTART:20270113T120000Z\r\nDTEND:20270113T124500Z\r\n...\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")

PROGRAM = {
    "program_id": "global-2027", "name": "Global mentoring 2027", "timezone": "Europe/Amsterdam",
    "ops_contacts": [{"name": "Sanne de Vries", "email": "sanne.devries@example.com", "locale": "nl-NL"},
                     {"name": "Program team", "email": "mentoring@example.com", "channel": "chat",
                      "webhook_url": "https://chat.example.com/hooks/T0001/B0001"}],
    "cadence_days": 14, "duration_minutes": 45, "min_notice_hours": 48, "response_window_hours": 72,
    "min_overlap_hours": 2, "reminder_offsets_minutes": [1440, 60],
    "matching_weights": {"goal_fit": 0.4, "availability": 0.15, "seniority": 0.15, "perspective": 0.2,
                         "language": 0.1},
    "term_days": 180, "checkin_first_day": 30, "checkin_every_days": 60,
    "cadence_days_min": 7, "cadence_days_max": 28, "duration_minutes_min": 30, "duration_minutes_max": 90,
    "video_link_template": "https://meet.jit.si/tandem-{meeting_id}", "organizer_email": "mentoring@example.com",
}

EXAMPLES: dict[tuple[str, str], dict] = {
    ("programs.v1", "program.configured"): PROGRAM,
    ("participants.v1", "participant.onboarded"): PROFILE,
    ("participants.v1", "participant.updated"): {**PROFILE, "availability": [
        {"days": ["mon", "wed"], "start": "08:00", "end": "12:00"}]},
    ("participants.v1", "participant.erased"): {"participant_id": "p-000123", "program_id": "global-2027",
                                                "requested_at": "2027-05-02T09:30:00Z"},
    ("feedback-submissions.v1", "goal.progress.recorded"): {
        "relationship_id": "rel-7c1d", "participant_id": "p-000123", "goal": "public speaking", "progress": 60,
        "note": "Gave the quarterly update to the whole department."},
    ("feedback.v1", "goal.achieved"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "mentor_id": "p-000777", "mentee_id": "p-000123",
        "goal": "public speaking", "achieved_at": "2027-04-20T10:00:00Z"},
    ("feedback.v1", "relationship.meetings.missed"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "mentor_id": "p-000777", "mentee_id": "p-000123",
        "consecutive": 2},
    ("feedback.v1", "relationship.concluded"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "mentor_id": "p-000777", "mentee_id": "p-000123",
        "reason_code": "term_completed", "established_at": "2027-01-11T09:00:00Z", "ended_at": "2027-07-10T09:00:00Z",
        "meetings_held": 11, "goals": [{"goal": "public speaking", "progress": 100},
                                       {"goal": "asia market entry", "progress": 70}],
        "milestones": ["first keynote"], "term_served": 1.0, "certificate": True},
    ("privacy.v1", "participant.erasure.completed"): {"participant_id": "p-000123", "service": "notifications",
                                                      "completed_at": "2027-05-02T09:30:01Z"},
    ("participants.v1", "participant.preferences.changed"): {
        "participant_id": "p-000123", "program_id": "global-2027", "muted": ["reminders"], "channel": "email",
        "quiet_hours": {"start": "21:00", "end": "07:30"}, "locale": "pt-BR", "style": "indirect",
        "changed_at": "2027-01-09T18:02:00Z"},
    ("relationship-commands.v1", "relationship.agreement.recorded"): {
        "relationship_id": "rel-7c1d", "participant_id": "p-000123", "cadence_days": 14, "duration_minutes": 60,
        "place": "video", "response_time_hours": 48, "goals": ["public speaking", "asia market entry"],
        "boundaries": "No calls before 08:00 my time; career questions yes, salary questions no.",
        "recorded_at": "2027-01-06T08:15:00Z"},
    ("feedback.v1", "relationship.fit.questioned"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "mentor_id": "p-000777", "mentee_id": "p-000123",
        "participant_id": "p-000123", "questioned_at": "2027-01-13T13:10:00Z"},
    ("participants.v1", "participant.offboarded"): {"participant_id": "p-000123", "program_id": "global-2027",
                                                    "reason": "left the company"},
    ("match-requests.v1", "match.requested"): {"mentee_id": "p-000123", "program_id": "global-2027"},
    ("match-requests.v1", "cohort.round.requested"): {"program_id": "global-2027", "round_id": "2027-q1"},
    ("match-work.v1", "match.request.queued"): {"program_id": "global-2027", "mentee_id": "p-000123",
                                                "request_id": "6f1c2a4e-8d1b-4c55-9a57-2f0e6b1d3c77"},
    ("match-work.v1", "profile.change.queued"): {"program_id": "global-2027", "participant_id": "p-000123"},
    ("match-responses.v1", "proposal.accepted"): {"proposal_id": "prop-91ab", "participant_id": "p-000777"},
    ("match-responses.v1", "proposal.declined"): {"proposal_id": "prop-91ab", "participant_id": "p-000777",
                                               "reason": "no time this quarter", "reason_code": "no_time"},
    ("matches.v1", "match.proposed"): {
        "proposal_id": "prop-91ab", "program_id": "global-2027", "mentee_id": "p-000123", "mentor_id": "p-000777",
        "score": 0.82, "round_id": "2027-q1", "expires_at": "2027-01-07T09:00:00Z",
        "explanation": {
            "score": 0.82,
            "components": {
                "goal_fit": {"value": 1.0, "weight": 0.4, "contribution": 0.4,
                             "note": "mentor's skills cover 2 of 2 goals (asia market entry, public speaking)"},
                "availability": {"value": 1.0, "weight": 0.15, "contribution": 0.15,
                                 "note": "8 h overlap in the week from 2027-01-04T09:00:00+00:00 (enough at 6 h)"},
                "seniority": {"value": 0.4, "weight": 0.15, "contribution": 0.06,
                              "note": "mentor is 6 levels more senior (8 vs 2; ideal gap 2-4)"},
                "perspective": {"value": 1.0, "weight": 0.2, "contribution": 0.2,
                                "note": "mentee asked for a diverse perspective: other region (APAC)"},
                "language": {"value": 0.1, "weight": 0.1, "contribution": 0.01,
                             "note": "they share a language (en), not the mentee's first"}},
            "facts": {"overlap_hours": 8.0, "min_overlap_hours": 2.0, "seniority_gap": 6,
                      "shared_languages": ["en"], "goals_covered": ["asia market entry", "public speaking"],
                      "mentor_free_places": 1}}},
    ("matches.v1", "match.established"): {
        "relationship_id": "rel-7c1d", "proposal_id": "prop-91ab", "program_id": "global-2027",
        "mentee_id": "p-000123", "mentor_id": "p-000777", "established_at": "2027-01-05T10:12:00Z",
        "goals": ["asia market entry", "public speaking"]},
    ("matches.v1", "match.declined"): {"proposal_id": "prop-91ab", "program_id": "global-2027",
                                       "mentee_id": "p-000123", "mentor_id": "p-000777",
                                       "reason": "no time this quarter"},
    ("matches.v1", "match.expired"): {"proposal_id": "prop-91ab", "program_id": "global-2027",
                                      "mentee_id": "p-000123", "mentor_id": "p-000777",
                                      "expired_at": "2027-01-07T09:00:00Z"},
    ("matches.v1", "match.ended"): {"relationship_id": "rel-7c1d", "program_id": "global-2027",
                                    "mentee_id": "p-000123", "mentor_id": "p-000777",
                                    "reason": "the mentor has moved to another role", "ended_at": "2027-03-01T08:00:00Z",
                                    "reason_code": "ended_on_request", "requested_by": "ops:sanne"},
    ("matches.v1", "relationship.end.scheduled"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "mentor_id": "p-000777", "mentee_id": "p-000123",
        "ends_at": "2027-07-10T09:00:00Z"},
    ("matches.v1", "match.unavailable"): {"program_id": "global-2027", "mentee_id": "p-000124",
                                          "reason": "no mentor shares a language", "reason_code": "no_shared_language",
                                          "reason_params": {"languages": ["pt"]}},
    ("relationship-commands.v1", "relationship.end.requested"): {
        "relationship_id": "rel-7c1d", "requested_by": "ops:sanne", "reason": "the mentor has moved to another role",
        "rematch": True, "do_not_pair_again": False},
    ("relationship-commands.v1", "relationship.nudge.requested"): {
        "relationship_id": "rel-7c1d", "requested_by": "ops:sanne",
        "note": "Your last two meetings did not happen; could you find a new time together?"},
    ("meeting-commands.v1", "meeting.reschedule.requested"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "requested_by": "p-000123",
        "new_start": "2027-01-14T12:00:00Z", "reason": "travelling"},
    ("meeting-commands.v1", "meeting.cancel.requested"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "requested_by": "p-000777",
        "reason": "ill", "reason_code": "unwell"},
    ("meeting-commands.v1", "meeting.attendance.recorded"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "recorded_by": "p-000777",
        "attendance": {"p-000777": True, "p-000123": True}},
    ("meetings.v1", "meeting.scheduled"): {**_MEETING, "kind": "kickoff", "sequence": 0, "ics": _ICS,
                                           "alternatives": ["2027-01-14T12:00:00Z", "2027-01-15T08:30:00Z",
                                                            "2027-01-18T12:00:00Z"],
                                           "place": "video", "location": "https://meet.jit.si/tandem-5f0c2f43"},
    ("meetings.v1", "meeting.rescheduled"): {**_MEETING, "start": "2027-01-14T12:00:00Z",
                                             "end": "2027-01-14T12:45:00Z", "previous_start": "2027-01-13T12:00:00Z",
                                             "sequence": 1, "ics": _ICS.replace("SEQUENCE:0", "SEQUENCE:1"),
                                             "reason": "travelling",
                                             "alternatives": ["2027-01-15T08:30:00Z", "2027-01-18T12:00:00Z",
                                                              "2027-01-19T12:00:00Z"],
                                             "place": "video", "location": "https://meet.jit.si/tandem-5f0c2f43"},
    ("meetings.v1", "meeting.cancelled"): {**_MEETING, "sequence": 2, "reason": "ill",
                                           "reason_code": {"code": "cancelled_by_participant",
                                                           "params": {"by": "p-000777"}},
                                           "ics": _ICS.replace("METHOD:REQUEST", "METHOD:CANCEL")},
    ("meetings.v1", "meeting.completed"): _MEETING,
    ("meetings.v1", "meeting.missed"): {**_MEETING, "absent": ["p-000123"]},
    ("meetings.v1", "meeting.unplaceable"): {
        "relationship_id": "rel-7c1d", "program_id": "global-2027", "occurrence": 4,
        "reason": "no 45-minute slot inside both people's hours between 2027-02-22 and 2027-02-28"},
    ("meetings.v1", "relationship.unschedulable"): {
        "relationship_id": "rel-8e2f", "program_id": "global-2027", "mentor_id": "p-000778", "mentee_id": "p-000130",
        "reason": "their availability never overlaps: mentor Mon-Fri 09:00-17:00 Europe/Amsterdam, "
                  "mentee Mon-Fri 09:00-17:00 Pacific/Auckland"},
    ("reminders.v1", "reminder.due"): {
        "reminder_id": "6a1e0c55-1b6f-5b1d-8f0e-9c2d4e6f8a01", "meeting_id": _MEETING["meeting_id"],
        "relationship_id": "rel-7c1d", "participant_ids": ["p-000777", "p-000123"],
        "meeting_start": "2027-01-13T12:00:00Z", "minutes_before": 60},
    ("feedback-submissions.v1", "feedback.submitted"): {
        "feedback_id": "fb-2201", "relationship_id": "rel-7c1d", "participant_id": "p-000123",
        "kind": "meeting", "meeting_id": _MEETING["meeting_id"], "rating": 5, "progress": 4,
        "comment": "We mapped my first steps into the Japanese market.", "goals_achieved": ["public speaking"]},
    ("feedback.v1", "feedback.requested"): {
        "request_id": "0d9b3f2e-8c1a-5e4f-b6d7-1a2b3c4d5e6f", "relationship_id": "rel-7c1d",
        "kind": "meeting", "meeting_id": _MEETING["meeting_id"], "participant_id": "p-000123", "role": "mentee",
        "due_at": "2027-01-20T12:45:00Z", "reminder": False},
    ("feedback.v1", "relationship.health.changed"): {
        "relationship_id": "rel-7c1d", "previous": "healthy", "current": "watch", "score": 58.3,
        "reasons": ["1 of 3 meetings missed"],
        "reason_codes": [{"code": "meetings_missed", "params": {"missed": 1, "held": 3}}]},
    ("feedback.v1", "relationship.at_risk"): {
        "relationship_id": "rel-7c1d", "score": 38.0,
        "reasons": ["recent ratings are low (average 1.7 of 5)", "2 feedback requests unanswered"],
        "reason_codes": [{"code": "ratings_low", "params": {"average": 1.7}},
                         {"code": "requests_unanswered", "params": {"count": 2}}]},
    ("feedback.v1", "milestone.achieved"): {"relationship_id": "rel-7c1d", "participant_id": "p-000123",
                                            "milestone": "first keynote", "goal": "public speaking"},
    ("notifications.v1", "notification.delivered"): {
        "notification_id": "9b2c...", "recipient_id": "p-000123", "channel": "email",
        "template": "meeting_scheduled", "language": "en", "cause_event_id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
        "delivered_at": "2027-01-05T10:13:02Z"},
    ("notifications.v1", "notification.failed"): {
        "notification_id": "9b2d...", "recipient_id": "p-000777", "channel": "email", "template": "reminder_due",
        "cause_event_id": "6a1e0c55-1b6f-5b1d-8f0e-9c2d4e6f8a01",
        "error": "recipient refused: 550 mailbox unavailable", "attempts": 1},
}
