"""Pieces that go into messages as values: the reasons other services send as codes with parameters,
the sentences of a match explanation, and list items.

Reasons arrive as `Reason{code, params}` (matching's unmatched and pair reasons, scheduling's
cancellations, feedback's health findings); each code is worded here, never taken from the
producer's English. Keys are the codes; parameters keep their producers' names, except where a
number is shown as a length of time or a share (see `domain/reasons.py`).
"""

from __future__ import annotations

from .structure import DIRECT, INDIRECT, Text, msg, nmsg

D, I = DIRECT, INDIRECT

# Someone forgotten on request, where a message to their partner would name them (their name is gone).
FORMER_PARTICIPANT: dict[str, Text] = {D: msg("any", "a former participant")}

# Why a meeting was cancelled (scheduling's codes; `cancelled_by_participant` is told as "you" or
# the partner's name, never an id).
CANCELLATION: dict[str, dict[str, Text]] = {
    "relationship_ended": {
        D: msg("direct", "Your mentoring relationship has ended."),
        I: msg("indirect", "This is because your mentoring relationship has come to an end."),
    },
    "relationship_term_completed": {
        D: msg("direct", "Your mentoring has reached the end of its planned term."),
        I: msg("indirect", "Your mentoring has reached the end of its planned term, so no further meetings are "
                           "planned."),
    },
    "cancelled_by_you": {D: msg("direct", "You cancelled it."), I: msg("indirect", "It was cancelled at your request.")},
    "cancelled_by_partner": {D: msg("direct", "{name} cancelled it."),
                             I: msg("indirect", "{name} was unfortunately unable to make it.")},
    "cancelled_by_program_team": {D: msg("direct", "The program team cancelled it."),
                                  I: msg("indirect", "The program team had to cancel it.")},
}

# Why a mentee was proposed to nobody (matching's codes), for the program team.
UNMATCHED: dict[str, Text] = {
    "no_mentors": msg("direct", "the program has no mentors yet"),
    "no_shared_language": msg("direct", "no mentor shares a language with them"),
    "no_more_senior": nmsg("direct", "no mentor is more senior than them (of the one mentor who shares a language)",
                           "no mentor is more senior than them (of the {sharing_language} mentors who share a "
                           "language)").counting("sharing_language"),
    "only_themselves": msg("direct", "the only suitable mentor is themselves"),
    "management_chain": msg("direct", "the only suitable mentors are in their own management chain"),
    "previously_paired": msg("direct", "every suitable mentor has been paired with them before"),
    "no_overlap": nmsg("direct", "no mentor has {min_hours} a week in common with them (one mentor would otherwise suit)",
                       "no mentor has {min_hours} a week in common with them ({compatible} mentors would otherwise "
                       "suit)").counting("compatible"),
    "no_meeting_window": nmsg("direct", "no mentor has {meeting_minutes} at a stretch in common with them, only shorter "
                              "stretches (one mentor would otherwise suit)",
                              "no mentor has {meeting_minutes} at a stretch in common with them, only shorter "
                              "stretches ({compatible} mentors would otherwise suit)").counting("compatible"),
    "mentors_at_capacity": nmsg("direct", "the one suitable mentor has no free place",
                                "all {compatible} suitable mentors are at capacity").counting("compatible"),
    "at_capacity": msg("direct", "every suitable mentor is at capacity"),
    "places_taken_in_round": msg("direct", "the suitable mentors' free places went to other mentees in this round"),
}

# Why no mentor fits right now, told to the mentee themselves (matching's codes): only where it
# helps them, saying what they could change (languages, available times) or that places free up.
# Codes not here (e.g. `no_more_senior`, `management_chain`, `previously_paired`) are not told.
UNMATCHED_FOR_MENTEE: dict[str, dict[str, Text]] = {
    "no_mentors": {
        D: msg("direct", "The program has no mentors yet: they are still joining."),
        I: msg("indirect", "Mentors are still joining the program, so there is not yet anyone we can propose."),
    },
    "no_shared_language": {
        D: msg("direct", "None of the mentors so far speaks one of your languages. If you speak other languages, "
                         "tell the program team: that gives us more mentors to choose from."),
        I: msg("indirect", "So far, none of our mentors speaks one of your languages. If there are other languages "
                           "you are comfortable in, the program team would be glad to know, as it may open up "
                           "more possibilities."),
    },
    "no_overlap": {
        D: msg("direct", "The mentors who would suit you have too little time in common with you each week. If you "
                         "can offer more available times, that gives us more mentors to choose from."),
        I: msg("indirect", "The mentors who would suit you have little time in common with you each week. If you "
                           "are able to offer more available times, that may open up more possibilities."),
    },
    "no_meeting_window": {
        D: msg("direct", "The mentors who would suit you share only short stretches of time with you, too short "
                         "for a meeting. If you can offer longer blocks of time, that gives us more mentors to "
                         "choose from."),
        I: msg("indirect", "The times you share with the mentors who would suit you are rather short for a meeting. "
                           "If you are able to offer longer blocks of time, that may open up more possibilities."),
    },
    "mentors_at_capacity": {
        D: msg("direct", "The mentors who would suit you are all mentoring as many people as they can right now. "
                         "Places free up as other mentoring relationships end."),
        I: msg("indirect", "The mentors who would suit you are currently mentoring as many people as they are able "
                           "to. Places become free again as other mentoring relationships come to an end."),
    },
    "places_taken_in_round": {
        D: msg("direct", "In this matching round, the places of the mentors who would suit you went to other "
                         "mentees. New places come up as the program goes on."),
        I: msg("indirect", "In this matching round, the mentors who would suit you had no places left. New places "
                           "will become available as the program goes on."),
    },
}
UNMATCHED_FOR_MENTEE["at_capacity"] = UNMATCHED_FOR_MENTEE["mentors_at_capacity"]

