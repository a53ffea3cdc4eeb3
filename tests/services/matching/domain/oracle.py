"""Independent reference for the matching tests: profile builders and the hard rules, written from
the issue text and `shared.availability` only (no code from services.matching.domain)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from shared.availability import weekly_overlap_hours
from shared.contracts.profile import ParticipantProfile

WORKWEEK = ({"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},)


def person(pid: str, *, roles=("mentee",), languages=("en",), locale="en", timezone="UTC", seniority=3,
           capacity=0, manager=None, skills=(), goals=(), region="EMEA", country="NL", sector="engineering",
           diverse=False, windows=WORKWEEK) -> ParticipantProfile:
    return ParticipantProfile.model_validate({
        "participant_id": pid, "program_id": "p", "roles": list(roles), "name": pid.title(),
        "email": f"{pid}@example.com", "locale": locale, "languages": list(languages), "timezone": timezone,
        "country": country, "region": region, "sector": sector, "manager_id": manager, "seniority": seniority,
        "skills": list(skills), "goals": list(goals), "mentor_capacity": capacity,
        "preferences": {"diverse_perspective": diverse}, "availability": list(windows),
    })


def mentor(pid: str, **kw) -> ParticipantProfile:
    kw.setdefault("seniority", 7)
    kw.setdefault("capacity", 2)
    return person(pid, roles=kw.pop("roles", ("mentor",)), **kw)


def chain_of(pid: str, managers: Mapping[str, str | None]) -> list[str]:
    """Everyone above pid, following manager links until they run out or loop."""
    above, seen, current = [], {pid}, managers.get(pid)
    while current is not None and current not in seen:
        above.append(current)
        seen.add(current)
        current = managers.get(current)
    return above


def broken_rules(mentee: ParticipantProfile, mentor: ParticipantProfile, *, at: datetime, min_hours: float,
                 managers: Mapping[str, str | None], free: int, excluded=frozenset()) -> list[str]:
    """Every hard rule the pair breaks, each checked on its own."""
    broken = []
    if "mentor" not in mentor.roles:
        broken.append("mentor role")
    if free <= 0:
        broken.append("capacity")
    if mentee.participant_id == mentor.participant_id:
        broken.append("same person")
    if not set(mentee.languages) & set(mentor.languages):
        broken.append("language")
    if not mentor.seniority > mentee.seniority:
        broken.append("seniority")
    if mentor.participant_id in chain_of(mentee.participant_id, managers) or \
            mentee.participant_id in chain_of(mentor.participant_id, managers):
        broken.append("management chain")
    if weekly_overlap_hours(mentee.timezone, mentee.availability, mentor.timezone, mentor.availability, at) < min_hours:
        broken.append("overlap")
    if (mentee.participant_id, mentor.participant_id) in excluded:
        broken.append("ended before")
    return broken


def maximum_pairs(mentees: Sequence[str], mentors: Sequence[str], free: Mapping[str, int],
                  allowed: Callable[[str, str], bool]) -> int:
    """Maximum number of pairs (mentor m takes at most free[m]) by plain augmenting paths (Kuhn)."""
    slots = [m for m in mentors for _ in range(max(0, free[m]))]
    options = {e: [s for s, m in enumerate(slots) if allowed(e, m)] for e in mentees}
    holder: dict[int, str] = {}

    def augment(e: str, visited: set[int]) -> bool:
        for s in options[e]:
            if s in visited:
                continue
            visited.add(s)
            if s not in holder or augment(holder[s], visited):
                holder[s] = e
                return True
        return False

    return sum(augment(e, set()) for e in mentees)
