"""Reasons, for people to read: why a mentee was proposed to nobody, and why a pair fits.

A reason is a stable code with parameters (`shared.contracts.types.Reason`): notifications words
each code in its reader's language and tone (its gettext catalogues). The English text beside it
is for logs, tools and the program team's dry runs, never for a participant.

Why nobody: the hard rules are applied one after another (see `candidates.funnel`); the first rule
that leaves no mentor is the reason. Counts of what survived the earlier rules go in the params, so
a coordinator sees how close the mentee came (e.g. "12 share a language and are more senior").

| code                    | params                               |
|-------------------------|--------------------------------------|
| `no_mentors`            | -                                    |
| `no_shared_language`    | -                                    |
| `no_more_senior`        | `sharing_language`                   |
| `only_themselves`       | -                                    |
| `management_chain`      | -                                    |
| `previously_paired`     | -                                    |
| `no_overlap`            | `min_hours`, `compatible`            |
| `no_meeting_window`     | `meeting_minutes`, `compatible`      |
| `mentors_at_capacity`   | `compatible`                         |
| `places_taken_in_round` | -                                    |

Not "nobody": a request for a mentee who needs no new mentor now is answered with one of these,
which nobody reads as "unmatched" (no mail to the mentee, nothing in the team's digest):

| code                    | params                               |
|-------------------------|--------------------------------------|
| `already_matched`       | -                                    |
| `awaiting_answer`       | -                                    |

Why this pair (`pair_reasons`, one per score component of a `match.proposed` explanation):

| component      | code                      | params                                         |
|----------------|---------------------------|------------------------------------------------|
| `goal_fit`     | `goals_covered`           | `covered`, `missing` (goal terms), `total`     |
|                | `no_goals_listed`         | -                                              |
| `availability` | `weekly_overlap`          | `hours` (one decimal), `enough_hours`          |
| `seniority`    | `seniority_gap`           | `levels`, `ideal_min`, `ideal_max`             |
| `perspective`  | `diverse_perspective`     | `asked`, `met`, `other_region`, `other_country`, `other_sector`, `region`, `country`, `sector` |
| `language`     | `same_first_language`     | `language` (ISO 639-1)                         |
|                | `mentor_speaks_first`     | `language`                                     |
|                | `mentee_speaks_first`     | `language`                                     |
|                | `second_language_only`    | `languages`                                    |
"""

from __future__ import annotations

from .results import Unmatched


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def reason(code: str, **params) -> dict:
    """A reason as it travels in an explanation (the shape of `shared.contracts.types.Reason`)."""
    return {"code": code, "params": params}


def taken_in_round(mentee_id: str) -> Unmatched:
    """A mentee with compatible mentors who still has free places, left out of a maximum round."""
    return Unmatched(mentee_id, "every compatible mentor's free places went to other mentees in this round "
                                "(the round matches as many mentees as the rules allow)", "places_taken_in_round")


def reason_for(mentee_id: str, counts: dict[str, int], *, min_overlap_hours: float, meeting_minutes: int) -> Unmatched:
    """The Unmatched record for a mentee, from the funnel counts of the same hard rules used to match.
    `no_meeting_window`: mentors with enough hours a week, all in stretches shorter than a meeting."""
    h = f"{min_overlap_hours:g}"
    c = counts
    if c["mentors"] == 0:
        return Unmatched(mentee_id, "the program has no mentors", "no_mentors")
    if c["shared_language"] == 0:
        return Unmatched(mentee_id, "no mentor shares a language", "no_shared_language")
    if c["more_senior"] == 0:
        return Unmatched(mentee_id, f"no mentor is more senior (of {_plural(c['shared_language'], 'mentor', 'mentors')}"
                                    " sharing a language)", "no_more_senior",
                         {"sharing_language": c["shared_language"]})
    if c["not_themselves"] == 0:
        return Unmatched(mentee_id, "the only more senior mentor sharing a language is themselves", "only_themselves")
    if c["outside_chain"] == 0:
        return Unmatched(mentee_id, "only mentors in their management chain share a language and are more senior",
                         "management_chain")
    if c["not_excluded"] == 0:
        return Unmatched(mentee_id, "every remaining mentor was paired with them before", "previously_paired")
    if c["overlap"] == 0:
        return Unmatched(mentee_id, f"no mentor with ≥ {h} h overlap this week "
                                    f"({_plural(c['not_excluded'], 'mentor shares', 'mentors share')} a language and "
                                    f"{'is' if c['not_excluded'] == 1 else 'are'} more senior)", "no_overlap",
                         {"min_hours": min_overlap_hours, "compatible": c["not_excluded"]})
    if c["meeting_window"] == 0:
        return Unmatched(mentee_id, f"no mentor with a {meeting_minutes}-minute stretch in common this week "
                                    f"({_plural(c['overlap'], 'mentor has', 'mentors have')} ≥ {h} h overlap, "
                                    f"only in shorter stretches)", "no_meeting_window",
                         {"meeting_minutes": meeting_minutes, "compatible": c["overlap"]})
    if c["free_capacity"] == 0:
        return Unmatched(mentee_id, f"every compatible mentor is at capacity "
                                    f"({_plural(c['meeting_window'], 'compatible mentor', 'compatible mentors')})",
                         "mentors_at_capacity", {"compatible": c["meeting_window"]})
    raise ValueError(f"mentee {mentee_id} has compatible mentors with free places; there is no reason to give")


# --- why a pair fits ---


def goal_reason(covered: list[str], missing: list[str]) -> dict:
    if not covered and not missing:
        return reason("no_goals_listed")
    return reason("goals_covered", covered=list(covered), missing=list(missing), total=len(covered) + len(missing))


def overlap_reason(hours: float, enough_hours: float) -> dict:
    return reason("weekly_overlap", hours=round(hours, 1), enough_hours=enough_hours)


def seniority_reason(levels: int, ideal: tuple[int, int]) -> dict:
    return reason("seniority_gap", levels=levels, ideal_min=ideal[0], ideal_max=ideal[1])


def perspective_reason(*, asked: bool, met: bool, other_region: bool, other_country: bool, other_sector: bool,
                       region: str, country: str, sector: str) -> dict:
    """The mentor's region, country and sector against the mentee's; `met` as the objective counts it."""
    return reason("diverse_perspective", asked=asked, met=met, other_region=other_region,
                  other_country=other_country, other_sector=other_sector, region=region, country=country,
                  sector=sector)


def language_reason(mentee_first: str, mentor_first: str, *, mentee_languages: tuple[str, ...],
                    mentor_languages: tuple[str, ...], shared: list[str]) -> dict:
    if mentee_first == mentor_first:
        return reason("same_first_language", language=mentee_first)
    if mentee_first in mentor_languages:
        return reason("mentor_speaks_first", language=mentee_first)
    if mentor_first in mentee_languages:
        return reason("mentee_speaks_first", language=mentor_first)
    return reason("second_language_only", languages=list(shared))
