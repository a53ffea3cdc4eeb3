"""The program team's daily digest: what could not be done, gathered as it happens and sent once a
day at 08:00 in the program's own time zone, and only when there is something to say.

Items: a goal a pair reached (`goal.achieved`: successes to celebrate come first), a mentee nobody
could be proposed to (`match.unavailable`), a pair who can never meet (`relationship.unschedulable`),
and a message the system could not process (a dead letter: for the program it names; one that names
none goes to the deployment's administrators only, never into a program's digest). A digest takes
every item not yet in one, so an item is told once, and at most a day after it happened (later only if the service was
down at 08:00: then the digest goes out as soon as it is back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notifications.i18n.values import Day, Link, Phrase
from shared.contracts import events as ev
from shared.dead_letters import DeadLetter
from shared.people import Participant
from shared.programs import ProgramSettings

from . import reasons
from .messages import phrases
from .messages.structure import DIRECT
from .outgoing import Outgoing
from .program_team import contact_id, dashboard_link

DIGEST_AT = time(8, 0)
UNMATCHED, UNSCHEDULABLE, DEAD_LETTER = "unmatched", "unschedulable", "dead_letter"
GOAL_ACHIEVED = "goal_achieved"
MAX_LINES = 20  # per section; the dashboard has the rest


@dataclass(frozen=True)
class DigestItem:
    item_id: str  # what it came from: an event's id, or a dead letter's place in its topic
    program_id: str
    kind: str  # goal_achieved | unmatched | unschedulable | dead_letter
    occurred_at: datetime
    details: dict = field(hash=False)

    @classmethod
    def goal_achieved(cls, item_id: str, data: ev.GoalAchieved, *, at: datetime) -> DigestItem:
        return cls(item_id, data.program_id, GOAL_ACHIEVED, at, {
            "relationship_id": data.relationship_id, "mentor_id": data.mentor_id, "mentee_id": data.mentee_id,
            "goal": data.goal})

    @classmethod
    def unmatched(cls, item_id: str, data: ev.MatchUnavailable, *, at: datetime) -> DigestItem:
        return cls(item_id, data.program_id, UNMATCHED, at, {
            "mentee_id": data.mentee_id, "reason": data.reason, "reason_code": data.reason_code,
            "reason_params": dict(data.reason_params)})

    @classmethod
    def unschedulable(cls, item_id: str, data: ev.RelationshipUnschedulable, *, at: datetime) -> DigestItem:
        return cls(item_id, data.program_id, UNSCHEDULABLE, at, {
            "relationship_id": data.relationship_id, "mentor_id": data.mentor_id, "mentee_id": data.mentee_id,
            "reason": data.reason})

    @classmethod
    def dead_letter(cls, letter: DeadLetter, program_id: str, *, at: datetime) -> DigestItem:
        # Dead-letter reasons name ids and codes only, never people (the consumer's rule).
        return cls(letter.id, program_id, DEAD_LETTER, at, {
            "topic": letter.topic, "event_type": letter.event_type, "reason": letter.reason,
            "service": letter.service, "message": letter.message_id})

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(self.details[k] for k in ("mentor_id", "mentee_id") if k in self.details)


def digest_id(program_id: str, day: date) -> str:
    """The cause of a digest's deliveries: one digest per program and local day."""
    return f"digest/{program_id}/{day.isoformat()}"


def due_day(now: datetime, timezone: str) -> date | None:
    """The local day whose digest is due at `now` (from 08:00 on), or None before 08:00."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.time() >= DIGEST_AT else None


def next_digest_at(now: datetime, timezone: str) -> datetime:
    """The next 08:00 in the zone after `now`."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    day = local.date() if local.time() < DIGEST_AT else local.date() + timedelta(days=1)
    return datetime.combine(day, DIGEST_AT, tzinfo=zone)


