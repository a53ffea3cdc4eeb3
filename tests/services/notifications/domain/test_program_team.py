"""What the program team reads, and when: ops contacts as recipients, optional template parts and
the digest's 08:00 in each program's zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from services.notifications.domain import digest
from services.notifications.domain.compose import Outgoing
from services.notifications.domain.delivery import OPS_CONTACT, plan_for_team
from services.notifications.domain.program_team import (
    contact_id,
    contact_route,
    dashboard_link,
)
from services.notifications.settings import NotificationSettings
from shared.programs import OpsContact, ProgramSettings

SANNE = OpsContact("Sanne de Vries", "Sanne@Example.com", "nl-NL")
CHAT = OpsContact("Team", "team@example.com", "en", "chat", "https://chat.example/hooks/team")


def test_an_alert_words_the_health_reasons_from_their_codes_in_the_contacts_language():
    from services.notifications.domain import program_team
    from shared.contracts import events as ev
    from shared.contracts.types import Reason
    from shared.people import Pair
    from tests.services.notifications.fakes import participant

    program = ProgramSettings.resolve("prog-1", None, NotificationSettings())
    program = replace(program, name="Pilot", ops_contacts=(SANNE,))
    people = {"bram": participant("bram", name="Bram"), "ana": participant("ana", name="Ana")}
    event = ev.RelationshipAtRisk(relationship_id="r1", score=38.0,
                                  reasons=["1 of 1 meetings missed", "something new"],
                                  reason_codes=[Reason(code="meetings_missed", params={"missed": 1, "held": 1}),
                                                Reason(code="a_code_from_the_future")])
    (alert,) = program_team.at_risk_alert(event, Pair("r1", "prog-1", "bram", "ana", datetime.now(UTC)), people,
                                          program, dashboard_url="http://dash")
    (planned,) = plan_for_team([alert], (SANNE,), program_id="prog-1", cause_event_id="e-1",
                               cause_type="relationship.at_risk", now=datetime(2027, 1, 4, tzinfo=UTC))
    assert planned.subject == "Risico: Bram & Ana (Pilot)" and planned.language == "nl"
    assert "- de ene bijeenkomst die gepland stond, ging niet door" in planned.body
    assert "- something new" in planned.body  # a code this version does not know: the event's own words
    assert '<a href="http://dash/programs/prog-1?state=at_risk">' in planned.html


def test_a_contact_is_known_by_an_opaque_id_and_reached_through_their_channel():
    assert contact_id("prog-1", SANNE) == contact_id("prog-1", OpsContact("S.", "sanne@example.com"))
    assert contact_id("prog-1", SANNE) != contact_id("prog-2", SANNE)
    assert "sanne" not in contact_id("prog-1", SANNE).lower()
    assert contact_route(SANNE) == ("email", "Sanne@Example.com")
    assert contact_route(CHAT) == ("webhook", "https://chat.example/hooks/team")
    assert dashboard_link("http://127.0.0.1:8084/dashboard/", "prog 1", state="at_risk") == \
        "http://127.0.0.1:8084/dashboard/programs/prog%201?state=at_risk"


def test_messages_for_the_team_go_out_at_once_in_each_contacts_language():
    now = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)  # night in Amsterdam: contacts have no quiet hours
    outgoing = [Outgoing(contact_id("prog-1", c), "ops_relationship_at_risk", {
        "recipient_name": c.name, "program_name": "Pilot", "mentor_name": "Bram", "mentee_name": "Ana",
        "score": 30, "reasons": ["low ratings"], "dashboard_link": "x"}) for c in (SANNE, CHAT)]
    to_sanne, to_chat = plan_for_team(outgoing, (SANNE, CHAT), program_id="prog-1", cause_event_id="e-1",
                                      cause_type="relationship.at_risk", now=now)
    assert (to_sanne.language, to_sanne.channel, to_sanne.not_before) == ("nl", "email", now)
    assert (to_chat.language, to_chat.channel) == ("en", "webhook")
    assert {to_sanne.recipient_kind, to_chat.recipient_kind} == {OPS_CONTACT}


def test_the_digest_is_due_from_eight_in_the_programs_zone_across_daylight_saving():
    assert digest.due_day(datetime(2027, 3, 27, 6, 59, tzinfo=UTC), "Europe/Amsterdam") is None  # 07:59 CET
    assert digest.due_day(datetime(2027, 3, 27, 7, 0, tzinfo=UTC), "Europe/Amsterdam") == date(2027, 3, 27)
    # The clocks go forward in the night to 28 March: 08:00 CEST is 06:00 UTC.
    assert digest.next_digest_at(datetime(2027, 3, 27, 7, 0, tzinfo=UTC), "Europe/Amsterdam") == \
        datetime(2027, 3, 28, 6, 0, tzinfo=UTC)
    assert digest.next_digest_at(datetime(2027, 3, 27, 22, 0, tzinfo=UTC), "Asia/Tokyo") == \
        datetime(2027, 3, 27, 23, 0, tzinfo=UTC)  # already 07:00 on the 28th in Tokyo


def test_nothing_to_say_means_no_digest():
    program = ProgramSettings.resolve("prog-1", None, NotificationSettings())
    assert digest.compose([], program, date(2027, 1, 5), {}, dashboard_url="x") == []


def test_goals_reached_come_first_in_the_digest_to_celebrate():
    from shared.contracts import events as ev
    from tests.services.notifications.fakes import participant

    program = replace(ProgramSettings.resolve("prog-1", None, NotificationSettings()), name="Pilot",
                      ops_contacts=(SANNE,))
    people = {"bram": participant("bram", name="Bram"), "ana": participant("ana", name="Ana")}
    at = datetime(2027, 1, 4, 15, tzinfo=UTC)
    items = [digest.DigestItem.goal_achieved("e-1", ev.GoalAchieved(
                 relationship_id="r1", program_id="prog-1", mentor_id="bram", mentee_id="ana", goal="negotiation",
                 achieved_at=at), at=at),
             digest.DigestItem.unmatched("e-2", ev.MatchUnavailable(
                 program_id="prog-1", mentee_id="ana", reason="no mentor shares a language",
                 reason_code="no_shared_language"), at=at)]
    (composed,) = digest.compose(items, program, date(2027, 1, 5), people, dashboard_url="http://dash")
    (planned,) = plan_for_team([composed], (SANNE,), program_id="prog-1", cause_event_id="digest/prog-1/2027-01-05",
                               cause_type="digest", now=at)
    body = planned.body.replace("\r\n", "\n")
    assert "Een doel bereikt, iets om te vieren:\n- Ana & Bram: negotiation" in body
    assert body.index("iets om te vieren") < body.index("geen enkele mentor deelt een taal")
    assert planned.subject == "Pilot, 5 januari 2027: 2 dingen om naar te kijken"


def test_a_mentee_without_a_meeting_length_stretch_is_worded_from_the_code_in_the_contacts_language():
    from shared.contracts import events as ev
    from tests.services.notifications.fakes import participant

    at = datetime(2027, 1, 4, 15, tzinfo=UTC)
    people = {"ana": participant("ana", name="Ana")}
    item = digest.DigestItem.unmatched("e-1", ev.MatchUnavailable(
        program_id="prog-1", mentee_id="ana", reason="no mentor with a 45-minute stretch in common this week",
        reason_code="no_meeting_window", reason_params={"meeting_minutes": 45, "compatible": 3}), at=at)
    bodies = {}
    for contact in (SANNE, replace(SANNE, locale="en")):
        program = replace(ProgramSettings.resolve("prog-1", None, NotificationSettings()), name="Pilot",
                          ops_contacts=(contact,))
        (composed,) = digest.compose([item], program, date(2027, 1, 5), people, dashboard_url="http://dash")
        (planned,) = plan_for_team([composed], (contact,), program_id="prog-1",
                                   cause_event_id="digest/prog-1/2027-01-05", cause_type="digest", now=at)
        bodies[contact.locale] = planned.body.replace("\r\n", "\n")
    assert ("Ana: no mentor has 45 minutes at a stretch in common with them, only shorter stretches "
            "(3 mentors would otherwise suit)") in bodies["en"]
    assert "geen mentor heeft 45 minuten aaneengesloten gemeenschappelijk met deze mentee" in bodies["nl-NL"]
