"""Independent reference for the matching tests: profile builders and the hard rules, written from
the issue text and `shared.availability` only (no code from services.matching.domain)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from shared.availability import longest_common_window, weekly_overlap_hours
from shared.contracts.profile import ParticipantProfile
from shared.people import Participant

WORKWEEK = ({"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},)


def person(pid: str, *, roles=("mentee",), languages=("en",), locale="en", timezone="UTC", seniority=3,
           capacity=0, manager=None, skills=(), goals=(), region="EMEA", country="NL", sector="engineering",
           diverse=False, windows=WORKWEEK) -> Participant:
    return Participant.from_profile(ParticipantProfile.model_validate({
        "participant_id": pid, "program_id": "p", "roles": list(roles), "name": pid.title(),
        "email": f"{pid}@example.com", "locale": locale, "languages": list(languages), "timezone": timezone,
        "country": country, "region": region, "sector": sector, "manager_id": manager, "seniority": seniority,
        "skills": list(skills), "goals": list(goals), "mentor_capacity": capacity,
        "preferences": {"diverse_perspective": diverse}, "availability": list(windows),
    }))


def mentor(pid: str, **kw) -> Participant:
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


def broken_rules(mentee: Participant, mentor: Participant, *, at: datetime, min_hours: float,
                 managers: Mapping[str, str | None], free: int, excluded=frozenset(), meeting_minutes: int = 45,
                 slot_minutes: int = 15) -> list[str]:
    """Every hard rule the pair breaks, each checked on its own. "meeting window": no stretch of
    common time that week holds a whole `meeting_minutes` meeting starting on a `slot_minutes` step."""
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
    longest = longest_common_window(mentee.timezone, mentee.availability, mentor.timezone, mentor.availability, at,
                                    step=slot_minutes * 60)
    if longest < meeting_minutes * 60:
        broken.append("meeting window")
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


def goal_units(mentee: Participant, coach: Participant, q: int) -> int:
    """Goal fit in whole units of 1/q (q a multiple of the mentee's goal count)."""
    if not mentee.goals:
        return 0
    return len(set(mentee.goals) & set(coach.skills)) * (q // len(mentee.goals))


def diverse_met(mentee: Participant, coach: Participant) -> bool:
    """The issue's words: a mentor from another region or sector, for a mentee who asked for one."""
    return mentee.diverse_perspective and (coach.region != mentee.region or coach.sector != mentee.sector)


def wish_kept(mentee: Participant, coach: Participant) -> bool:
    """Nobody is left without the diverse perspective they asked for: they did not ask, or got it.
    (Maximising this over a fixed number of pairs = fewest matched mentees who asked and missed out.)"""
    return not mentee.diverse_perspective or diverse_met(mentee, coach)


def lexicographic_optimum(arcs: Sequence[tuple[str, str]], free: Mapping[str, int], levels: Sequence[Sequence[int]],
                          place_cost: Callable[[str, int], int] | None = None) -> tuple[int, list[int], set]:
    """The most pairs, then the largest total of each level in turn, over the given (mentee, mentor) arcs.

    `levels`: per level (highest first) a non-negative integer per arc. `place_cost(mentor, k)`, if
    given, is subtracted in the lowest level when a mentor takes its k-th pair (k from 0).
    One OR-Tools min-cost flow on the complete graph; each level's weight exceeds everything the
    levels below can total, computed here with Python integers. Returns (pairs, level totals (the
    lowest net of place costs), arcs used).
    """
    import numpy as np
    from ortools.graph.python import max_flow, min_cost_flow

    mentees = sorted({e for e, _ in arcs})
    mentors = sorted(free)
    ei = {e: 1 + k for k, e in enumerate(mentees)}
    mi = {m: 1 + len(mentees) + k for k, m in enumerate(mentors)}
    sink = 1 + len(mentees) + len(mentors)
    n = len(mentees)
    places = [(m, k) for m in mentors for k in range(max(0, free[m]))]
    costs_of_places = [place_cost(m, k) if place_cost else 0 for m, k in places]
    weights, below = [1], n * (max(levels[-1], default=0) + max(costs_of_places, default=0))  # the lowest level
    for values in reversed(levels[:-1]):
        weights.append(below + 1)
        below += (below + 1) * n * max(values, default=0)
    weights.reverse()
    pair_cost = [-sum(w * values[a] for w, values in zip(weights, levels)) for a in range(len(arcs))]
    tails = [0] * n + [ei[e] for e, _ in arcs] + [mi[m] for m, _ in places]
    heads = [ei[e] for e in mentees] + [mi[m] for _, m in arcs] + [sink] * len(places)
    costs = [0] * n + pair_cost + costs_of_places
    size = max_flow.SimpleMaxFlow()
    size.add_arcs_with_capacity(np.array(tails), np.array(heads), np.ones(len(tails), dtype=np.int64))
    size.solve(0, sink)
    pairs = size.optimal_flow()
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(np.array(tails), np.array(heads), np.ones(len(tails), dtype=np.int64),
                                              np.array(costs, dtype=np.int64))
    flow.set_nodes_supplies(np.array([0, sink]), np.array([pairs, -pairs]))
    assert flow.solve() == flow.OPTIMAL
    used = {arcs[a] for a in range(len(arcs)) if flow.flow(n + a) > 0}
    totals = [sum(values[a] for a in range(len(arcs)) if arcs[a] in used) for values in levels]
    if place_cost:  # the lowest level is net of the places taken
        for m in mentors:
            totals[-1] -= sum(place_cost(m, k) for k in range(sum(1 for _, x in used if x == m)))
    return pairs, totals, used
