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

EXAMPLES: dict[tuple[str, str], dict] = {
    ("participants.v1", "participant.onboarded"): PROFILE,
    ("participants.v1", "participant.updated"): {**PROFILE, "availability": [
        {"days": ["mon", "wed"], "start": "08:00", "end": "12:00"}]},
    ("participants.v1", "participant.offboarded"): {"participant_id": "p-000123", "program_id": "global-2027",
                                                    "reason": "left the company"},
    ("match-requests.v1", "match.requested"): {"mentee_id": "p-000123", "program_id": "global-2027"},
    ("match-requests.v1", "cohort.round.requested"): {"program_id": "global-2027", "round_id": "2027-q1"},
    ("match-responses.v1", "match.accepted"): {"proposal_id": "prop-91ab", "participant_id": "p-000777"},
    ("match-responses.v1", "match.declined"): {"proposal_id": "prop-91ab", "participant_id": "p-000777",
                                               "reason": "no time this quarter"},
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
                                    "mentee_id": "p-000123", "mentor_id": "p-000777", "reason": "offboarded",
                                    "ended_at": "2027-03-01T08:00:00Z"},
    ("matches.v1", "match.unavailable"): {"program_id": "global-2027", "mentee_id": "p-000124",
                                          "reason": "no mentor shares a language", "reason_code": "no_shared_language"},
    ("meeting-commands.v1", "meeting.reschedule.requested"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "requested_by": "p-000123",
        "new_start": "2027-01-14T12:00:00Z", "reason": "travelling"},
    ("meeting-commands.v1", "meeting.cancel.requested"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "requested_by": "p-000777",
        "reason": "ill"},
    ("meeting-commands.v1", "meeting.attendance.recorded"): {
        "meeting_id": _MEETING["meeting_id"], "relationship_id": "rel-7c1d", "recorded_by": "p-000777",
        "attendance": {"p-000777": True, "p-000123": True}},
    ("meetings.v1", "meeting.scheduled"): {**_MEETING, "kind": "kickoff", "sequence": 0, "ics": _ICS},
    ("meetings.v1", "meeting.rescheduled"): {**_MEETING, "start": "2027-01-14T12:00:00Z",
                                             "end": "2027-01-14T12:45:00Z", "previous_start": "2027-01-13T12:00:00Z",
                                             "sequence": 1, "ics": _ICS.replace("SEQUENCE:0", "SEQUENCE:1"),
                                             "reason": "travelling"},
    ("meetings.v1", "meeting.cancelled"): {**_MEETING, "sequence": 2, "reason": "ill",
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
        "meeting_id": _MEETING["meeting_id"], "rating": 5, "progress": 4,
        "comment": "We mapped my first steps into the Japanese market.", "goals_achieved": ["public speaking"]},
    ("feedback.v1", "feedback.requested"): {
        "request_id": "0d9b3f2e-8c1a-5e4f-b6d7-1a2b3c4d5e6f", "relationship_id": "rel-7c1d",
        "meeting_id": _MEETING["meeting_id"], "participant_id": "p-000123", "role": "mentee",
        "due_at": "2027-01-20T12:45:00Z"},
    ("feedback.v1", "relationship.health.changed"): {
        "relationship_id": "rel-7c1d", "previous": "healthy", "current": "watch", "score": 58.3,
        "reasons": ["1 of 3 meetings missed"]},
    ("feedback.v1", "relationship.at_risk"): {
        "relationship_id": "rel-7c1d", "score": 38.0,
        "reasons": ["recent ratings are low (average 1.7 of 5)", "2 feedback requests unanswered"]},
    ("feedback.v1", "milestone.achieved"): {"relationship_id": "rel-7c1d", "participant_id": "p-000123",
                                            "milestone": "public speaking"},
    ("notifications.v1", "notification.delivered"): {
        "notification_id": "9b2c...", "recipient_id": "p-000123", "channel": "email",
        "template": "meeting_scheduled", "language": "en", "cause_event_id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
        "delivered_at": "2027-01-05T10:13:02Z"},
    ("notifications.v1", "notification.failed"): {
        "notification_id": "9b2d...", "recipient_id": "p-000777", "channel": "email", "template": "reminder_due",
        "cause_event_id": "6a1e0c55-1b6f-5b1d-8f0e-9c2d4e6f8a01",
        "error": "recipient refused: 550 mailbox unavailable", "attempts": 1},
}
