"""Plain-words reasons for a mentee nobody was proposed to.

The hard rules are applied one after another (see `candidates.funnel`); the first rule that
leaves no mentor is the reason. Counts of what survived the earlier rules go in the text, so a
coordinator sees how close the mentee came (e.g. "12 share a language and are more senior").
"""

from __future__ import annotations

from .results import Unmatched


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def taken_in_round(mentee_id: str) -> Unmatched:
    """A mentee with compatible mentors who still has free places, left out of a maximum round."""
    return Unmatched(mentee_id, "every compatible mentor's free places went to other mentees in this round "
                                "(the round matches as many mentees as the rules allow)", "places_taken_in_round")


def reason_for(mentee_id: str, counts: dict[str, int], *, min_overlap_hours: float) -> Unmatched:
    """The Unmatched record for a mentee, from the funnel counts of the same hard rules used to match."""
    h = f"{min_overlap_hours:g}"
    c = counts
    if c["mentors"] == 0:
        return Unmatched(mentee_id, "the program has no mentors", "no_mentors")
    if c["shared_language"] == 0:
        return Unmatched(mentee_id, "no mentor shares a language", "no_shared_language")
    if c["more_senior"] == 0:
        return Unmatched(mentee_id, f"no mentor is more senior (of {_plural(c['shared_language'], 'mentor', 'mentors')}"
                                    " sharing a language)", "no_more_senior")
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
                                    f"{'is' if c['not_excluded'] == 1 else 'are'} more senior)", "no_overlap")
    if c["free_capacity"] == 0:
        return Unmatched(mentee_id, f"every compatible mentor is at capacity "
                                    f"({_plural(c['overlap'], 'compatible mentor', 'compatible mentors')})",
                         "mentors_at_capacity")
    raise ValueError(f"mentee {mentee_id} has compatible mentors with free places; there is no reason to give")
