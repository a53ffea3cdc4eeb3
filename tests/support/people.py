"""Profiles for tests, in the onboarding contract."""

from __future__ import annotations

from shared.contracts import events as ev


def person(pid: str, *, roles=("mentee",), tz="Europe/Amsterdam", start="09:00", end="17:00",
           days=("mon", "tue", "wed", "thu", "fri"), languages=("en",), seniority=3, capacity=0, skills=(),
           goals=(), locale="en-GB", manager_id=None, program_id="prog-1", country="NL", region="EMEA",
           sector="engineering", style="direct", quiet=None, channel="email", webhook_url=None, **extra) -> dict:
    return {
        "participant_id": pid, "program_id": program_id, "roles": list(roles), "name": pid.replace("-", " ").title(),
        "email": f"{pid}@example.com", "locale": locale, "languages": list(languages), "timezone": tz,
        "country": country, "region": region, "sector": sector, "manager_id": manager_id, "seniority": seniority,
        "skills": list(skills), "goals": list(goals), "mentor_capacity": capacity,
        "availability": [{"days": list(days), "start": start, "end": end}],
        "communication": {"channel": channel, "style": style, "webhook_url": webhook_url,
                          **({"quiet_hours": {"start": quiet[0], "end": quiet[1]}} if quiet else {})},
        **extra,
    }


def onboarded(**kwargs) -> ev.ParticipantOnboarded:
    return ev.ParticipantOnboarded.model_validate(person(**kwargs))