# How a relationship is doing (feedback's health codes), for the program team.
HEALTH: dict[str, Text] = {
    "ratings_low": msg("direct", "recent ratings are low: {average} out of 5 on average"),
    "little_progress": msg("direct", "they report little progress towards their goals"),
    "meetings_missed": nmsg("direct", "the one meeting that was due did not take place",
                            "{missed} of the {held} meetings that were due did not take place").counting("held"),
    "meetings_missed_in_a_row": nmsg("direct", "the last meeting did not take place",
                                     "the last {count} meetings in a row did not take place"),
    "requests_unanswered": nmsg("direct", "one feedback request is unanswered", "{count} feedback requests are unanswered"),
    "checkins_unanswered": nmsg("direct", "one check-in went unanswered", "{count} check-ins went unanswered"),
    "goals_stalled": msg("direct", "goal progress is at {progress} on average, with {term_elapsed} of the term gone"),
    "going_well": msg("direct", "meetings happen and the feedback is positive"),
    # `not_a_good_fit` by whom (its `by` parameter): reasons.health picks the entry.
    "not_a_good_fit.mentee": msg("direct", "the mentee says it is not a good fit"),
    "not_a_good_fit.mentor": msg("direct", "the mentor says it is not a good fit"),
    "not_a_good_fit.both": msg("direct", "both say it is not a good fit"),
}

# Why a mentor fits a mentee: one sentence on the goals, one on time (and perspective), as a person
# would say it. `count` is a number of goals or of hours.
EXPLANATION: dict[str, dict[str, Text]] = {
    "one_goal": {D: msg("direct", "You have experience in {goal}, the goal {mentee_name} has set."),
                 I: msg("indirect", "Your experience in {goal} matches the goal {mentee_name} has set.")},
    "both_goals": {D: msg("direct", "You have worked on both of {mentee_name}'s goals."),
                   I: msg("indirect", "Your experience covers both of the goals {mentee_name} has set.")},
    "all_goals": {D: nmsg("direct", "You have worked on the goal {mentee_name} has set.",
                          "You have worked on all {count} goals {mentee_name} has set."),
                  I: nmsg("indirect", "Your experience covers the goal {mentee_name} has set.",
                          "Your experience covers all {count} goals {mentee_name} has set.")},
    "some_goals": {D: nmsg("direct", "You have experience in {goals}, one of the {total} goals {mentee_name} has set.",
                           "You have experience in {goals}, {count} of the {total} goals {mentee_name} has set."),
                   I: nmsg("indirect", "Your experience in {goals} matches one of the {total} goals {mentee_name} has set.",
                           "Your experience in {goals} matches {count} of the {total} goals {mentee_name} has "
                           "set.")},
    "overlap": {D: nmsg("direct", "Your calendars overlap by about an hour each week.",
                        "Your calendars overlap by about {count} hours each week."),
                I: nmsg("indirect", "Your available times overlap by about an hour each week.",
                        "Your available times overlap by about {count} hours each week.")},
    "overlap_and_perspective": {
        D: nmsg("direct", "Your calendars overlap by about an hour each week, and you bring the different perspective "
                   "{mentee_name} asked for.",
                "Your calendars overlap by about {count} hours each week, and you bring the different perspective "
                "{mentee_name} asked for."),
        I: nmsg("indirect", "Your available times overlap by about an hour each week, and you could offer the different "
                   "perspective {mentee_name} was hoping for.",
                "Your available times overlap by about {count} hours each week, and you could offer the different "
                "perspective {mentee_name} was hoping for.")},
    "good_fit": {D: msg("direct", "We think you are a good fit for {mentee_name}."),
                 I: msg("indirect", "We believe you could be a wonderful fit for {mentee_name}.")},
}

# List items.
GOAL_ACHIEVED_ITEM = msg("any", "{goal}: achieved")
GOAL_PROGRESS_ITEM = msg("any", "{goal}: {progress} of the way")
GOAL_NOT_STARTED_ITEM = msg("any", "{goal}: not started yet")
UNMATCHED_ITEM = msg("any", "{name}: {reason}")
PAIR_ITEM = msg("any", "{mentor_name} & {mentee_name}")

# How often a pair meets, as a whole phrase ("every week", "every 2 weeks"), in weeks when the days
# make whole weeks. Once per unit is its own text: languages without plural forms (ja, zh) write it
# without a number ("毎週"), and none says "every 1 week".
RECURRENCE: dict[str, dict[int | None, Text]] = {
    "week": {1: msg("any", "every week"),
             # i18n: {count} is 2 or more; only languages whose singular form covers such numbers use it.
             None: nmsg("any", "every {count} week", "every {count} weeks")},
    "day": {1: msg("any", "every day"),
            # i18n: {count} is 2 or more; only languages whose singular form covers such numbers use it.
            None: nmsg("any", "every {count} day", "every {count} days")},
}
