"""Matching's aggregates: a `Proposal` (a mentor asked to take a mentee) and the `Relationship` an
accepted proposal becomes, and the `KeptApart` record of two people never to be proposed again.

Their methods guard the life-cycle and return the events a change causes:

    pending --accept--> accepted (and a Relationship: active --end / end_on_request / follow_term--> ended)
            --decline--> declined
            --expire--> expired
            --withdraw--> withdrawn (a party left the program)

A relationship runs for its program's `term_days` from establishment: a week before the end both
are told it is coming (`relationship.end.scheduled`, once), and at the end it is over
(`match.ended`, reason code `term_completed`), unless it ended before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.contracts import events as ev
from shared.errors import PermanentError

from .results import PairProposal

NAMESPACE = uuid.UUID("3d0c8e4a-1f2b-4c6d-8e9f-a0b1c2d3e4f5")
EndReason = Literal["participant_left", "ended_on_request", "term_completed"]
END_NOTICE = timedelta(days=7)  # the heads-up before a term ends
TERM_COMPLETED = "term completed"


def relationship_id_for(proposal_id: str) -> str:
    # One accepted proposal makes exactly one relationship, however often the answer is delivered.
    return str(uuid.uuid5(NAMESPACE, f"relationship/{proposal_id}"))


@dataclass
class Relationship:
    relationship_id: str
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    established_at: datetime
    status: str = "active"
    ended_at: datetime | None = None
    end_reason: str | None = None
    end_notice_at: datetime | None = None  # when both were told the term's end is coming

    def established(self, goals: tuple[str, ...]) -> ev.MatchEstablished:
        return ev.MatchEstablished(relationship_id=self.relationship_id, proposal_id=self.proposal_id,
                                   program_id=self.program_id, mentee_id=self.mentee_id, mentor_id=self.mentor_id,
                                   established_at=self.established_at, goals=list(goals))

    @property
    def active(self) -> bool:
        return self.status == "active"

    def end(self, reason: str, *, now: datetime, reason_code: EndReason,
            requested_by: str | None = None, leaver_id: str | None = None) -> list[ev.EventData]:
        """End an active relationship; ending it again changes nothing."""
        if not self.active:
            return []
        self.status, self.ended_at, self.end_reason = "ended", now, reason
        return [ev.MatchEnded(relationship_id=self.relationship_id, program_id=self.program_id,
                              mentee_id=self.mentee_id, mentor_id=self.mentor_id, reason=reason, ended_at=now,
                              reason_code=reason_code, requested_by=requested_by, leaver_id=leaver_id)]

    def leave(self, leaver: str, *, reason: str, now: datetime) -> list[ev.EventData]:
        """One of the two left the program (offboarded or forgotten); the other stays."""
        if leaver not in (self.mentor_id, self.mentee_id):
            raise ValueError(f"{leaver} is not part of relationship {self.relationship_id}")
        return self.end(reason, now=now, reason_code="participant_left", leaver_id=leaver)

    def end_on_request(self, *, requested_by: str, reason: str, now: datetime) -> list[ev.EventData]:
        """The program team (or a portal user), or one of the two, ends it; asked again once it has
        ended, nothing changes."""
        return self.end(reason, now=now, reason_code="ended_on_request", requested_by=requested_by)

    def role_of(self, participant_id: str) -> Literal["mentor", "mentee"] | None:
        """Their part in the pair: "mentor" or "mentee"; None for anyone else."""
        if participant_id == self.mentor_id:
            return "mentor"
        if participant_id == self.mentee_id:
            return "mentee"
        return None

    def term_ends_at(self, term_days: int) -> datetime:
        return self.established_at + timedelta(days=term_days)

    def follow_term(self, *, term_days: int, now: datetime) -> list[ev.EventData]:
        """At the term's end the relationship is over; a week before, the end is announced (once).
        `term_days` is the program's setting in force now."""
        if not self.active:
            return []
        ends_at = self.term_ends_at(term_days)
        if now >= ends_at:
            return self.end(TERM_COMPLETED, now=now, reason_code="term_completed")
        if now < ends_at - END_NOTICE or self.end_notice_at is not None:
            return []
        self.end_notice_at = now
        return [ev.RelationshipEndScheduled(relationship_id=self.relationship_id, program_id=self.program_id,
                                            mentor_id=self.mentor_id, mentee_id=self.mentee_id, ends_at=ends_at)]

    def keep_apart(self, *, by: str, now: datetime) -> KeptApart:
        """These two are never to be proposed to each other again, whatever happened to the relationship."""
        return KeptApart(program_id=self.program_id, mentee_id=self.mentee_id, mentor_id=self.mentor_id,
                         relationship_id=self.relationship_id, decided_by=by, decided_at=now)


