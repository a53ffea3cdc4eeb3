"""The right to be forgotten, end to end: an upstream erases a mentor in the middle of a
relationship. Every service says it has forgotten them, their name and address are in no table
of any schema, no mail reaches them afterwards, and their mentee is told and offered a new match."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tandem.local.mailbox import read_mailbox
from tests.support.people import onboarded
from tests.support.runtime import fetch

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
SERVICES = {"matching", "scheduling", "notifications", "feedback"}


async def places_holding(database_url: str, needles: list[str]) -> list[str]:
    """Every (schema.table.column) of the four schemas where any needle appears, as text or bytes."""
    columns = await fetch(database_url, """SELECT table_schema, table_name, column_name, data_type
                                           FROM information_schema.columns c
                                           JOIN information_schema.tables t USING (table_schema, table_name)
                                           WHERE table_schema = ANY($1::text[]) AND t.table_type = 'BASE TABLE'""",
                          list(SERVICES))
    found = []
    for c in columns:
        column = f'"{c["table_schema"]}"."{c["table_name"]}"."{c["column_name"]}"'
        table = f'"{c["table_schema"]}"."{c["table_name"]}"'
        if c["data_type"] == "bytea":
            test = f'position(convert_to($1, \'UTF8\') in "{c["column_name"]}") > 0'
        else:
            test = f'"{c["column_name"]}"::text ILIKE \'%\' || $1 || \'%\''
        for needle in needles:
            if (await fetch(database_url, f"SELECT count(*) AS n FROM {table} WHERE {test}", needle))[0]["n"]:
                found.append(f"{column} holds {needle!r}")
    return found


async def test_an_erased_mentor_is_nowhere_and_their_mentee_is_rematched(system, infrastructure, topic_prefix,
                                                                         database_url):
    services, clock = system
    tag = uuid.uuid4().hex[:6]
    program = f"prog-{tag}"
    name, email = f"Zoë Erasmus-Vanderveld {tag}", f"zoe.erasmus.{tag}@example.com"
    bootstrap = infrastructure.bootstrap_servers
    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        async def accept(o):
            if o.type == "match.proposed" and o.data["program_id"] == program:
                await portal.publish(ev.ProposalAccepted(proposal_id=o.data["proposal_id"],
                                                         participant_id=o.data["mentor_id"]))
        w.on_message = accept
        erased_id, spare_id, mentee_id = f"mentor-{tag}", f"spare-{tag}", f"mentee-{tag}"
        profile = onboarded(pid=erased_id, roles=("mentor",), seniority=8, capacity=1, program_id=program,
                            skills=("negotiation", "public speaking")).model_dump()
        await portal.publish(ev.ParticipantOnboarded.model_validate({**profile, "name": name, "email": email}))
        await portal.publish(onboarded(pid=spare_id, roles=("mentor",), seniority=7, capacity=1, program_id=program,
                                       skills=("negotiation",)))
        await portal.publish(onboarded(pid=mentee_id, seniority=2, program_id=program,
                                       goals=("negotiation", "public speaking")))
        await portal.publish(ev.MatchRequested(mentee_id=mentee_id, program_id=program))
        relationship = (await w.wait_for(lambda w: w.of_type("match.established"), 90, "the match"))[0].data
        assert relationship["mentor_id"] == erased_id
        await w.wait_for(lambda w: w.of_type("meeting.scheduled") and len(w.of_type("notification.delivered")) >= 5,
                         90, "the introductions and invites")  # mails that name the mentor

        before = await places_holding(database_url, [name, email])
        assert len(before) >= 4, before  # the search does find them while they are known (every replica at least)
        erased_at = time.time_ns()
        await portal.publish(ev.ParticipantErased(participant_id=erased_id, program_id=program,
                                                  requested_at=datetime.now(UTC)))
        done = await w.wait_for(
            lambda w: SERVICES <= {o.data["service"] for o in w.of_type("participant.erasure.completed")}
            and w.of_type("participant.erasure.completed"), 60, "every service's erasure")
        assert {o.data["participant_id"] for o in done} == {erased_id}

        # The mentee is told and offered a new mentor.
        ended = (await w.wait_for(lambda w: w.of_type("match.ended"), 60, "the relationship's end"))[0].data
        assert ended["reason_code"] == "participant_left" and "erase" not in ended["reason"]
        await w.wait_for(lambda w: [o for o in w.of_type("match.proposed") if o.data["mentor_id"] == spare_id],
                         60, "a new proposal for the mentee")
        await w.wait_for(lambda w: [o for o in w.of_type("notification.delivered")
                                    if o.data["recipient_id"] == mentee_id and o.data["template"].startswith("match_ended")],
                         60, "the mentee told")

        async def outboxes_empty():
            rows = await fetch(database_url, "SELECT count(*) AS n FROM (SELECT state FROM matching.outbox UNION ALL "
                                             "SELECT state FROM scheduling.outbox UNION ALL SELECT state FROM "
                                             "notifications.outbox UNION ALL SELECT state FROM feedback.outbox) o "
                                             "WHERE state = 'pending'")
            return rows[0]["n"] == 0
        from tests.support.runtime import eventually
        await eventually(outboxes_empty, 60, "everything published")

    assert await places_holding(database_url, [name, email]) == []
    # The mailbox keeps each message as <time_ns>-<n>.eml: nothing sent after the erasure names them.
    late = [p.name for p in sorted(infrastructure.mail_dir.glob("*.eml"))
            if int(p.name.split("-")[0]) > erased_at and email in p.read_text(errors="replace")]
    assert late == [], "mail to or about the erased person went out after the erasure"
    assert any(email in m["To"] for m in read_mailbox(infrastructure.mail_dir))  # they did get mail before
    assert not [o for o in w.seen if o.topic.endswith(".dlq")]