def compose(items: list[DigestItem], program: ProgramSettings, day: date, people: dict[str, Participant], *,
            dashboard_url: str, whole_dashboard: bool = False) -> list[Outgoing]:
    """One digest per ops contact; nothing when there is nothing to say. Reasons are worded from their
    codes in each contact's language; a dead letter's reason is the system's own (technical) words.
    The administrators' digest (`whole_dashboard`) links to the dashboard, not to a program's page."""
    if not items:
        return []
    sections = _sections(items, people)
    link = dashboard_url if whole_dashboard else dashboard_link(dashboard_url, program.program_id)
    return [Outgoing(contact_id(program.program_id, contact), "ops_daily_digest", {
        "recipient_name": contact.name, "program_name": program.name, "date": Day(day, width="long"),
        "count": sum(count for count, _ in sections.values()),
        "dashboard_link": Link(link),
        **{f"{kind}_count": count for kind, (count, _) in sections.items()},
        **{SECTION_PARAM[kind]: lines for kind, (_, lines) in sections.items()},
    }) for contact in program.ops_contacts]


SECTION_PARAM = {GOAL_ACHIEVED: "goals_achieved", UNMATCHED: "unmatched", UNSCHEDULABLE: "unschedulable",
                 DEAD_LETTER: "dead_letters"}


def _sections(items: list[DigestItem], people: dict[str, Participant]) -> dict[str, tuple[int, list]]:
    """kind -> (how many, its lines), for the kinds there are. A mentee or pair told about more than
    once gets one line, with the latest word; identical dead letters are counted on one line."""

    def name(pid: str) -> str:
        return people[pid].name if pid in people else pid

    latest: dict[tuple[str, str], DigestItem] = {}
    for item in sorted(items, key=lambda i: i.occurred_at):
        if item.kind == UNMATCHED:
            latest[(UNMATCHED, item.details["mentee_id"])] = item
        elif item.kind == UNSCHEDULABLE:
            latest[(UNSCHEDULABLE, item.details["relationship_id"])] = item
    unmatched = [(name(i.details["mentee_id"]), Phrase({DIRECT: phrases.UNMATCHED_ITEM}, {
        "name": name(i.details["mentee_id"]),
        "reason": reasons.unmatched(i.details.get("reason_code", ""), i.details.get("reason_params") or {},
                                    i.details["reason"])})) for (kind, _), i in latest.items() if kind == UNMATCHED]
    unschedulable = [(name(i.details["mentor_id"]), Phrase({DIRECT: phrases.PAIR_ITEM}, {
        "mentor_name": name(i.details["mentor_id"]), "mentee_name": name(i.details["mentee_id"])}))
        for (kind, _), i in latest.items() if kind == UNSCHEDULABLE]
    # A goal is a term as the profiles spell it: shown as it is, beside the pair's names.
    goals = [(name(i.details["mentee_id"]), f"{name(i.details['mentee_id'])} & {name(i.details['mentor_id'])}: "
              f"{i.details['goal']}") for i in sorted(items, key=lambda i: i.occurred_at) if i.kind == GOAL_ACHIEVED]
    # Each refused message once: every service reading its topic dead-lettered its own copy.
    letters: dict[tuple[str, str, str], set[str]] = {}
    for i in items:
        if i.kind == DEAD_LETTER:
            key = (i.details["topic"], i.details.get("event_type") or "?", i.details["reason"])
            letters.setdefault(key, set()).add(i.details.get("message") or i.item_id)
    dead = [(line, line) for line in (f"{topic} {event_type}" + (f" ({len(times)}x)" if len(times) > 1 else "")
                                      + f": {reason}" for (topic, event_type, reason), times in letters.items())]
    counts = {GOAL_ACHIEVED: len(goals), UNMATCHED: len(unmatched), UNSCHEDULABLE: len(unschedulable),
              DEAD_LETTER: len(set().union(*letters.values()))}
    found = {GOAL_ACHIEVED: goals, UNMATCHED: unmatched, UNSCHEDULABLE: unschedulable, DEAD_LETTER: dead}
    return {kind: (counts[kind], _capped(lines)) for kind, lines in found.items() if lines}


def _capped(lines: list[tuple[str, object]]) -> list:
    """The first MAX_LINES, in order of who they name; the dashboard has the rest."""
    shown = [line for _, line in sorted(lines, key=lambda pair: pair[0])[:MAX_LINES]]
    return shown + ([f"… (+{len(lines) - MAX_LINES})"] if len(lines) > MAX_LINES else [])
