"""Synthetic but plausible program populations, deterministic from a seed.

Used by the demo, the benchmarks and tests. Profiles follow the onboarding contract exactly, so the
same data can be written to JSONL for the offline tools or published on `participants.v1`.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator

from shared.contracts.profile import ParticipantProfile
from shared.people import Participant

# (IANA zone, country, region, locale, languages)
PLACES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Europe/Amsterdam", "NL", "EMEA", "nl-NL", ("nl", "en")),
    ("Europe/Berlin", "DE", "EMEA", "de-DE", ("de", "en")),
    ("Europe/London", "GB", "EMEA", "en-GB", ("en",)),
    ("Africa/Casablanca", "MA", "EMEA", "fr-MA", ("fr", "ar", "en")),
    ("Africa/Lagos", "NG", "EMEA", "en-NG", ("en",)),
    ("America/Sao_Paulo", "BR", "LATAM", "pt-BR", ("pt", "en")),
    ("America/Mexico_City", "MX", "LATAM", "es-MX", ("es", "en")),
    ("America/Bogota", "CO", "LATAM", "es-CO", ("es",)),
    ("America/New_York", "US", "NA", "en-US", ("en",)),
    ("America/Chicago", "US", "NA", "en-US", ("en", "es")),
    ("America/St_Johns", "CA", "NA", "en-CA", ("en", "fr")),
    ("Asia/Kolkata", "IN", "APAC", "en-IN", ("en", "hi")),
    ("Asia/Kathmandu", "NP", "APAC", "en-NP", ("en", "ne")),
    ("Asia/Singapore", "SG", "APAC", "en-SG", ("en", "zh")),
    ("Asia/Tokyo", "JP", "APAC", "ja-JP", ("ja", "en")),
    ("Australia/Sydney", "AU", "APAC", "en-AU", ("en",)),
    ("Australia/Lord_Howe", "AU", "APAC", "en-AU", ("en",)),
    ("Pacific/Auckland", "NZ", "APAC", "en-NZ", ("en",)),
    ("Pacific/Chatham", "NZ", "APAC", "en-NZ", ("en",)),
)

SECTORS = ("marketing", "engineering", "finance", "operations", "sales", "people", "legal", "product")
SKILLS = (
    "analytics", "public speaking", "negotiation", "asia market entry", "project management",
    "leadership", "product strategy", "cloud architecture", "data science", "budgeting",
    "stakeholder management", "hiring", "coaching", "sales strategy", "compliance",
    "cross-cultural communication", "design thinking", "career growth", "mergers", "security",
)
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
FIRST = ("Ana", "Bram", "Chen", "Divya", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas", "Kemal",
         "Lerato", "Mateo", "Noor", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Yuki")
LAST = ("Souza", "de Vries", "Wang", "Iyer", "Okafor", "El Amrani", "Rossi", "Tanaka", "Garcia", "Berg",
        "Yilmaz", "Dlamini", "Lopez", "Haddad", "Nilsson", "Sharma", "Murphy", "Silva", "Larsen", "Aziz")


def _availability(rng: random.Random) -> list[dict]:
    start_hour = rng.choice((7, 8, 8, 9, 9, 9, 10, 12))
    start_min = rng.choice((0, 0, 0, 30))
    length = rng.choice((6, 8, 8, 8, 9))
    end_total = (start_hour * 60 + start_min + length * 60) % 1440
    windows = [{
        "days": list(WORKDAYS if rng.random() < 0.85 else rng.sample(WORKDAYS, 3)),
        "start": f"{start_hour:02d}:{start_min:02d}",
        "end": f"{end_total // 60:02d}:{end_total % 60:02d}",
    }]
    if rng.random() < 0.25:  # some people also offer an evening slot
        windows.append({"days": [rng.choice(WORKDAYS)], "start": "19:00", "end": "21:00"})
    return windows


def profile_dicts(mentees: int, mentors: int, *, seed: int = 7, program_id: str = "global-2027",
                  places: tuple = PLACES) -> Iterator[dict]:
    """Yield mentor profiles first (ids m-…), then mentees (ids e-…), as onboarding-contract dicts.

    Mentees report to mentors now and then (manager_id), so management-chain rules get exercised.
    """
    rng = random.Random(seed)
    mentor_ids = [f"m-{i:06d}" for i in range(mentors)]
    for i, pid in enumerate(mentor_ids):
        yield _person(rng, pid, program_id, places, mentor=True,
                      manager_id=rng.choice(mentor_ids[:i]) if i and rng.random() < 0.3 else None)
    for i in range(mentees):
        manager = rng.choice(mentor_ids) if mentor_ids and rng.random() < 0.2 else None
        yield _person(rng, f"e-{i:06d}", program_id, places, mentor=False, manager_id=manager)


def _person(rng: random.Random, pid: str, program_id: str, places: tuple, *, mentor: bool, manager_id: str | None) -> dict:
    zone, country, region, locale, languages = rng.choice(places)
    if rng.random() < 0.1:  # a few speak an extra language
        languages = tuple(dict.fromkeys(languages + (rng.choice(("en", "es", "fr", "de")),)))
    first, last = rng.choice(FIRST), rng.choice(LAST)
    seniority = rng.randint(5, 10) if mentor else rng.randint(1, 6)
    skills = rng.sample(SKILLS, rng.randint(3, 6)) if mentor else rng.sample(SKILLS, rng.randint(0, 2))
    goals = [] if mentor else rng.sample(SKILLS, rng.randint(1, 3))
    return {
        "participant_id": pid,
        "program_id": program_id,
        "roles": ["mentor"] if mentor else ["mentee"],
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{pid}".lower().replace(" ", "") + "@example.com",
        "locale": locale,
        "languages": list(languages),
        "timezone": zone,
        "country": country,
        "region": region,
        "sector": rng.choice(SECTORS),
        "department": rng.choice(("growth", "platform", "core", "field", "hq")),
        "manager_id": manager_id,
        "seniority": seniority,
        "skills": skills,
        "goals": goals,
        "mentor_capacity": rng.randint(1, 4) if mentor else 0,
        "preferences": {"diverse_perspective": rng.random() < 0.35},
        "availability": _availability(rng),
        "communication": {
            "channel": "email",
            "style": "indirect" if region == "APAC" or rng.random() < 0.3 else "direct",
            "quiet_hours": {"start": "21:00", "end": "07:30"},
        },
    }


def profiles(mentees: int, mentors: int, *, seed: int = 7, program_id: str = "global-2027") -> list[ParticipantProfile]:
    return [ParticipantProfile.model_validate(d) for d in profile_dicts(mentees, mentors, seed=seed, program_id=program_id)]


def participants(mentees: int, mentors: int, *, seed: int = 7, program_id: str = "global-2027") -> list[Participant]:
    """The same people as the services' domain code sees them."""
    return [Participant.from_profile(p) for p in profiles(mentees, mentors, seed=seed, program_id=program_id)]


