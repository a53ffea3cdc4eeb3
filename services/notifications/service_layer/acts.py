"""What a participant's action link shows (`show`, for a GET: changes nothing) and does (`act`, for
the page's POST): the page's data comes from what this service already keeps (participants, pairs,
proposals, meetings, feedback requests, agreements, program settings), and the act publishes the
same documented command an upstream portal would, through the outbox.

| link (subject, action)        | page              | publishes                                                   |
|-------------------------------|-------------------|-------------------------------------------------------------|
| proposal, answer              | proposal          | proposal.accepted / proposal.declined                       |
| relationship, agreement       | agreement         | relationship.agreement.recorded (once answered, the link    |
|                               | (agreed, after)   | shows what stands now: the `agreed` page, read-only)        |
| relationship, end             | end               | relationship.end.requested (requested_by: the person)       |
| meeting, change               | meeting_change    | meeting.reschedule.requested / meeting.cancel.requested     |
| meeting, attendance           | attendance        | meeting.attendance.recorded                                 |
| request, feedback             | feedback          | feedback.submitted (+ goal.progress.recorded per goal)      |
| participant, preferences      | preferences       | participant.preferences.changed                             |
| participant, unsubscribe      | unsubscribe       | participant.preferences.changed (one kind more muted)       |

Once per link: each act is recorded under its link's binding (person, subject, action, variant), and
the command's id derives from the binding and the choice, so a double click publishes once and the
second one is told it is already done. Preferences may be changed again and again: their command id
derives from the form's own nonce (one page load), or, for a one-click unsubscribe, from the minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notifications.adapters.subjects import Agreement, LinkAct
from services.notifications.domain import compose, forms, links
from services.notifications.domain import preferences as kinds
from services.notifications.domain.links import ActionLink
from services.notifications.i18n.catalogues import available, bcp47
from services.notifications.service_layer import erasure
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.contracts import events as ev
from shared.contracts.profile import QuietHours
from shared.people import Participant
from shared.programs import ProgramDefaults


@dataclass
class Page:
    """What to show: a template of entrypoints/web/templates, its data, and the HTTP status."""

    template: str
    data: dict[str, Any] = field(default_factory=dict)
    status: int = 200


class Refused(Exception):
    """The page says why instead of acting: `kind` picks its words (expired, refused, not_found, ended,
    closed, gone, bad_field, already_done)."""

    def __init__(self, kind: str, status: int, **data: Any) -> None:
        super().__init__(kind)
        self.kind, self.status, self.data = kind, status, data


@dataclass(frozen=True)
class Request:
    """One page view or post: the link, the person it is for, and the moment."""

    link: ActionLink
    person: Participant
    now: datetime
    choice: str | None = None


async def person_of(uow: NotificationsUnitOfWork, link: ActionLink) -> Participant:
    person = await uow.participants.get(link.participant_id)
    if person is None:
        raise Refused("not_found", 404)
    if person.erased or not person.active:
        raise Refused("ended", 409, person=None)
    return person


# --- what each page is about -------------------------------------------------------------------


async def _proposal(uow, r: Request):
    proposal = await uow.subjects.proposal(r.link.subject_id)
    if proposal is None:
        raise Refused("not_found", 404)
    if proposal.mentor_id != r.person.participant_id:
        raise Refused("refused", 403)
    if not proposal.open:
        raise Refused("closed", 409)
    (mentee,) = await uow.participants.require(proposal.mentee_id)
    return proposal, mentee


async def _pair(uow, r: Request, relationship_id: str):
    pair = await uow.pairs.get(relationship_id)
    if pair is None:
        raise Refused("not_found", 404)
    if not pair.includes(r.person.participant_id):
        raise Refused("refused", 403)
    if not pair.active:
        raise Refused("ended", 409)
    (other,) = await uow.participants.require(pair.other(r.person.participant_id))
    return pair, other


async def _meeting(uow, r: Request, *, planned: bool):
    meeting = await uow.subjects.meeting(r.link.subject_id)
    if meeting is None:
        raise Refused("not_found", 404)
    if not meeting.includes(r.person.participant_id):
        raise Refused("refused", 403)
    pair, other = await _pair(uow, r, meeting.relationship_id)
    if planned and (meeting.status != "planned" or meeting.starts_at <= r.now):
        raise Refused("gone", 409)
    return meeting, pair, other


async def _request(uow, r: Request):
    request = await uow.subjects.request(r.link.subject_id)
    if request is None:
        raise Refused("not_found", 404)
    if request.participant_id != r.person.participant_id:
        raise Refused("refused", 403)
    pair, other = (
        await _pair(uow, r, request.relationship_id)
        if request.kind != "closure"
        else await _ended_pair(uow, r, request.relationship_id)
    )
    meeting = await uow.subjects.meeting(request.meeting_id) if request.meeting_id else None
    return request, pair, other, meeting


async def _ended_pair(uow, r: Request, relationship_id: str):
    """The closing survey is asked after the end: it may be answered then."""
    pair = await uow.pairs.get(relationship_id)
    if pair is None:
        raise Refused("not_found", 404)
    if not pair.includes(r.person.participant_id):
        raise Refused("refused", 403)
    (other,) = await uow.participants.require(pair.other(r.person.participant_id))
    return pair, other


async def _goals(uow, pair) -> tuple[str, ...]:
    agreed = await uow.subjects.agreement(pair.relationship_id)
    if agreed is not None and agreed.terms.get("goals"):
        return tuple(agreed.terms["goals"])
    return tuple(pair.goals)


def _bounds(program) -> dict[str, tuple[int, int]]:
    return {
        "cadence": (program.cadence_days_min, program.cadence_days_max),
        "duration": (program.duration_minutes_min, program.duration_minutes_max),
    }


# --- GET: the page, with the choice already made -----------------------------------------------


async def show(uow: NotificationsUnitOfWork, r: Request, defaults: ProgramDefaults) -> Page:
    kind = r.link.kind
    if kind not in (links.PREFERENCES, links.UNSUBSCRIBE):
        binding = r.link.binding
        if kind == links.ATTENDANCE:
            meeting = await uow.subjects.meeting(r.link.subject_id)
            binding = _attendance_of(meeting) if meeting is not None else binding
        done = await uow.subjects.act(binding)
        if done is not None:
            if kind == links.AGREEMENT:
                return await _agreed(uow, r, done)
            raise Refused("already_done", 200)
    if kind == links.PROPOSAL_ANSWER:
        proposal, mentee = await _proposal(uow, r)
        program = await uow.program_settings.get(proposal.program_id, defaults)
        return Page(
            "proposal",
            {
                "proposal": proposal,
                "mentee": mentee,
                "answer": r.choice if r.choice in ("accept", "decline") else None,
                "commitment": compose.commitment(
                    cadence_days=program.cadence_days,
                    duration_minutes=program.duration_minutes,
                    term_days=program.term_days,
                ),
            },
        )
    if kind == links.AGREEMENT:
        pair, other = await _pair(uow, r, r.link.subject_id)
        program = await uow.program_settings.get(pair.program_id, defaults)
        agreed = await uow.subjects.agreement(pair.relationship_id)
        terms = (
            dict(agreed.terms)
            if agreed is not None
            else {
                "cadence_days": program.cadence_days,
                "duration_minutes": program.duration_minutes,
                "place": "video",
                "response_time_hours": r.person.communication.response_time_hours,
            }
        )
        return Page(
            "agreement",
            {
                "pair": pair,
                "other": other,
                "terms": terms,
                "goals": await _goals(uow, pair),
                "edits_goals": pair.mentee_id == r.person.participant_id,
                "other_answered": agreed is not None and agreed.participant_id != r.person.participant_id,
                "bounds": _bounds(program),
            },
        )
    if kind == links.END_EARLY:
        pair, other = await _pair(uow, r, r.link.subject_id)
        return Page(
            "end",
            {
                "pair": pair,
                "other": other,
                "may_rematch": pair.mentee_id == r.person.participant_id,
                "rematch": r.choice == "rematch",
            },
        )
    if kind == links.MEETING_CHANGE:
        meeting, pair, other = await _meeting(uow, r, planned=True)
        offered = tuple(s for s in meeting.alternatives if s > r.now)
        return Page("meeting_change", {"meeting": meeting, "other": other, "offered": offered})
    if kind == links.ATTENDANCE:
        meeting, pair, other = await _meeting(uow, r, planned=False)
        if meeting.status == "over":
            raise Refused("already_done", 200)
        return Page(
            "attendance",
            {"meeting": meeting, "other": other, "answer": r.choice if r.choice in ("held", "not_held") else None},
        )
    if kind == links.FEEDBACK:
        request, pair, other, meeting = await _request(uow, r)
        return Page(
            "feedback",
            {
                "asked": request,
                "other": other,
                "goals": await _goals(uow, pair),
                "asks_fit": meeting is not None and meeting.kind == "kickoff",
            },
        )
    if kind == links.PREFERENCES:
        return Page(
            "preferences",
            {
                "kinds": kinds.KINDS,
                "locales": available_locales(),
                "chat_possible": _chat_possible(r.person),
                "nonce": uuid.uuid4().hex,
            },
        )
    if kind == links.UNSUBSCRIBE:
        if r.link.variant not in kinds.KINDS:
            raise Refused("refused", 403)
        return Page(
            "unsubscribe",
            {"kind": r.link.variant, "kind_label": _KIND_LABELS[r.link.variant], "nonce": uuid.uuid4().hex},
        )
    raise Refused("refused", 403)


async def _agreed(uow: NotificationsUnitOfWork, r: Request, done: LinkAct) -> Page:
    """An answered agreement, to read again: what stands now (the latest answer of either person)."""
    pair, other = await _pair(uow, r, r.link.subject_id)
    agreed = await uow.subjects.agreement(pair.relationship_id)
    if agreed is None:  # not kept (someone was forgotten on request)
        raise Refused("already_done", 200)
    return Page(
        "agreed",
        {
            "other": other,
            "terms": agreed.terms,
            "answered_at": done.done_at,
            "latest_by_other": agreed.participant_id != r.person.participant_id and agreed.recorded_at > done.done_at,
            "latest_at": agreed.recorded_at,
        },
    )


# --- POST: the act -----------------------------------------------------------------------------


async def act(
    uow: NotificationsUnitOfWork,
    r: Request,
    form: Mapping[str, str],
    defaults: ProgramDefaults,
    *,
    one_click: bool = False,
) -> Page:
    """Check, publish the command, record the act; `forms.FieldError` for a value out of range."""
    link, pid = r.link, r.person.participant_id
    kind = link.kind
    if kind == links.PREFERENCES:
        answer = forms.preferences(
            form, kinds=kinds.KINDS, locales=available_locales(), chat_possible=_chat_possible(r.person)
        )
        nonce = (form.get("nonce") or "")[:64] or r.now.isoformat()
        # Preferences change again and again: once per page load (its nonce), so a double click counts once.
        await _once(
            uow,
            r,
            "save",
            _preferences_event(r, answer.muted, answer.channel, answer.quiet_hours, answer.locale, answer.style),
            binding=f"{link.binding}/{nonce}",
        )
        return Page("done", {"message": "PREFERENCES_SAVED"})
    if kind == links.UNSUBSCRIBE:
        if link.variant not in kinds.KINDS:
            raise Refused("refused", 403)
        c = getattr(r.person, "choices", None)
        comm = r.person.communication
        quiet = (comm.quiet_start, comm.quiet_end) if comm.quiet_start and comm.quiet_end else None
        muted = tuple(sorted({*(c.muted if c else ()), link.variant}))
        # Once per page load, or per minute for a mail client's one-click POST (which has no page).
        once = (
            "one-click/" + r.now.replace(second=0, microsecond=0).isoformat()
            if one_click
            else (form.get("nonce") or "")[:64] or r.now.isoformat()
        )
        await _once(
            uow,
            r,
            "stop",
            _preferences_event(
                r, muted, c.channel if c else None, quiet, c.locale if c else None, c.style if c else None
            ),
            binding=f"{link.binding}/{once}",
        )
        return Page("done", {"message": "UNSUBSCRIBED"})

    if kind == links.PROPOSAL_ANSWER:
        proposal, mentee = await _proposal(uow, r)
        proposal_answer = forms.proposal_answer(form)
        command: ev.ProposalAccepted | ev.ProposalDeclined
        if proposal_answer.accept:
            command, choice = ev.ProposalAccepted(proposal_id=proposal.proposal_id, participant_id=pid), "accept"
        else:
            command, choice = (
                ev.ProposalDeclined(
                    proposal_id=proposal.proposal_id,
                    participant_id=pid,
                    reason=proposal_answer.note,
                    reason_code=proposal_answer.reason_code,
                ),
                "decline",
            )
        await _once(uow, r, choice, command)
        return Page("done", {"message": "ACCEPTED" if proposal_answer.accept else "DECLINED", "mentee": mentee})
    if kind == links.AGREEMENT:
        pair, _other = await _pair(uow, r, link.subject_id)
        program = await uow.program_settings.get(pair.program_id, defaults)
        bounds = _bounds(program)
        a = forms.agreement(
            form, cadence=bounds["cadence"], duration=bounds["duration"], edits_goals=pair.mentee_id == pid
        )
        recorded = ev.RelationshipAgreementRecorded(
            relationship_id=pair.relationship_id,
            participant_id=pid,
            cadence_days=a.cadence_days,
            duration_minutes=a.duration_minutes,
            place=a.place,
            place_details=a.place_details,
            response_time_hours=a.response_time_hours,
            goals=list(a.goals),
            boundaries=a.boundaries,
            recorded_at=r.now,
        )
        await _once(uow, r, "agree", recorded)
        # Kept now as its event will keep it (handlers.on_agreement_recorded), so the link shows what was
        # agreed from its next view on.
        if not await erasure.on_agreement_of_the_forgotten(uow, pair.relationship_id, pid):
            terms = recorded.model_dump(mode="json", exclude={"relationship_id", "participant_id", "recorded_at"})
            await uow.subjects.record_agreement(Agreement(pair.relationship_id, pid, terms, r.now))
        return Page("done", {"message": "AGREEMENT_RECORDED"})
    if kind == links.END_EARLY:
        pair, _other = await _pair(uow, r, link.subject_id)
        e = forms.end_early(form, may_rematch=pair.mentee_id == pid)
        await _once(
            uow,
            r,
            "end",
            ev.RelationshipEndRequested(
                relationship_id=pair.relationship_id,
                requested_by=pid,
                reason=e.note or e.reason_code,
                reason_code=e.reason_code,
                rematch=e.rematch,
                do_not_pair_again=e.do_not_pair_again,
            ),
        )
        return Page("done", {"message": "END_REQUESTED"})
    if kind == links.MEETING_CHANGE:
        meeting, pair, _other = await _meeting(uow, r, planned=True)
        change = forms.meeting_change(form, tuple(s for s in meeting.alternatives if s > r.now))
        if change.new_start is not None:
            await _once(
                uow,
                r,
                f"move/{change.new_start.isoformat()}",
                ev.MeetingRescheduleRequested(
                    meeting_id=meeting.meeting_id,
                    relationship_id=meeting.relationship_id,
                    requested_by=pid,
                    new_start=change.new_start,
                ),
            )
            return Page("done", {"message": "MOVE_REQUESTED"})
        await _once(
            uow,
            r,
            "cancel",
            ev.MeetingCancelRequested(
                meeting_id=meeting.meeting_id,
                relationship_id=meeting.relationship_id,
                requested_by=pid,
                reason=change.note,
                reason_code=change.reason_code,
            ),
        )
        return Page("done", {"message": "CANCELLED"})
    if kind == links.ATTENDANCE:
        meeting, pair, _other = await _meeting(uow, r, planned=False)
        if meeting.status == "over":
            raise Refused("already_done", 200)
        held = forms.attendance(form)
        # Either person may answer, once for both: the act is recorded under the meeting, not the person.
        await _once(
            uow,
            r,
            "held" if held else "not_held",
            ev.MeetingAttendanceRecorded(
                meeting_id=meeting.meeting_id,
                relationship_id=meeting.relationship_id,
                recorded_by=pid,
                attendance={meeting.mentor_id: held, meeting.mentee_id: held},
            ),
            binding=_attendance_of(meeting),
        )
        return Page("done", {"message": "ATTENDANCE_RECORDED"})
    if kind == links.FEEDBACK:
        request, pair, _other, meeting = await _request(uow, r)
        goals = await _goals(uow, pair)
        f = forms.feedback(form, goals, asks_fit=meeting is not None and meeting.kind == "kickoff")
        submitted = ev.FeedbackSubmitted(
            feedback_id=link.command_id("feedback"),
            relationship_id=pair.relationship_id,
            participant_id=pid,
            kind=request.kind,
            meeting_id=request.meeting_id,
            request_id=request.request_id,
            rating=f.rating,
            comment=f.comment,
            goals_achieved=[g for g, p in f.progress.items() if p >= 100],
            fit=f.fit,
        )
        await _once(uow, r, "feedback", submitted)
        for i, (goal, progress) in enumerate(f.progress.items()):
            uow.emit(
                ev.GoalProgressRecorded(
                    relationship_id=pair.relationship_id, participant_id=pid, goal=goal, progress=progress
                ),
                event_id=link.command_id(f"feedback/goal/{i}"),
            )
        return Page("done", {"message": "FEEDBACK_RECORDED"})
    raise Refused("refused", 403)


def _attendance_of(meeting) -> str:
    return f"meeting/{meeting.meeting_id}/attendance"


async def _once(
    uow: NotificationsUnitOfWork, r: Request, choice: str, command: ev.EventData, *, binding: str | None = None
) -> None:
    """Publish the command unless this link (or `binding`) was used before: then the page says it is
    already done. The command's id derives from the binding and the choice."""
    binding = binding or r.link.binding
    command_id = (
        r.link.command_id(choice)
        if binding == r.link.binding
        else str(uuid.uuid5(links.NAMESPACE, f"{binding}/{choice}"))
    )
    earlier = await uow.subjects.record_act(LinkAct(binding, choice, command_id, r.now))
    if earlier is not None:
        raise Refused("already_done", 200)
    uow.emit(command, event_id=command_id)


_KIND_LABELS = {kinds.REMINDERS: "KIND_REMINDERS", kinds.CHECKINS: "KIND_CHECKINS", kinds.NUDGES: "KIND_NUDGES"}


def available_locales() -> tuple[str, ...]:
    """The languages a person may choose: those with a catalogue, as BCP 47 tags."""
    return tuple(bcp47(name) for name in available())


def _chat_possible(person: Participant) -> bool:
    profile_channel = getattr(person, "profile_channel", None) or person.communication.channel
    return bool(person.communication.webhook_url) and profile_channel != "email"


def _preferences_event(r: Request, muted, channel, quiet, locale, style) -> ev.ParticipantPreferencesChanged:
    return ev.ParticipantPreferencesChanged(
        participant_id=r.person.participant_id,
        program_id=r.person.program_id,
        muted=list(muted),
        channel=channel,
        quiet_hours=QuietHours(start=quiet[0], end=quiet[1]) if quiet else None,
        locale=locale,
        style=style,
        changed_at=r.now,
    )
