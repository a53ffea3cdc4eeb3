"""Synthetic but plausible program populations, deterministic from a seed.

Used by the demo, the benchmarks and tests. Profiles follow the onboarding contract exactly, so the
same data can be written to JSONL for the offline tools or published on `participants.v1`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from shared.contracts.profile import ParticipantProfile

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