def pair_dicts(pairs: int, *, seed: int = 7, program_id: str = "global-2027",
               same_region: float = 0.7) -> list[dict]:
    """`pairs` plan-meetings input lines: mentors take 1-4 mentees each (their mentor_capacity).

    Most mentees get a mentor from their own region (as a matching engine would prefer); the rest
    are paired across regions, so some pairs have little or no common time, as in real programs.
    """
    rng = random.Random(seed + 1)
    mentors = max(1, pairs // 2)  # capacity averages 2.5, so this leaves spare seats
    people = list(profile_dicts(pairs, mentors, seed=seed, program_id=program_id))
    mentor_rows, mentee_rows = people[:mentors], people[mentors:]
    seats = {m["participant_id"]: m["mentor_capacity"] for m in mentor_rows}
    everyone = list(mentor_rows)
    by_region: dict[str, list[dict]] = {}
    for m in mentor_rows:
        by_region.setdefault(m["region"], []).append(m)

    def take(pool: list[dict]) -> dict | None:
        while pool:  # full mentors are dropped lazily (swap with the last, then pop)
            k = rng.randrange(len(pool))
            if seats[pool[k]["participant_id"]] > 0:
                return pool[k]
            pool[k] = pool[-1]
            pool.pop()
        return None

    rows = []
    for i, mentee in enumerate(mentee_rows):
        local = by_region.get(mentee["region"], []) if rng.random() < same_region else []
        mentor = take(local) or take(everyone) or rng.choice(mentor_rows)
        seats[mentor["participant_id"]] -= 1
        rows.append({"relationship_id": f"r-{i:06d}", "mentor": mentor, "mentee": mentee})
    return rows


# --- populations with many skills, for goal-fit matching ---

# Skills are "topic" or "topic: area" phrases; each has a home sector (the sector whose people
# mostly hold or want it), so goal fit and a mentor from another sector can pull apart.
SKILL_TOPICS = SKILLS + (
    "storytelling", "pricing", "vendor management", "incident response", "roadmapping", "okrs",
    "change management", "accessibility", "forecasting", "procurement", "brand strategy", "ux research",
    "machine learning ops", "tax planning", "labour law", "contract drafting", "supply chain", "partnerships",
    "growth marketing", "customer success",
)
SKILL_AREAS = ("", "emea", "apac", "latam", "startups", "enterprise", "public sector", "regulated markets",
               "remote teams", "scale-ups")


def skill_catalogue(size: int) -> tuple[str, ...]:
    """`size` distinct skill names: the plain topics first, then "topic: area" variants."""
    names = [f"{topic}: {area}" if area else topic for area in SKILL_AREAS for topic in SKILL_TOPICS]
    if size > len(names):
        names += [f"niche skill {k}" for k in range(size - len(names))]
    return tuple(names[:size])


def skilled_profile_dicts(mentees: int, mentors: int, *, seed: int = 7, program_id: str = "global-2027",
                          skills: int = 120, offered: tuple[int, int] = (2, 5), wanted: tuple[int, int] = (1, 3),
                          supply_skew: float = 0.8, demand_skew: float = 0.8, sector_bound: float = 0.0,
                          region_weights: tuple[float, ...] | None = None) -> Iterator[dict]:
    """Like `profile_dicts`, but with a catalogue of `skills` skills of unequal popularity.

    Mentors offer `offered` skills and mentees want `wanted` goals (inclusive ranges). Popularity
    is Zipf-like (`*_skew`): supply and demand follow two different random orders of the catalogue,
    so some popular goals are rare skills. With probability `sector_bound` a skill is drawn from the
    person's own sector's skills instead. `region_weights` (one per region of PLACES, in order of
    first appearance) concentrates mentors in some regions.
    """
    rng = random.Random(seed * 7919 + skills)
    catalogue = skill_catalogue(skills)
    home = {name: SECTORS[k % len(SECTORS)] for k, name in enumerate(catalogue)}
    supply, demand = _zipf_order(rng, catalogue, supply_skew), _zipf_order(rng, catalogue, demand_skew)
    by_sector = {sector: [s for s in catalogue if home[s] == sector] for sector in SECTORS}
    regions = list(dict.fromkeys(p[2] for p in PLACES))
    mentor_places = PLACES
    if region_weights is not None:
        weight = dict(zip(regions, region_weights))
        mentor_places = tuple(p for p in PLACES for _ in range(max(0, round(4 * weight.get(p[2], 1.0)))))
    for d in profile_dicts(mentees, mentors, seed=seed, program_id=program_id):
        is_mentor = d["roles"] == ["mentor"]
        if is_mentor and mentor_places is not PLACES:
            zone, country, region, locale, languages = rng.choice(mentor_places)
            d.update(timezone=zone, country=country, region=region, locale=locale,
                     languages=list(dict.fromkeys((*languages, *[x for x in d["languages"] if x == "en"]))))
        low, high = offered if is_mentor else wanted
        popular = supply if is_mentor else demand
        chosen: dict[str, None] = {}
        for _ in range(rng.randint(low, high)):
            for _attempt in range(8):  # redraw a duplicate a few times
                own = by_sector[d["sector"]]
                term = rng.choice(own) if own and rng.random() < sector_bound else popular(rng)
                if term not in chosen:
                    chosen[term] = None
                    break
        d["skills"], d["goals"] = (list(chosen), []) if is_mentor else ([], list(chosen))
        yield d


def _zipf_order(rng: random.Random, catalogue: tuple[str, ...], skew: float):
    """A sampler over the catalogue in a random order of popularity: weight of rank r is 1 / r**skew."""
    order = list(catalogue)
    rng.shuffle(order)
    cumulative, total = [], 0.0
    for rank in range(1, len(order) + 1):
        total += 1 / rank**skew
        cumulative.append(total)

    def draw(r: random.Random) -> str:
        return order[min(bisect.bisect_left(cumulative, r.random() * total), len(order) - 1)]

    return draw


# The generators the matching benchmark and tests compare the engine on.
POPULATIONS = {
    # 20 skills, mentors offer 3-6: goals are easy to cover.
    "default": {},
    # The "realistic" programs: 120 skills, mentors offer 2-5, mentees want 1-3.
    "many-skills": {"skills": 120, "offered": (2, 5), "wanted": (1, 3)},
    # Harder: 400 skills spread thin (mentors offer 1-3), demand skewed towards skills few offer,
    # skills tied to sectors and mentors concentrated in EMEA and NA, so goal fit, a diverse
    # perspective and the overlap rule pull against each other.
    "thin": {"skills": 400, "offered": (1, 3), "wanted": (1, 3), "supply_skew": 0.6, "demand_skew": 1.1,
             "sector_bound": 0.5, "region_weights": (1.6, 0.5, 1.4, 0.6)},
}


def population_dicts(kind: str, mentees: int, mentors: int, *, seed: int = 7,
                     program_id: str = "global-2027") -> Iterator[dict]:
    """Profiles from one of POPULATIONS by name (mentors first, then mentees)."""
    if kind not in POPULATIONS:
        raise ValueError(f"unknown population {kind!r}; choose from {', '.join(POPULATIONS)}")
    if kind == "default":
        return profile_dicts(mentees, mentors, seed=seed, program_id=program_id)
    return skilled_profile_dicts(mentees, mentors, seed=seed, program_id=program_id, **POPULATIONS[kind])


def population(kind: str, mentees: int, mentors: int, *, seed: int = 7,
               program_id: str = "global-2027") -> list[Participant]:
    """The same people as `population_dicts`, as the services' domain code sees them."""
    return [Participant.from_profile(ParticipantProfile.model_validate(d))
            for d in population_dicts(kind, mentees, mentors, seed=seed, program_id=program_id)]