@dataclass(frozen=True)
class KeptApart:
    """Two people matching must never propose to each other again, in either role (someone can be a
    mentor and a mentee). Recorded once per pair; asking again changes nothing."""

    program_id: str
    mentee_id: str
    mentor_id: str
    relationship_id: str
    decided_by: str
    decided_at: datetime

    def concerns(self, a: str, b: str) -> bool:
        return {a, b} == {self.mentee_id, self.mentor_id}


@dataclass
class Proposal:
    proposal_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    score: float
    explanation: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    round_id: str | None = None
    status: str = "pending"
    closed_at: datetime | None = None
    close_reason: str | None = None
    _changed: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def offer(cls, pair: PairProposal, *, program_id: str, round_id: str | None, now: datetime,
              response_window_hours: float) -> Proposal:
        return cls(proposal_id=str(uuid.uuid4()), program_id=program_id, mentee_id=pair.mentee_id,
                   mentor_id=pair.mentor_id, score=float(pair.score), explanation=pair.explanation, created_at=now,
                   expires_at=now + timedelta(hours=response_window_hours), round_id=round_id)

    def proposed(self) -> ev.MatchProposed:
        return ev.MatchProposed(proposal_id=self.proposal_id, program_id=self.program_id, mentee_id=self.mentee_id,
                                mentor_id=self.mentor_id, score=self.score, explanation=self.explanation,
                                expires_at=self.expires_at, round_id=self.round_id)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def _answerable_by(self, participant_id: str) -> None:
        if participant_id != self.mentor_id:
            raise PermanentError(f"{participant_id} cannot answer proposal {self.proposal_id}; only its mentor can")

    def _close(self, status: str, now: datetime, reason: str | None) -> None:
        self.status, self.closed_at, self.close_reason, self._changed = status, now, reason, True

    def accept(self, by: str, *, now: datetime) -> Relationship | None:
        """The mentor says yes: the pair becomes a relationship. None when it was accepted before."""
        self._answerable_by(by)
        if self.status == "accepted":
            return None  # the same answer again
        if not self.pending:
            raise PermanentError(f"proposal {self.proposal_id} is {self.status}; it can no longer be accepted")
        self._close("accepted", now, None)
        return Relationship(relationship_id=relationship_id_for(self.proposal_id), proposal_id=self.proposal_id,
                            program_id=self.program_id, mentee_id=self.mentee_id, mentor_id=self.mentor_id,
                            established_at=now)

    def decline(self, by: str, *, now: datetime, reason: str | None,
                reason_code: str | None = None) -> list[ev.EventData]:
        """The mentor says no, with their words and a code the program team can count (both optional)."""
        self._answerable_by(by)
        if self.status == "declined":
            return []
        if not self.pending:
            raise PermanentError(f"proposal {self.proposal_id} is {self.status}; it can no longer be declined")
        reason = reason or "declined by the mentor"
        self._close("declined", now, reason)
        return [ev.MatchDeclined(**self._ids(), reason=reason, reason_code=reason_code)]

    def expire(self, *, now: datetime) -> list[ev.EventData]:
        """No answer within the response window."""
        if not self.pending or self.expires_at > now:
            return []
        self._close("expired", now, "no answer within the response window")
        return [ev.MatchExpired(**self._ids(), expired_at=now)]

    def withdraw(self, *, leaver_role: str, now: datetime) -> list[ev.EventData]:
        if not self.pending:
            return []
        self._close("withdrawn", now, f"the {leaver_role} left the program")
        return [ev.MatchDeclined(**self._ids(), reason=f"withdrawn: the {leaver_role} left the program")]

    def _ids(self) -> dict[str, str]:
        return dict(proposal_id=self.proposal_id, program_id=self.program_id, mentee_id=self.mentee_id,
                    mentor_id=self.mentor_id)
