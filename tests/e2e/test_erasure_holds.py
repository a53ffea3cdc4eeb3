"""An erasure that holds, end to end, with names that are hard to find: one that folds in an
invite and holds a comma, one with "İ", one in CJK characters.

Two pairs are matched and get their meetings and invites. Then: a person erased before their
onboarding is onboarded; two people are erased in the middle of their relationships, one is
onboarded again and the other updated by the HRIS; the kept partner answers the closure survey
with a comment that names the forgotten one; and the refused update is replayed from the dead
letters with the real `tandem dlq replay`. Every profile is refused with the reason `erased` by
every service, matching never proposes them again, and after each step a search of every column of
every table of every schema (cast to text; bytea, base64 attachments and PDFs decoded, and a mail's
bytes read part by part; iCalendar unfolded and unescaped; HTML unescaped; case and accents
ignored) finds nothing of theirs: not
their name, not their address, not any part of their name of four characters or more.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import html
import io
import json
import re
import subprocess
import sys
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.people import person
from tests.support.runtime import eventually, fetch

pytestmark = pytest.mark.e2e
ALL = list(topics.ALL) + [topics.dlq(t) for t in topics.ALL]
SERVICES = {"matching", "scheduling", "notifications", "feedback"}
PARTICIPANTS_DLQ = topics.dlq("participants.v1")


def _plain(text: str) -> str:
    """Case and accents ignored: "İlkay" and "ILKAY" and "ilkay" are the same."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _unfolded(text: str) -> str:
    """iCalendar as a calendar reads it: folded lines joined, TEXT unescaped (RFC 5545 3.1, 3.3.11)."""
    text = re.sub(r"\r?\n[ \t]", "", text)
    return text.replace("\\,", ",").replace("\\;", ";").replace("\\n", "\n").replace("\\N", "\n").replace("\\\\", "\\")


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return " ".join((page.extract_text() or "") for page in reader.pages) + " " + json.dumps(
        {str(k): str(v) for k, v in (reader.metadata or {}).items()}, ensure_ascii=False)


def _readings(value, siblings: dict | None = None) -> list[str]:
    """Every way a stored string can hold text: as is, unfolded, HTML-unescaped, decoded."""
    if not isinstance(value, str):
        return []
    found = [value, _unfolded(value), html.unescape(value), html.unescape(_unfolded(value))]
    raw: bytes | None = None
    if value.startswith("\\x"):  # bytea, as to_jsonb writes it
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raw = None
    elif siblings is not None and siblings.get("encoding") == "base64":  # an attachment's content
        raw = base64.b64decode(value)
    if raw is not None:
        found.append(raw.decode("utf-8", errors="replace"))
        if raw.startswith(b"%PDF"):
            found.append(_pdf_text(raw))
        if b"\r\nMIME-Version:" in raw[:8192]:  # a mail's bytes: every header and part decoded
            found += [r for t in _mail_texts(raw) for r in _readings(t)]
    return found


def _strings(value, siblings: dict | None = None):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v, value)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, siblings)
    elif isinstance(value, str):
        yield from _readings(value, siblings)
        if value[:1] in "[{":  # JSON kept as text
            try:
                yield from _strings(json.loads(value))
            except ValueError:
                pass


def needles(name: str, email: str) -> list[str]:
    """The name, the address and each part of the name of four characters or more."""
    parts = [p.strip(",;.") for p in re.split(r"\s+", name)]
    return [name, email, name.replace(" ", ""), *[p for p in parts if len(p) >= 4]]


async def personal_data_left(database_url: str, wanted: list[str]) -> list[str]:
    """Where any of `wanted` is found, in every table of every schema of the database."""
    plain = {w: _plain(w) for w in wanted}
    conn = await asyncpg.connect(database_url)
    found = []
    try:
        tables = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'
               AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'""")
        assert {t["table_schema"] for t in tables} >= SERVICES
        for t in tables:
            where = f'"{t["table_schema"]}"."{t["table_name"]}"'
            for row in await conn.fetch(f"SELECT to_jsonb(t)::text AS r FROM {where} t"):
                record = json.loads(row["r"])
                texts = [_plain(s) for s in _strings(record)]
                for original, needle in plain.items():
                    if any(needle in s for s in texts):
                        found.append(f"{where} holds {original!r}")
    finally:
        await conn.close()
    return sorted(set(found))


