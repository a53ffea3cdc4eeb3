"""What the program team's contacts read: the alert for a relationship at risk and the daily digest.

Contacts have no tone setting, so these come in the direct tone only: short, plain, and with a link
to the dashboard where the details are.
"""

from __future__ import annotations

from .structure import DIRECT as D
from .structure import TEAM, Bullets, Para, Template, Variant, msg, nmsg

OPS_RELATIONSHIP_AT_RISK = Template("ops_relationship_at_risk", {D: Variant(
    msg("direct", "At risk: {mentor_name} & {mentee_name} ({program_name})"), (
        Para(msg("direct", "The mentoring relationship of {mentor_name} (mentor) and {mentee_name} (mentee) in "
                    "{program_name} is now at risk, with a health score of {score} out of 100.")),
        Bullets("reasons", msg("direct", "Why:")),
        Para(msg("direct", "Open it on the dashboard: {dashboard_link}")),
    ))}, audience=TEAM)

OPS_DAILY_DIGEST = Template("ops_daily_digest", {D: Variant(
    nmsg("direct", "{program_name}, {date}: one thing to look at", "{program_name}, {date}: {count} things to look at"), (
        Para(msg("direct", "Here is what needs attention in {program_name} since the last digest.")),
        Bullets("goals_achieved", nmsg("direct", "A goal reached, worth celebrating:",
                                       "{goal_achieved_count} goals reached, worth celebrating:"
                                       ).counting("goal_achieved_count")),
        Bullets("unmatched", nmsg("direct", "A mentee nobody could be proposed to:",
                                  "{unmatched_count} mentees nobody could be proposed to:").counting("unmatched_count")),
        Bullets("unschedulable", nmsg("direct", "A pair with no common time to meet:",
                                      "{unschedulable_count} pairs with no common time to meet:"
                                      ).counting("unschedulable_count")),
        Bullets("dead_letters", nmsg("direct", "A message the system could not process:",
                                     "{dead_letter_count} messages the system could not process:"
                                     ).counting("dead_letter_count")),
        Para(msg("direct", "The details are on the dashboard: {dashboard_link}")),
    ))}, audience=TEAM)

TEMPLATES = (OPS_RELATIONSHIP_AT_RISK, OPS_DAILY_DIGEST)
