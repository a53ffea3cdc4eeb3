"""The upstream world for the fault tests: an HRIS and a portal that use only the public topics.

It configures a program, onboards mentors and mentees, asks a mentor for each mentee, accepts every
proposal, records attendance when a kickoff is over and answers every feedback request. Every
message it publishes has an id of its own and is published again with the same id until Kafka has
taken it, as any careful upstream system would during a broker outage; consumers deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from tandem.client import Observed, Publisher
from tests.support.people import onboarded

ZONES = ("Europe/Amsterdam", "Europe/London", "America/New_York", "Asia/Kolkata", "America/Sao_Paulo")


@dataclass
class Upstream:
    publisher: Publisher
    clock: ProgramClock
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    mentors: int = 8
    capacity: int = 3
    mentees: int = 24
    miss_rate: float = 0.15
    chat_webhook: str | None = None  # when set, a few mentees are reached through a chat webhook
    seed: int = 11
    published: list[Envelope] = field(default_factory=list)
    attendance_sent: set[str] = field(default_factory=set)
    feedback_sent: set[str] = field(default_factory=set)
    kickoffs: dict[str, dict] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def program_id(self) -> str:
        return f"chaos-{self.tag}"

    def mentor_ids(self) -> list[str]:
        return [f"mentor-{self.tag}-{i}" for i in range(self.mentors)]

    def mentee_ids(self) -> list[str]:
        return [f"mentee-{self.tag}-{i}" for i in range(self.mentees)]

    async def publish(self, data: ev.EventData) -> Envelope:
        """Publish until Kafka has it, with one event id however many tries it takes."""
        event_id = str(uuid.uuid4())
        delay = 0.2
        while True:
            try:
                envelope = await asyncio.wait_for(self.publisher.publish(data, event_id=event_id), 40)
                self.published.append(envelope)
                return envelope
            except Exception:  # the broker is away: the same event again, later
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def start_program(self) -> None:
        await self.publish(ev.ProgramConfigured.model_validate({
            "program_id": self.program_id, "name": f"Chaos {self.tag}", "timezone": "Europe/Amsterdam",
            "ops_contacts": [{"name": "Program team", "email": f"ops-{self.tag}@example.com"}]}))
        for i, pid in enumerate(self.mentor_ids()):
            await self.publish(onboarded(pid=pid, roles=("mentor",), tz=ZONES[i % len(ZONES)], seniority=8,
                                         capacity=self.capacity, skills=("leadership", "negotiation"),
                                         program_id=self.program_id, start="06:00", end="22:00"))
        for i, pid in enumerate(self.mentee_ids()):
            chat = self.chat_webhook is not None and i % 4 == 0
            await self.publish(onboarded(pid=pid, tz=ZONES[(i + 2) % len(ZONES)], seniority=2, goals=("leadership",),
                                         program_id=self.program_id, start="07:00", end="21:00",
                                         channel="chat" if chat else "email",
                                         webhook_url=self.chat_webhook if chat else None))

    async def request_matches(self, mentee_ids: list[str] | None = None) -> None:
        for pid in mentee_ids or self.mentee_ids():
            await self.publish(ev.MatchRequested(mentee_id=pid, program_id=self.program_id))

    # --- the portal, reacting to what it reads ----------------------------------------------------

    def on_message(self, o: Observed) -> None:
        if o.topic not in (topics.MATCHES, topics.MEETINGS, topics.FEEDBACK):
            return  # only what the system says; junk on the input topics is never acted on
        d = o.data
        if o.type == "match.proposed" and d.get("program_id") == self.program_id:
            self._spawn(self.publish(ev.ProposalAccepted(proposal_id=d["proposal_id"], participant_id=d["mentor_id"])))
        elif o.type in ("meeting.scheduled", "meeting.rescheduled") and d.get("program_id") == self.program_id \
                and d["occurrence"] == 1:
            self.kickoffs[d["relationship_id"]] = d
        elif o.type == "feedback.requested" and d["request_id"] not in self.feedback_sent:
            self.feedback_sent.add(d["request_id"])
            self._spawn(self.publish(ev.FeedbackSubmitted(
                feedback_id=f"fb-{d['request_id']}", relationship_id=d["relationship_id"],
                participant_id=d["participant_id"], meeting_id=d.get("meeting_id"), kind=d.get("kind", "meeting"),
                request_id=d["request_id"], rating=self._rng.choice((3, 4, 5)),
                progress=self._rng.choice((3, 4, 5)))))

    async def record_attendance(self) -> None:
        """Kickoffs that are over on the program clock: who came."""
        now = self.clock.now()
        for rel_id, meeting in list(self.kickoffs.items()):
            if meeting["meeting_id"] in self.attendance_sent or datetime.fromisoformat(meeting["end"]) > now:
                continue
            self.attendance_sent.add(meeting["meeting_id"])
            missed = self._rng.random() < self.miss_rate
            self._spawn(self.publish(ev.MeetingAttendanceRecorded(
                meeting_id=meeting["meeting_id"], relationship_id=rel_id, recorded_by=meeting["mentor_id"],
                attendance={meeting["mentor_id"]: True, meeting["mentee_id"]: not missed})))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the messages it is still publishing."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