async def outboxes_published(database_url: str) -> None:
    async def empty():
        rows = await fetch(database_url, " UNION ALL ".join(
            f"SELECT count(*) AS n FROM {s}.outbox WHERE state = 'pending'" for s in sorted(SERVICES)))
        return all(r["n"] == 0 for r in rows)
    await eventually(empty, 60, "every outbox published")


def refused(w: Watcher, event_id: str, *, replayed: bool = False) -> list:
    return [o for o in w.on_topic(PARTICIPANTS_DLQ) if o.envelope and o.envelope.get("id") == event_id
            and o.headers.get("dlq.error") == "erased" and ("tandem.replayed-from" in o.headers) == replayed]


async def test_an_erasure_holds_against_profiles_replays_and_later_words(system, infrastructure, topic_prefix,
                                                                          database_url):
    services, clock = system
    tag = uuid.uuid4().hex[:6]
    prog_a, prog_b = f"prog-a-{tag}", f"prog-b-{tag}"
    maria = ("Cavalcanti, Maria Fernanda Oliveira de Albuquerque", f"maria.fernanda.cavalcanti.{tag}@example.com")
    ilkay = ("İlkay Gündoğan", f"ilkay.gundogan.{tag}@example.com")
    taro = ("山田 太郎", f"yamada.taro.{tag}@example.jp")
    # Ids are pseudonymous: nothing in them is searched for.
    ids = {"maria": f"p1-{tag}", "ilkay": f"p2-{tag}", "taro": f"p3-{tag}", "ana": f"p4-{tag}", "bram": f"p5-{tag}"}
    bootstrap = infrastructure.bootstrap_servers

    def profile(key: str, name_email: tuple[str, str] | None, program: str, model=ev.ParticipantOnboarded, **kw):
        mentor = key in ("maria", "bram")
        defaults = dict(roles=("mentor",), seniority=8, capacity=1, skills=("negotiation",)) if mentor else \
            dict(roles=("mentee",), seniority=2, goals=("negotiation",))
        found = person(pid=ids[key], program_id=program, **(defaults | kw))
        if name_email:
            found |= {"name": name_email[0], "email": name_email[1]}
        return model.model_validate(found)

    async with Watcher(bootstrap, ALL, topic_prefix) as w, \
            Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as portal:
        async def accept(o):
            if o.type == "match.proposed" and o.data["program_id"] in (prog_a, prog_b):
                await portal.publish(ev.ProposalAccepted(proposal_id=o.data["proposal_id"],
                                                         participant_id=o.data["mentor_id"]))
        w.on_message = accept

        def completed(pid: str) -> set[str]:
            return {o.data["service"] for o in w.of_type("participant.erasure.completed")
                    if o.data["participant_id"] == pid}

        async def erase(key: str, program: str) -> None:
            await portal.publish(ev.ParticipantErased(participant_id=ids[key], program_id=program,
                                                      requested_at=datetime.now(UTC)))
            await w.wait_for(lambda w: completed(ids[key]) >= SERVICES, 60, f"every service's erasure of {key}")

        async def nothing_left(step: str, *people: tuple[str, str]) -> None:
            await outboxes_published(database_url)
            wanted = [n for p in people for n in needles(*p)]
            assert await personal_data_left(database_url, wanted) == [], step

        # Two pairs, with their introductions, meetings and invites (which name both people).
        await portal.publish_many([profile("maria", maria, prog_a), profile("ana", None, prog_a),
                                   profile("bram", None, prog_b), profile("ilkay", ilkay, prog_b)])
        await portal.publish_many([ev.MatchRequested(mentee_id=ids["ana"], program_id=prog_a),
                                   ev.MatchRequested(mentee_id=ids["ilkay"], program_id=prog_b)])
        pairs = await w.wait_for(lambda w: len(w.of_type("match.established")) >= 2 and w.of_type("match.established"),
                                 90, "both matches")
        relationship = {o.data["mentor_id"]: o.data["relationship_id"] for o in pairs}
        assert set(relationship) == {ids["maria"], ids["bram"]}

        def invited(pid: str) -> bool:
            return any(o.data["recipient_id"] == pid and o.data["template"] == "meeting_scheduled"
                       for o in w.of_type("notification.delivered"))
        await w.wait_for(lambda w: invited(ids["ana"]) and invited(ids["bram"]), 90, "the partners' invites")
        before = await personal_data_left(database_url, [maria[0], ilkay[0], maria[1], ilkay[1]])
        assert len(before) >= 8, before  # the search finds them while they are known

        # 1. Erased before they were ever onboarded: the onboarding that follows is refused.
        await erase("taro", prog_b)
        late = await portal.publish(profile("taro", taro, prog_b))
        await w.wait_for(lambda w: {o.headers["dlq.service"] for o in refused(w, late.id)} >= SERVICES, 60,
                         "the late onboarding refused by every service")
        await nothing_left("an erasure before the onboarding", taro)

        # 2. Erased in the middle of their relationships, then onboarded again: refused, never proposed.
        erased_at = time.time_ns()
        await erase("maria", prog_a)
        await erase("ilkay", prog_b)
        again = await portal.publish(profile("maria", maria, prog_a))
        await w.wait_for(lambda w: {o.headers["dlq.service"] for o in refused(w, again.id)} >= SERVICES, 60,
                         "the re-onboarding refused by every service")
        unmatched = len([o for o in w.of_type("match.unavailable") if o.data["mentee_id"] == ids["ana"]])
        await portal.publish(ev.MatchRequested(mentee_id=ids["ana"], program_id=prog_a))
        await w.wait_for(lambda w: len([o for o in w.of_type("match.unavailable")
                                        if o.data["mentee_id"] == ids["ana"]]) > unmatched, 60,
                         "the mentee's new request answered")
        proposed_since = [o for o in w.of_type("match.proposed") if o.data["mentor_id"] == ids["maria"]]
        assert len(proposed_since) == 1  # the first proposal only, before the erasure
        await nothing_left("a re-onboarding after the erasure", maria, ilkay)

        # 3. The HRIS updates the forgotten mentee: refused.
        update = await portal.publish(profile("ilkay", ilkay, prog_b, model=ev.ParticipantUpdated, seniority=3))
        await w.wait_for(lambda w: {o.headers["dlq.service"] for o in refused(w, update.id)} >= SERVICES, 60,
                         "the update refused by every service")
        await nothing_left("a participant.updated after the erasure", ilkay)

        # 4. The kept mentor answers the closure survey about the forgotten mentee: the words are not kept.
        feedback_id = f"fb-{tag}"
        await portal.publish(ev.FeedbackSubmitted(
            feedback_id=feedback_id, relationship_id=relationship[ids["bram"]], participant_id=ids["bram"],
            kind="closure", rating=5, comment=f"{ilkay[0]} ({ilkay[1]}) grew a lot; Gündoğan, keep going!"))
        stored = await eventually(lambda: fetch(database_url, "SELECT rating, comment FROM feedback.feedback "
                                                              "WHERE feedback_id = $1", feedback_id),
                                  60, "the closure answer stored")
        assert (stored[0]["rating"], stored[0]["comment"]) == (5, None)
        await nothing_left("a comment about them after the erasure", ilkay)

        # 5. The refused update replayed from the dead letters with the real command: refused again.
        replay = await asyncio.to_thread(
            subprocess.run, [str(Path(sys.executable).parent / "tandem"), "dlq", "replay", "--topic",
                             "participants.v1", "--id", update.id, "--bootstrap-servers", bootstrap,
                             "--prefix", topic_prefix], capture_output=True, text=True, timeout=120)
        assert replay.returncode == 0, replay.stderr
        copies = len(refused(w, update.id))
        assert f"replayed {copies} dead letters" in replay.stdout
        await w.wait_for(lambda w: len(refused(w, update.id, replayed=True)) >= copies * len(SERVICES), 90,
                         "every replayed copy refused by every service")
        await nothing_left("a dead-letter replay after the erasure", ilkay, maria, taro)

        # Nothing but ids and the reason in the dead letters' reasons; no other dead letters at all.
        letters = [o for o in w.seen if o.topic.endswith(".dlq")]
        assert {o.headers["dlq.error"] for o in letters} == {"erased"}
        assert {o.envelope["id"] for o in letters} == {late.id, again.id, update.id}

    # No mail to or about them went out after the erasure: every header and part decoded.
    for path in sorted(infrastructure.mail_dir.glob("*.eml")):
        if int(path.name.split("-")[0]) > erased_at:
            text = _plain(" ".join(r for t in _mail_texts(path.read_bytes()) for r in _readings(t)))
            assert not [n for n in needles(*maria) + needles(*ilkay) if _plain(n) in text], path.name


def _mail_texts(raw: bytes) -> list[str]:
    """A mail's headers and parts, decoded (quoted-printable, base64, encoded words, RFC 2231)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [str(v) for v in message.values()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        texts.append(content if isinstance(content, str) else content.decode("utf-8", errors="replace"))
        if isinstance(content, bytes) and content.startswith(b"%PDF"):
            texts.append(_pdf_text(content))
    return texts
