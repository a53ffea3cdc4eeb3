"""What each event tells whom: the notifications an event causes, with their template context.

Pure logic: profiles come in as `Recipient`s, messages go out as `Outgoing`s; rendering, quiet hours
and delivery are elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time

from shared.contracts import events as ev


@dataclass(frozen=True)
class Recipient:
    participant_id: str
    name: str
    email: str
    locale: str
    timezone: str
    channel: str = "email"
    style: str = "direct"
    quiet_start: str | None = None
    quiet_end: str | None = None
    webhook_url: str | None = None
    languages: tuple[str, ...] = ()
    response_time_hours: int = 48

    @property
    def language(self) -> str:
        return self.locale.replace("_", "-").split("-")[0].lower()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str
    mime_type: str  # e.g. "text/calendar; method=REQUEST"


@dataclass(frozen=True)
class Outgoing:
    recipient_id: str
    template: str
    context: dict = field(hash=False)
    attachment: Attachment | None = None
    # Past this moment the message is useless (a reminder after the meeting began), so quiet hours
    # may not delay it beyond.
    useful_until: datetime | None = None


def _babel_locale(recipient: Recipient) -> Locale:
    try:
        return Locale.parse(recipient.locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")


def local_time(moment: datetime, person: Recipient, reader: Recipient | None = None) -> str:
    """`moment` on `person`'s wall clock, written in `reader`'s language (default: the person's)."""
    locale = _babel_locale(reader or person)
    local = moment.astimezone(ZoneInfo(person.timezone))
    return f"{format_date(local, 'full', locale=locale)}, {format_time(local, 'short', locale=locale)} ({person.timezone})"


def _lead_time(minutes: int, language: str) -> str:
    hours, rest = divmod(minutes, 60)
    if language == "nl":
        return f"{hours} uur" if not rest else f"{minutes} minuten"
    return (f"{hours} hour" + ("s" if hours != 1 else "")) if not rest else f"{minutes} minutes"


def _why(explanation: dict) -> str:
    """The matching engine's own words for the three parts of the score that counted most."""
    components = explanation.get("components") or {}
    ranked = sorted(components.values(), key=lambda c: c.get("contribution", 0), reverse=True)
    notes = [c["note"] for c in ranked if c.get("note")][:3]
    return "; ".join(notes) if notes else "a strong fit on goals, availability and language"


def match_proposed(data: ev.MatchProposed, mentor: Recipient, mentee: Recipient, mentee_profile: dict) -> list[Outgoing]:
    return [Outgoing(mentor.participant_id, "match_proposed", {
        "recipient_name": mentor.name, "mentee_name": mentee.name,
        "mentee_region": mentee_profile.get("region"), "mentee_sector": mentee_profile.get("sector"),
        "mentee_goals": ", ".join(mentee_profile.get("goals") or []) or "-",
        "why": _why(data.explanation), "expires_local": local_time(data.expires_at, mentor),
    })]


def match_established(data: ev.MatchEstablished, mentor: Recipient, mentee: Recipient, *, cadence_days: int,
                      duration_minutes: int) -> list[Outgoing]:
    out = []
    for me, other, other_role in ((mentor, mentee, "mentee"), (mentee, mentor, "mentor")):
        out.append(Outgoing(me.participant_id, "match_established", {
            "recipient_name": me.name, "other_name": other.name, "other_role": other_role,
            "other_timezone": other.timezone, "other_languages": ", ".join(other.languages) or other.language,
            "goals": ", ".join(data.goals) or "-", "cadence_days": cadence_days, "duration_minutes": duration_minutes,
            "response_time_hours": max(mentor.response_time_hours, mentee.response_time_hours),
        }))
    return out


def _meeting(template: str, data, mentor: Recipient, mentee: Recipient, *, method: str | None,
             extra: dict | None = None) -> list[Outgoing]:
    out = []
    duration = int((data.end - data.start).total_seconds() // 60)
    for me, other in ((mentor, mentee), (mentee, mentor)):
        attachment = None
        if method is not None:
            attachment = Attachment("invite.ics", data.ics, f"text/calendar; method={method}")
        out.append(Outgoing(me.participant_id, template, {
            "recipient_name": me.name, "other_name": other.name, "duration_minutes": duration,
            "start_local": local_time(data.start, me), "start_other_local": local_time(data.start, other, reader=me),
            "kind": getattr(data, "kind", "") or "", **(extra or {}),
        }, attachment, useful_until=data.start if template != "meeting_cancelled" else None))
    return out


def meeting_scheduled(data: ev.MeetingScheduled, mentor: Recipient, mentee: Recipient) -> list[Outgoing]:
    return _meeting("meeting_scheduled", data, mentor, mentee, method="REQUEST")


def meeting_rescheduled(data: ev.MeetingRescheduled, mentor: Recipient, mentee: Recipient) -> list[Outgoing]:
    return _meeting("meeting_rescheduled", data, mentor, mentee, method="REQUEST")


def meeting_cancelled(data: ev.MeetingCancelled, mentor: Recipient, mentee: Recipient) -> list[Outgoing]:
    return _meeting("meeting_cancelled", data, mentor, mentee, method="CANCEL", extra={"reason": data.reason or ""})


def reminder_due(data: ev.ReminderDue, people: dict[str, Recipient]) -> list[Outgoing]:
    out = []
    for pid in data.participant_ids:
        me = people[pid]
        others = [people[o] for o in data.participant_ids if o != pid]
        other = others[0] if others else me
        out.append(Outgoing(pid, "reminder_due", {
            "recipient_name": me.name, "other_name": other.name, "start_local": local_time(data.meeting_start, me),
            "lead_time": _lead_time(data.minutes_before, me.language),
        }, useful_until=data.meeting_start))
    return out


def feedback_requested(data: ev.FeedbackRequested, me: Recipient, other: Recipient) -> list[Outgoing]:
    return [Outgoing(me.participant_id, "feedback_requested", {
        "recipient_name": me.name, "other_name": other.name, "due_local": local_time(data.due_at, me),
    }, useful_until=data.due_at)]


def milestone_achieved(data: ev.MilestoneAchieved, achiever: Recipient, other: Recipient) -> list[Outgoing]:
    return [Outgoing(p.participant_id, "milestone_achieved", {
        "recipient_name": p.name, "achiever_name": achiever.name, "milestone": data.milestone,
    }) for p in (achiever, other)]
