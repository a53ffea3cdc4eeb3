"""The program team at work, across the four service processes, a real Kafka, PostgreSQL and mail
server: they end a relationship and ask for a new mentor, and they hear once when a pair falls at
risk. Assertions are on what crosses the topics and what reaches people's inboxes."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]


def text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def person(pid: str, program_id: str, **kw) -> ev.ParticipantOnboarded:
    return onboarded(pid=pid, program_id=program_id, tz="Europe/Amsterdam", **kw)


async def test_the_team_ends_a_relationship_with_a_rematch_and_hears_once_of_a_pair_at_risk(
        system, infrastructure, topic_prefix):
    _, clock = system
    tag = uuid.uuid4().hex[:6]
    program = f"prog-{tag}"
    first_mentor, second_mentor = f"anne-{tag}", f"bart-{tag}"
    ana, bo = f"ana-{tag}", f"bo-{tag}"
    ops = f"sanne-{tag}@example.com"

    def of(w, event_type, **match):
        return [o.data for o in w.of_type(event_type) if all(o.data.get(k) == v for k, v in match.items())]

    async with Watcher(infrastructure.bootstrap_servers, ALL, topic_prefix) as w, \
            Publisher(infrastructure.bootstrap_servers, topic_prefix=topic_prefix, now=clock.now) as team:
        # A short notice, so Bo's kickoff comes soon on the program clock.
        await team.publish(ev.ProgramConfigured(program_id=program, name="Pilot", timezone="Europe/Amsterdam",
                                                ops_contacts=[{"name": "Sanne", "email": ops, "locale": "nl-NL"}],
                                                min_notice_hours=2))
        await team.publish(person(first_mentor, program, roles=("mentor",), seniority=8, capacity=1, locale="nl-NL",
                                  languages=("nl", "en"), skills=("public speaking", "negotiation")))
        await team.publish(person(second_mentor, program, roles=("mentor",), seniority=8, capacity=1,
                                  skills=("negotiation",)))
        await team.publish(person(ana, program, seniority=2, goals=("public speaking",), style="indirect"))
        await team.publish(person(bo, program, seniority=2, goals=("public speaking",)))

        # Ana is matched with Anne, and their kickoff is booked.
        await team.publish(ev.MatchRequested(mentee_id=ana, program_id=program))
        proposal = (await w.wait_for(lambda w: of(w, "match.proposed", mentee_id=ana), 60, "Ana's proposal"))[0]
        assert proposal["mentor_id"] == first_mentor
        await team.publish(ev.ProposalAccepted(proposal_id=proposal["proposal_id"], participant_id=first_mentor))
        first = (await w.wait_for(lambda w: of(w, "match.established", mentee_id=ana), 30, "the match"))[0]
        kickoff = (await w.wait_for(lambda w: of(w, "meeting.scheduled", relationship_id=first["relationship_id"]),
                                    30, "their kickoff"))[0]

        # The team ends it and asks for a new mentor for Ana.
        await team.publish(ev.RelationshipEndRequested(relationship_id=first["relationship_id"],
                                                       requested_by="ops:sanne", reason="a better fit elsewhere",
                                                       rematch=True))
        await w.wait_for(lambda w: of(w, "meeting.cancelled", meeting_id=kickoff["meeting_id"])
                         and len(of(w, "match.proposed", mentee_id=ana)) >= 2, 60, "the cancellation and a rematch")
        rematch = of(w, "match.proposed", mentee_id=ana)[1]
        assert rematch["mentor_id"] == second_mentor

        # Anne's place is free again: Bo gets her.
        await team.publish(ev.MatchRequested(mentee_id=bo, program_id=program))
        reused = (await w.wait_for(lambda w: of(w, "match.proposed", mentee_id=bo), 60, "Bo's proposal"))[0]
        assert reused["mentor_id"] == first_mentor
        await team.publish(ev.ProposalAccepted(proposal_id=reused["proposal_id"], participant_id=first_mentor))
        second = (await w.wait_for(lambda w: of(w, "match.established", mentee_id=bo), 30, "Bo's match"))[0]
        rid = second["relationship_id"]
        meeting = (await w.wait_for(lambda w: of(w, "meeting.scheduled", relationship_id=rid), 30, "a kickoff"))[0]

        # Bo misses the kickoff and Anne rates it poorly: at risk, and the team hears it once.
        await clock.sleep_until(datetime.fromisoformat(meeting["end"]))
        await team.publish(ev.MeetingAttendanceRecorded(meeting_id=meeting["meeting_id"], relationship_id=rid,
                                                        recorded_by=first_mentor,
                                                        attendance={first_mentor: True, bo: False}))
        await w.wait_for(lambda w: of(w, "relationship.at_risk", relationship_id=rid), 60, "the pair at risk")
        await team.publish(ev.FeedbackSubmitted(feedback_id=f"fb-1-{tag}", relationship_id=rid,
                                                participant_id=first_mentor, meeting_id=meeting["meeting_id"],
                                                rating=1, progress=1))
        # Feedback on the same key after it: once its milestone is announced, the poor rating before it
        # has been taken in, and any alert it caused is in the delivery log ahead of the milestone's mail.
        await team.publish(ev.FeedbackSubmitted(feedback_id=f"fb-2-{tag}", relationship_id=rid, participant_id=bo,
                                                rating=2, goals_achieved=["public speaking"]))
        await w.wait_for(lambda w: len([d for d in of(w, "notification.delivered")
                                        if d["template"] in ("milestone_achieved", "ops_relationship_at_risk")])
                         >= 3, 90, "the milestone messages and the alert")

    assert not [o for o in w.seen if o.topic.endswith(".dlq")]
    (ended,) = of(w, "match.ended")
    assert (ended["reason_code"], ended["requested_by"]) == ("ended_on_request", "ops:sanne")
    assert len(of(w, "relationship.at_risk", relationship_id=rid)) == 1

    mails = read_mailbox(infrastructure.mail_dir)

    def to(pid_or_address: str):
        address = pid_or_address if "@" in pid_or_address else f"{pid_or_address}@example.com"
        return [m for m in mails if m["To"] == address]

    # Both are told kindly, each in their language and tone, and their calendars drop the kickoff.
    assert [m["Subject"] for m in to(first_mentor) if "beëindigd" in m["Subject"]] == \
        [f"Uw mentorrelatie met {ana.replace('-', ' ').title()} is beëindigd"]
    assert [m["Subject"] for m in to(ana) if m["Subject"].startswith("About your mentoring")] == \
        [f"About your mentoring relationship with {first_mentor.replace('-', ' ').title()}"]
    for pid in (first_mentor, ana):
        cancels = [m for m in to(pid) for a in m.iter_attachments() if a.get_param("method") == "CANCEL"]
        assert len(cancels) == 1, pid
    assert all("better fit" not in text(m) for m in to(ana) + to(first_mentor))
    # The program team: exactly one alert, in Dutch, naming the pair.
    (alert,) = to(ops)
    assert alert["Subject"] == f"Risico: {first_mentor.replace('-', ' ').title()} & {bo.replace('-', ' ').title()} (Pilot)"
    assert "de ene bijeenkomst die gepland stond, ging niet door" in text(alert)  # worded from its code, in Dutch
    assert f"http://127.0.0.1:8084/dashboard/programs/{program}?state=at_risk" in text(alert)
