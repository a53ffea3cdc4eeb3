"""One invariant checker for every fault: for each thing the upstream asked for, the expected effects
happened exactly once. It reads only what anyone outside the services can read (the topics and the
mailbox) plus, for what never leaves a service (pending work), its tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tandem.client import Watcher
from tandem.local.mailbox import read_mailbox
from tests.chaos.workload import Upstream
from tests.support.runtime import fetch

# Messages each event owes people (recipients per event); reminders name theirs.
MESSAGES_PER_EVENT = {"match.proposed": 1, "match.established": 2, "meeting.scheduled": 2, "meeting.rescheduled": 2,
                      "meeting.cancelled": 2, "feedback.requested": 1, "milestone.achieved": 2}


@dataclass
class Findings:
    published: int = 0
    checked: Counter = field(default_factory=Counter)  # effect -> how many were checked
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # any other invariant

    @property
    def effects_checked(self) -> int:
        return sum(self.checked.values())

    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.broken)

    def summary(self) -> str:
        return (f"published {self.published}, effects checked {self.effects_checked} "
                f"({', '.join(f'{k} {v}' for k, v in sorted(self.checked.items()))}), lost {len(self.lost)}, "
                f"duplicated {len(self.duplicated)}, other problems {len(self.broken)}")


def _unique(observed, key: str) -> dict[str, dict]:
    return {o.data[key]: o.data for o in observed}


async def check(upstream: Upstream, w: Watcher, mail_dir: Path, database_url: str) -> Findings:
    f = Findings(published=len(upstream.published))
    program = upstream.program_id
    mine = [o for o in w.seen if (o.data or {}).get("program_id") in (None, program)]

    # Every mentee a relationship, exactly one (there are places enough for everyone).
    established = [o for o in mine if o.type == "match.established" and o.data["program_id"] == program]
    relationships = _unique(established, "relationship_id")
    per_mentee = Counter(r["mentee_id"] for r in relationships.values())
    for mentee in upstream.mentee_ids():
        f.checked["relationships"] += 1
        if per_mentee[mentee] == 0:
            f.lost.append(f"no relationship for {mentee}")
        elif per_mentee[mentee] > 1:
            f.duplicated.append(f"{per_mentee[mentee]} relationships for {mentee}")
    rows = await fetch(database_url, "SELECT mentee_id, count(*) AS n FROM matching.relationships "
                                     "WHERE program_id = $1 GROUP BY mentee_id", program)
    f.duplicated += [f"{r['n']} relationship rows for {r['mentee_id']}" for r in rows if r["n"] > 1]
    load = Counter(r["mentor_id"] for r in relationships.values())
    f.broken += [f"{m} holds {n} mentees, over capacity" for m, n in load.items() if n > upstream.capacity]

    # Every relationship one kickoff (or a reason why not), and nobody booked twice.
    kickoffs: dict[str, set[str]] = defaultdict(set)
    for o in mine:
        if o.type == "meeting.scheduled" and o.data["occurrence"] == 1:
            kickoffs[o.data["relationship_id"]].add(o.data["meeting_id"])
    unschedulable = {o.data["relationship_id"] for o in mine
                     if o.type in ("relationship.unschedulable", "meeting.unplaceable")}
    for rel in relationships:
        f.checked["kickoffs"] += 1
        if not kickoffs.get(rel) and rel not in unschedulable:
            f.lost.append(f"no kickoff for relationship {rel}")
        elif len(kickoffs.get(rel, ())) > 1:
            f.duplicated.append(f"{len(kickoffs[rel])} kickoffs for relationship {rel}")
    latest: dict[str, tuple[int, str, dict]] = {}
    for o in mine:
        if o.type in ("meeting.scheduled", "meeting.rescheduled", "meeting.cancelled"):
            seq = o.data.get("sequence", 0)
            if o.data["meeting_id"] not in latest or seq >= latest[o.data["meeting_id"]][0]:
                latest[o.data["meeting_id"]] = (seq, o.type, o.data)
    calendars = defaultdict(list)
    for meeting_id, (_, kind, data) in latest.items():
        if kind != "meeting.cancelled":
            for who in (data["mentor_id"], data["mentee_id"]):
                calendars[who].append((datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]),
                                       meeting_id))
    for who, spans in calendars.items():
        spans.sort()
        f.checked["calendars"] += 1
        f.broken += [f"{who} double-booked: {a[2]} and {b[2]}" for a, b in zip(spans, spans[1:]) if b[0] < a[1]]

    # Every held meeting was asked about, once per person; every answer stored once.
    outcomes = _unique([o for o in mine if o.type in ("meeting.completed", "meeting.missed")], "meeting_id")
    asked = Counter((o.data["meeting_id"], o.data["participant_id"]) for o in w.of_type("feedback.requested")
                    if o.data["relationship_id"] in relationships)
    for meeting_id, outcome in outcomes.items():
        if outcome.get("absent"):
            continue
        for who in (outcome["mentor_id"], outcome["mentee_id"]):
            f.checked["feedback requests"] += 1
            if not asked[(meeting_id, who)]:
                f.lost.append(f"no feedback request for {who} about {meeting_id}")
    requests = {o.data["request_id"] for o in w.of_type("feedback.requested")}
    if len(requests) != len({(m, p) for m, p in asked}):
        f.duplicated.append("two feedback requests for one meeting and person")
    answers = await fetch(database_url, "SELECT feedback_id FROM feedback.feedback")
    stored = Counter(r["feedback_id"] for r in answers)
    for request in upstream.feedback_sent:
        f.checked["feedback stored"] += 1
        if stored[f"fb-{request}"] == 0:
            f.lost.append(f"feedback fb-{request} not stored")

    # Every message owed was delivered (or failed with a reason), and no mail arrived twice.
    await _check_messages(f, w, mail_dir, database_url)

    # Nothing left behind: no outbox event unpublished, no reminder forgotten, no dead letter.
    for schema in ("matching", "scheduling", "notifications", "feedback"):
        left = await fetch(database_url, f"SELECT count(*) AS n FROM {schema}.outbox WHERE state <> 'published'")
        f.checked["outboxes"] += 1
        if left[0]["n"]:
            f.lost.append(f"{left[0]['n']} events of {schema} not published")
    # A reminder due an hour of program time ago and still pending was forgotten.
    overdue = await fetch(database_url, "SELECT count(*) AS n FROM scheduling.reminders WHERE status = 'pending' "
                                        "AND due_at < $1::timestamptz - interval '1 hour'", upstream.clock.now())
    f.checked["reminders due"] += 1
    f.lost += [f"{overdue[0]['n']} reminders due but never fired"] if overdue[0]["n"] else []
    fired = [o.data["reminder_id"] for o in w.of_type("reminder.due")]
    f.checked["reminders"] += len(set(fired))
    letters = [o for o in w.seen if o.topic.endswith(".dlq")]
    f.broken += [f"dead letter on {o.topic}: {o.headers.get('dlq.error', 'NO REASON')}" for o in letters]
    return f


async def _check_messages(f: Findings, w: Watcher, mail_dir: Path, database_url: str) -> None:
    causes = {}
    for o in w.seen:
        if o.type in MESSAGES_PER_EVENT or o.type == "reminder.due":
            causes[o.envelope["id"]] = o
    rows = await fetch(database_url, "SELECT delivery_id, cause_event_id, status, last_error FROM notifications.deliveries")
    by_cause = defaultdict(list)
    for r in rows:
        by_cause[r["cause_event_id"]].append(r)
    for cause_id, o in causes.items():
        owed = len(o.data["participant_ids"]) if o.type == "reminder.due" else MESSAGES_PER_EVENT[o.type]
        f.checked["messages"] += owed
        made = by_cause.get(cause_id, [])
        if len(made) < owed:
            f.lost.append(f"{owed - len(made)} messages owed for {o.type} {cause_id} were never made")
    undecided = [r for r in rows if r["status"] not in ("delivered", "failed")]
    f.lost += [f"delivery {r['delivery_id']} still {r['status']}" for r in undecided]
    failed = [r for r in rows if r["status"] == "failed"]
    # A send cut off by a SIGKILL is recorded as failed rather than risk sending it twice; anything
    # else failing would be a loss.
    f.lost += [f"delivery {r['delivery_id']} failed: {r['last_error']}" for r in failed
               if "interrupted" not in (r["last_error"] or "")]
    mails = Counter(m["X-Tandem-Delivery"] for m in read_mailbox(mail_dir) if m["X-Tandem-Delivery"])
    f.duplicated += [f"delivery {d} mailed {n} times" for d, n in mails.items() if n > 1]
    delivered_mail = {r["delivery_id"] for r in rows if r["status"] == "delivered"}
    f.checked["mails"] += len(delivered_mail)
    chat = {o.data["notification_id"] for o in w.of_type("notification.delivered") if o.data["channel"] != "email"}
    f.lost += [f"delivered {d} never reached the mailbox" for d in delivered_mail - set(mails) - chat]
