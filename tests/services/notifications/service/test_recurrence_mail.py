"""The mails as delivered (real Kafka, Postgres and SMTP) say how often a pair meets the way their
reader's language does: a program that meets weekly writes "elke week" (Dutch) and "毎週" (Japanese),
never "elke 1 week"; one that meets every two weeks, "elke 2 weken" and "2週間ごとに"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.entrypoints.app import build_service
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import eventually, fetch, settings_for

pytestmark = pytest.mark.integration
START = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


async def test_the_delivered_mails_say_every_week_and_every_two_weeks(database_url, bootstrap_servers, topic_prefix,
                                                                     infrastructure):
    settings = settings_for(NotificationSettings, database_url=database_url, bootstrap_servers=bootstrap_servers,
                            topic_prefix=topic_prefix, clock_start=START, smtp_port=infrastructure.smtp_port,
                            public_url="https://mentoring.example", link_keys="current-key")
    tag = uuid.uuid4().hex[:6]
    programs = {7: f"weekly-{tag}", 14: f"fortnightly-{tag}"}
    async with build_service(settings).running(), \
            Watcher(bootstrap_servers, [topics.NOTIFICATIONS], topic_prefix) as out, \
            Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        for days, program in programs.items():
            await pub.publish(ev.ProgramConfigured(program_id=program, name="Pilot", cadence_days=days,
                                                   cadence_days_min=1))

        async def configured():  # programs.v1 is another topic: the mails must find the program's cadence
            rows = await fetch(database_url, "SELECT 1 FROM notifications.programs WHERE program_id = ANY($1)",
                               list(programs.values()))
            return len(rows) == len(programs)
        await eventually(configured, 30, "both programs' settings")
        for days, program in programs.items():
            mentor, mentee = f"mentor-{days}-{tag}", f"mentee-{days}-{tag}"
            await pub.publish(onboarded(pid=mentor, roles=("mentor",), locale="nl-NL", languages=("nl", "en"),
                                        seniority=7, capacity=1, program_id=program))
            await pub.publish(onboarded(pid=mentee, locale="ja-JP", style="indirect", program_id=program,
                                        goals=("public speaking",)))
            await pub.publish(ev.MatchProposed(proposal_id=f"prop-{days}-{tag}", program_id=program, mentee_id=mentee,
                                               mentor_id=mentor, score=0.8, explanation={},
                                               expires_at=START + timedelta(days=3)))
            await pub.publish(ev.MatchEstablished(relationship_id=f"rel-{days}-{tag}", proposal_id=f"prop-{days}-{tag}",
                                                  program_id=program, mentee_id=mentee, mentor_id=mentor,
                                                  established_at=START, goals=["public speaking"]))
        await out.wait_for(lambda w: len(w.of_type("notification.delivered")) >= 6, 60, "the proposals and introductions")

    def texts(pid: str) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in read_mailbox(infrastructure.mail_dir)
                if m["To"] == f"{pid}@example.com"]

    weekly_mentor, fortnightly_mentor = texts(f"mentor-7-{tag}"), texts(f"mentor-14-{tag}")
    assert len(weekly_mentor) == 2 and len(fortnightly_mentor) == 2  # the proposal and the introduction
    assert any("Wat het van u vraagt: elke week een bijeenkomst van" in t for t in weekly_mentor)
    assert all("elke week" in t and "1 week" not in t for t in weekly_mentor)
    assert all("elke 2 weken" in t for t in fortnightly_mentor)
    (weekly_mentee,), (fortnightly_mentee,) = texts(f"mentee-7-{tag}"), texts(f"mentee-14-{tag}")
    assert "たとえば、毎週" in weekly_mentee and "1 週間" not in weekly_mentee and "1週間" not in weekly_mentee
    assert "たとえば、2週間ごとに" in fortnightly_mentee
