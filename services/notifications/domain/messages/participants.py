"""What mentors and mentees read, in two tones.

The wording follows the program's guide to mentoring across cultures: goals first, clear
expectations from the start, specific and constructive words, successes celebrated. The direct tone
says things plainly; the indirect tone is softer, leaves room, and never puts anyone on the spot
(nothing that did not happen is anyone's fault).

Parameters: `recipient_name` always (the greeting); the others as each template names them.
"""

from __future__ import annotations

from .structure import DIRECT as D
from .structure import INDIRECT as I
from .structure import Bullets, Para, Switch, Template, Value, Variant, msg, nmsg


def _template(name: str, direct: Variant, indirect: Variant, *, extra: tuple[str, ...] = ()) -> Template:
    return Template(name, {D: direct, I: indirect}, extra=extra)


# What mentoring asks of a mentor, said before they answer (the guide: clear expectations from the
# start); also on the proposal's page.
COMMITMENT = {
    D: msg("direct", "What it asks of you: a meeting {recurrence} for {duration}, over a term of {term}."),
    I: msg("indirect", "To give you an idea of what it would involve: meeting about {recurrence} for {duration}, "
                       "over {term}."),
}

MATCH_PROPOSED = _template(
    "match_proposed",
    Variant(msg("direct", "New mentee for you: {mentee_name}"), (
        Para(msg("direct", "We would like you to mentor {mentee_name}, who works in {mentee_sector} ({mentee_region}).")),
        Bullets("goals", msg("direct", "What {mentee_name} wants to work on:")),
        Value("why"),
        Para(COMMITMENT[D]),
        Para(msg("direct", "Please accept or decline by {deadline}.")),
    )),
    Variant(msg("indirect", "Would you consider mentoring {mentee_name}?"), (
        Para(msg("indirect", "{mentee_name}, who works in {mentee_sector} ({mentee_region}), is looking for a mentor, and "
                    "we thought of you.")),
        Bullets("goals", msg("indirect", "The goals {mentee_name} would like to work on:")),
        Value("why"),
        Para(COMMITMENT[I]),
        Para(msg("indirect", "If you are able to, we would be grateful for your answer by {deadline}. Whatever you decide, "
                    "thank you for considering it.")),
    )),
)

MATCH_ESTABLISHED = _template(
    "match_established",
    Variant(Switch("other_role", {"mentor": msg("direct", "Meet your mentor: {other_name}"),
                                  "mentee": msg("direct", "Meet your mentee: {other_name}")}), (
        Para(Switch("other_role", {
            "mentor": msg("direct", "You and {other_name} are now a mentoring pair: {other_name} will be your mentor."),
            "mentee": msg("direct", "You and {other_name} are now a mentoring pair: you will be {other_name}'s mentor.")})),
        Para(msg("direct", "{other_name} speaks {other_languages}; their time zone is {other_zone}.")),
        Bullets("goals", msg("direct", "The goals of your mentoring:")),
        Para(msg("direct", "Start by agreeing on what you want to achieve and how you will work together. We suggest "
                    "meeting {recurrence} for {duration}, and answering each other within {response_time}.")),
        Para(msg("direct", "We will book your first meeting shortly.")),
    )),
    Variant(msg("indirect", "An introduction: {other_name}"), (
        Para(Switch("other_role", {
            "mentor": msg("indirect", "It is our pleasure to introduce {other_name}, who will be your mentor."),
            "mentee": msg("indirect", "It is our pleasure to introduce {other_name}, whom you will be mentoring.")})),
        Para(msg("indirect", "{other_name} speaks {other_languages}, and their time zone is {other_zone}.")),
        Bullets("goals", msg("indirect", "The goals you may explore together:")),
        Para(msg("indirect", "You might find it helpful to agree early on what you hope to achieve and how you would like to "
                    "work together: for example, meeting {recurrence} for {duration}, and replying to each "
                    "other within {response_time}.")),
        Para(msg("indirect", "We will propose a first meeting soon.")),
    )),
)

# Where they meet: the meeting's video link, or the place the pair agreed on.
_WHERE = msg("any", "Where: {location}")

_OTHER_CLOCK = {D: msg("direct", "For {other_name}, that is {start_other}."),
                I: msg("indirect", "For {other_name}, this is {start_other}.")}

# A meeting's calendar invite in each reader's words (scheduling writes it in English): its title, by
# whether it is the pair's first meeting, and the lines of its description, each shown when its
# values are there; the invite's link sentence (actions.INVITE_LINK) follows them.
INVITE_TITLE = {True: msg("any", "First mentoring meeting with {other_name}"),
                False: msg("any", "Mentoring meeting with {other_name}")}
_WHEN = msg("any", "When: {start} ({duration})")
INVITE_DESCRIPTION = {D: (_WHEN, _OTHER_CLOCK[D], _WHERE), I: (_WHEN, _OTHER_CLOCK[I], _WHERE)}

MEETING_SCHEDULED = _template(
    "meeting_scheduled",
    Variant(Switch("kind", {"kickoff": msg("direct", "First meeting with {other_name}: {start_short}"),
                            "recurring": msg("direct", "Next meeting with {other_name}: {start_short}")}), (
        Para(Switch("kind", {
            "kickoff": msg("direct", "Your first meeting with {other_name} is booked for {start}. It lasts {duration}."),
            "recurring": msg("direct", "Your next meeting with {other_name} is booked for {start}. It lasts {duration}.")})),
        Para(_OTHER_CLOCK[D], optional=True),
        Para(Switch("kind", {
            "kickoff": msg("direct", "Use it to share your goals and agree on how you will work together."),
            "recurring": msg("direct", "Come with the questions or topics you want to discuss.")})),
        Para(_WHERE, optional=True),
        Para(msg("direct", "The calendar invitation is attached.")),
    )),
    Variant(Switch("kind", {"kickoff": msg("indirect", "Your first meeting with {other_name} on {start_short}"),
                            "recurring": msg("indirect", "Your next meeting with {other_name} on {start_short}")}), (
        Para(Switch("kind", {
            "kickoff": msg("indirect", "We have reserved {start} for your first meeting with {other_name}, for {duration}."),
            "recurring": msg("indirect", "We have reserved {start} for your next meeting with {other_name}, for "
                                "{duration}.")})),
        Para(_OTHER_CLOCK[I], optional=True),
        Para(Switch("kind", {
            "kickoff": msg("indirect", "You may like to use this first conversation to share your goals and to agree on how "
                              "you would like to work together."),
            "recurring": msg("indirect", "It may help to note beforehand what you would like to talk about.")})),
        Para(_WHERE, optional=True),
        Para(msg("indirect", "You will find the invitation attached. If the time does not suit you, you can always ask to "
                    "move it.")),
    )),
    extra=("kind",),
)

# Who moved it (`moved_by`): the other person, by name; the reader themselves, as a confirmation that
# the other has been told; the program team; or not known (a move scheduling made itself).
MEETING_RESCHEDULED = _template(
    "meeting_rescheduled",
    Variant(msg("direct", "Meeting moved: {other_name}, {start_short}"), (
        Para(Switch("moved_by", {
            "partner": msg("direct", "{other_name} moved your meeting to {start}."),
            "you": msg("direct", "You moved your meeting with {other_name} to {start}. We have let {other_name} "
                                 "know."),
            "team": msg("direct", "The program team moved your meeting with {other_name} to {start}."),
            "unknown": msg("direct", "Your meeting with {other_name} has moved to {start}.")})),
        Para(_OTHER_CLOCK[D], optional=True),
        Para(_WHERE, optional=True),
        Para(msg("direct", "The updated invitation is attached.")),
    )),
    Variant(msg("indirect", "A new time for your meeting with {other_name}"), (
        Para(Switch("moved_by", {
            "partner": msg("indirect", "{other_name} has asked to move your meeting; it will now take place on "
                                       "{start}."),
            "you": msg("indirect", "As you asked, your meeting with {other_name} will now take place on {start}. We "
                                   "have let {other_name} know."),
            "team": msg("indirect", "The program team has moved your meeting with {other_name}; it will now take "
                                    "place on {start}."),
            "unknown": msg("indirect", "Your meeting with {other_name} will now take place on {start}.")})),
        Para(_OTHER_CLOCK[I], optional=True),
        Para(_WHERE, optional=True),
        Para(Switch("moved_by", {
            "you": msg("indirect", "The updated invitation is attached."),
            **dict.fromkeys(("partner", "team", "unknown"),
                            msg("indirect", "The updated invitation is attached. Thank you for your flexibility."))})),
    )),
    extra=("moved_by",),
)

MEETING_CANCELLED = _template(
    "meeting_cancelled",
    Variant(msg("direct", "Meeting cancelled: {other_name}, {start_short}"), (
        Para(msg("direct", "Your meeting with {other_name} on {start} is cancelled.")),
        Value("reason"),
        Para(msg("direct", "{canceller_name} wrote: “{note}”"), optional=True),
        Para(msg("direct", "The calendar update is attached.")),
    )),
    Variant(msg("indirect", "About your meeting with {other_name} on {start_short}"), (
        Para(msg("indirect", "We are sorry to let you know that your meeting with {other_name} on {start} will not take "
                    "place.")),
        Value("reason"),
        Para(msg("indirect", "{canceller_name} added a note: “{note}”"), optional=True),
        Para(msg("indirect", "The attached update will remove it from your calendar.")),
    )),
)

REMINDER_DUE = _template(
    "reminder_due",
    Variant(msg("direct", "Reminder: your meeting with {other_name} starts in {lead}"), (
        Para(msg("direct", "Your meeting with {other_name} starts in {lead}: {start}.")),
        Para(msg("direct", "Have your questions or topics ready.")),
    )),
    Variant(msg("indirect", "A gentle reminder: your meeting with {other_name}"), (
        Para(msg("indirect", "Just a friendly reminder that you will meet {other_name} in {lead}: {start}.")),
        Para(msg("indirect", "Perhaps a good moment to note what you would like to talk about.")),
    )),
)

FEEDBACK_REQUESTED = _template(
    "feedback_requested",
    Variant(msg("direct", "How was your meeting with {other_name}?"), (
        Para(msg("direct", "Please tell us how your meeting with {other_name} went: a rating, how much closer you feel to "
                    "your goals, and anything you want to share.")),
        Para(msg("direct", "Please answer by {due}.")),
    )),
    Variant(msg("indirect", "We would love to hear about your meeting with {other_name}"), (
        Para(msg("indirect", "We hope your conversation with {other_name} was valuable. When you have a moment, we would "
                    "appreciate a few words on how it went and what helped you most; it helps us support you "
                    "both.")),
        Para(msg("indirect", "If possible, before {due}.")),
    )),
)

CHECKIN_REQUESTED = _template(
    "checkin_requested",
    Variant(msg("direct", "Check-in: how is your mentoring with {other_name} going?"), (
        Para(msg("direct", "It is time for a short check-in on your mentoring with {other_name}.")),
        Para(msg("direct", "Tell us how it is going, how close you are to your goals, and whether anything should change. "
                    "It takes a few minutes.")),
        Para(msg("direct", "Please answer by {due}.")),
    )),
    Variant(msg("indirect", "How are things going with {other_name}?"), (
        Para(msg("indirect", "We hope your conversations with {other_name} are going well, and we would love to hear how "
                    "you are finding the mentoring so far.")),
        Para(msg("indirect", "A few words on how it is going, how you feel about your goals and anything you would like to "
                    "adjust would help us support you both. It only takes a few minutes.")),
        Para(msg("indirect", "If possible, before {due}.")),
    )),
)

CHECKIN_REMINDER = _template(
    "checkin_reminder",
    Variant(msg("direct", "Reminder: your check-in on your mentoring with {other_name}"), (
        Para(msg("direct", "We have not received your check-in on your mentoring with {other_name} yet. It takes a few "
                    "minutes, and your answers help us support you both.")),
        Para(msg("direct", "Please answer by {due}.")),
    )),
    Variant(msg("indirect", "A gentle reminder about your check-in"), (
        Para(msg("indirect", "We know how busy things can get. If you have a moment, we would still love to hear how your "
                    "mentoring with {other_name} is going.")),
        Para(msg("indirect", "If possible, before {due}. Thank you!")),
    )),
)

CLOSURE_REQUESTED = _template(
    "closure_requested",
    Variant(msg("direct", "Looking back on your mentoring with {other_name}"), (
        Para(msg("direct", "Your mentoring with {other_name} has come to an end. Please take a few minutes to look back: "
                    "what did you achieve, what helped most, and what would you do differently?")),
        Para(msg("direct", "Your answers help us improve the program. Please answer by {due}.")),
    )),
    Variant(msg("indirect", "Would you share your reflections on your mentoring with {other_name}?"), (
        Para(msg("indirect", "Now that your mentoring with {other_name} has come to an end, we would be grateful for a few "
                    "reflections: what you achieved, what helped you most, and anything you might approach "
                    "differently.")),
        Para(msg("indirect", "Your thoughts will help us make the program better for others. If possible, before {due}.")),
    )),
)

MILESTONE_ACHIEVED = _template(
    "milestone_achieved",
    Variant(msg("direct", "Milestone reached: {milestone}"), (
        Para(Switch("reader", {
            "achiever": msg("direct", "You reached a milestone: {milestone}. Congratulations!"),
            "partner": msg("direct", "{achiever_name} reached a milestone: {milestone}. Congratulations to you both!")})),
        Para(msg("direct", "It brings you closer to the goal “{goal}”."), optional=True),
        Para(msg("direct", "In your next meeting, take a moment to talk about what made it work.")),
    )),
    Variant(msg("indirect", "Something to celebrate: {milestone}"), (
        Para(Switch("reader", {
            "achiever": msg("indirect", "We are delighted to hear that you have reached a milestone: {milestone}. "
                               "Congratulations!"),
            "partner": msg("indirect", "We are delighted to share that {achiever_name} has reached a milestone: "
                              "{milestone}.")})),
        Para(msg("indirect", "It is a lovely step towards the goal “{goal}”."), optional=True),
        Para(msg("indirect", "This is a good moment to recognise the work you have put in together.")),
    )),
    extra=("reader",),
)

GOAL_ACHIEVED = _template(
    "goal_achieved",
    Variant(msg("direct", "Goal achieved: {goal}"), (
        Para(msg("direct", "Congratulations: you and {other_name} have achieved the goal “{goal}”.")),
        Para(msg("direct", "This is what you set out to do together. Celebrate it, and talk in your next meeting about what "
                    "made the difference and what comes next.")),
    )),
    Variant(msg("indirect", "A goal achieved: {goal}"), (
        Para(msg("indirect", "We are delighted to share that you and {other_name} have achieved the goal “{goal}”. Warm "
                    "congratulations to you both!")),
        Para(msg("indirect", "It is the result of the time and care you have both given. You might enjoy looking back "
                    "together on what helped most, and thinking about where you would like to go next.")),
    )),
)

# Ways forward a pair is offered before ending early (compose.ways_forward), in the team's nudge and
# after missed meetings: agree on how to work together, or confirm what the other proposed.
_AGREEMENT_WAYS = {
    D: (Para(msg("direct", "It helps to agree first on what you want to achieve together, how often you meet and how "
                 "you reach each other. You have not recorded that yet: the first link below takes you there."),
             when="no_agreement"),
        Para(msg("direct", "{other_name} has proposed how you will work together. Have a look, then confirm it or "
                 "suggest changes."), when="confirm_agreement")),
    I: (Para(msg("indirect", "Many pairs find it helpful to agree, early on, on what they hope to achieve together, how "
                 "often they would like to meet and how best to reach each other. If you would like to, the "
                 "first link below lets you set this out together."), when="no_agreement"),
        Para(msg("indirect", "{other_name} has suggested how the two of you might work together. Perhaps you would "
                 "like to take a look, and confirm it or propose any changes you would prefer."),
             when="confirm_agreement")),
}

MEETINGS_MISSED = _template(
    "meetings_missed",
    Variant(msg("direct", "Let's get your meetings with {other_name} back on track"), (
        Para(nmsg("direct", "Your last planned meeting with {other_name} did not take place.",
                  "Your last {count} planned meetings with {other_name} did not take place.")),
        Para(msg("direct", "That happens: plans change and weeks get busy. Could you agree on a new time that works for you "
                    "both? If your hours have changed, update them so we can find better times."),
             when="no_next_meeting"),
        Para(msg("direct", "That happens: plans change and weeks get busy. Your next meeting is planned for "
                    "{next_meeting}. If that time does not suit you both, move it now, so that you can meet "
                    "again."), optional=True),
        *_AGREEMENT_WAYS[D],
        Para(msg("direct", "If something else is in the way, the program team is glad to help.")),
    )),
    Variant(msg("indirect", "Finding time again with {other_name}"), (
        Para(nmsg("indirect", "It looks as though your last planned meeting with {other_name} could not take place.",
                  "It looks as though your last {count} planned meetings with {other_name} could not take place.")),
        Para(msg("indirect", "Schedules fill up and plans change; that is quite normal. Perhaps this is a good moment to find "
                    "a new time together that suits you both, or to let us know if your availability has "
                    "changed."), when="no_next_meeting"),
        Para(msg("indirect", "Schedules fill up and plans change; that is quite normal. Your next meeting is planned "
                    "for {next_meeting}. Should that time not suit you both, you are welcome to move it, so that "
                    "you can meet again soon."), optional=True),
        *_AGREEMENT_WAYS[I],
        Para(msg("indirect", "If anything is making it difficult, the program team would be happy to help.")),
    )),
    extra=("no_next_meeting", "no_agreement", "confirm_agreement"),
)

END_SCHEDULED = _template(
    "end_scheduled",
    Variant(msg("direct", "Your mentoring with {other_name} ends on {end_day}"), (
        Para(msg("direct", "Your mentoring with {other_name} reaches the end of its planned term on {end_day}.")),
        Para(msg("direct", "Use the time left well: look back at your goals together, note what you have achieved and what "
                    "you still want to work on, and plan how you will carry it forward.")),
    )),
    Variant(msg("indirect", "As your mentoring with {other_name} draws to a close"), (
        Para(msg("indirect", "Your mentoring with {other_name} will reach the end of its planned term on {end_day}.")),
        Para(msg("indirect", "You may like to use your last conversation to look back on your goals together, to celebrate "
                    "what you have achieved, and to think about how you would like to continue on your own.")),
    )),
)

MATCH_ENDED_TERM_COMPLETED = _template(
    "match_ended_term_completed",
    Variant(msg("direct", "Thank you: your mentoring with {other_name} is complete"), (
        Para(msg("direct", "Your mentoring with {other_name} has reached the end of its planned term. Thank you for the "
                    "time, openness and effort you both put into it.")),
    )),
    Variant(msg("indirect", "With thanks: your mentoring with {other_name}"), (
        Para(msg("indirect", "Your mentoring with {other_name} has now reached the end of its planned term. We would like to "
                    "thank you warmly for the time, openness and care you have both brought to it.")),
    )),
)

MATCH_ENDED_ON_REQUEST = _template(
    "match_ended_on_request",
    Variant(msg("direct", "Your mentoring relationship with {other_name} has ended"), (
        Para(msg("direct", "The program team has ended your mentoring relationship with {other_name}. This is not a "
                    "judgement of either of you: sometimes a pairing does not work out, or circumstances change.")),
        Para(msg("direct", "Thank you for the time and attention you gave it. The meetings you had planned together are "
                    "cancelled; the calendar updates follow separately.")),
        Para(msg("direct", "If you would like to talk about it, or about what comes next, the program team is happy to "
                    "hear from you.")),
    )),
    Variant(msg("indirect", "About your mentoring relationship with {other_name}"), (
        Para(msg("indirect", "We would like to let you know that the program team has brought your mentoring relationship "
                    "with {other_name} to a close. Such a decision is never a judgement of anyone; sometimes "
                    "circumstances change, or a different pairing simply suits both people better.")),
        Para(msg("indirect", "We are grateful for the time and care you have given to your conversations. The meetings you "
                    "had planned together have been cancelled, and the calendar updates will reach you "
                    "separately.")),
        Para(msg("indirect", "Should you wish to talk about this, or about the next steps, the program team would be glad to "
                    "hear from you.")),
    )),
)

_LEFT = {D: msg("direct", "{other_name} has left the program"), I: msg("indirect", "News about your mentoring with {other_name}")}

MATCH_ENDED_PARTNER_LEFT_MENTEE = _template(
    "match_ended_partner_left_mentee",
    Variant(_LEFT[D], (
        Para(msg("direct", "{other_name} has left the mentoring program, so your mentoring ends here. Thank you for what "
                    "you built together.")),
        Para(msg("direct", "The meetings you had planned are cancelled; the calendar updates follow separately. We are "
                    "looking for a new mentor for you and will be in touch.")),
    )),
    Variant(_LEFT[I], (
        Para(msg("indirect", "We wanted to let you know that {other_name} has left the mentoring program, which means your "
                    "mentoring comes to an end. We hope the conversations you shared stay with you, and we thank "
                    "you for the effort you put into them.")),
        Para(msg("indirect", "Your planned meetings have been cancelled; the calendar updates will reach you separately. We "
                    "are already looking for a new mentor for you and will be in touch soon.")),
    )),
)

MATCH_ENDED_PARTNER_LEFT_MENTOR = _template(
    "match_ended_partner_left_mentor",
    Variant(_LEFT[D], (
        Para(msg("direct", "{other_name} has left the mentoring program, so your mentoring ends here. Thank you for the "
                    "time and experience you shared.")),
        Para(msg("direct", "The meetings you had planned are cancelled; the calendar updates follow separately. Your place "
                    "as a mentor is free again, so we may propose a new mentee to you.")),
    )),
    Variant(_LEFT[I], (
        Para(msg("indirect", "We wanted to let you know that {other_name} has left the mentoring program, which means your "
                    "mentoring comes to an end. Thank you for the time and experience you so generously shared.")),
        Para(msg("indirect", "Your planned meetings have been cancelled; the calendar updates will reach you separately. "
                    "Your place as a mentor is free again, and we may be in touch about a new mentee.")),
    )),
)

RELATIONSHIP_NUDGE = _template(
    "relationship_nudge",
    Variant(msg("direct", "Time to catch up with {other_name}?"), (
        Para(msg("direct", "A quick nudge from the program team: how are things going with {other_name}? Now is a good "
                    "moment to plan your next conversation and pick up where you left off.")),
        Para(msg("direct", "A note from the program team: “{note}”"), optional=True),
        *_AGREEMENT_WAYS[D],
        Para(msg("direct", "Your next meeting is planned for {next_meeting}. If that time no longer works, choose "
                    "another one rather than letting it pass."), optional=True),
        Para(msg("direct", "If something is getting in the way, let the program team know; they are glad to help.")),
        Para(msg("direct", "And if your mentoring has run its course, you can end it early: a short thank-you to "
                    "{other_name} for what you shared is a good way to close.")),
    )),
    Variant(msg("indirect", "Thinking of you and {other_name}"), (
        Para(msg("indirect", "We hope you are well. The program team was thinking of you and {other_name}, and wondered "
                    "whether this might be a good moment to arrange your next conversation.")),
        Para(msg("indirect", "They asked us to pass on this note: “{note}”"), optional=True),
        *_AGREEMENT_WAYS[I],
        Para(msg("indirect", "Your next meeting is planned for {next_meeting}. Should that time no longer suit you, "
                    "you are welcome to choose another one, so that the conversation can still take place."),
             optional=True),
        Para(msg("indirect", "If anything makes meeting difficult at the moment, please do let the program team know; they "
                    "would be glad to help where they can.")),
        Para(msg("indirect", "And should you both feel that your mentoring has come to a natural close, it can also be "
                    "ended early; a few words of thanks to {other_name} are a lovely way to part.")),
    )),
)

RELATIONSHIP_CONCLUDED = _template(
    "relationship_concluded",
    Variant(msg("direct", "Your mentoring with {other_name}: what you achieved"), (
        Para(msg("direct", "Your mentoring with {other_name} is complete. Here is what you did together.")),
        Para(nmsg("direct", "You held one meeting.", "You held {meetings} meetings.").counting("meetings"), optional=True),
        Bullets("goals", msg("direct", "Your goals:")),
        Bullets("milestones", msg("direct", "Milestones along the way:")),
        Para(msg("direct", "Your certificate of completion is attached."), when="certificate"),
        Para(msg("direct", "Congratulations, and thank you. Keep what you have learned going, and stay in touch with "
                    "{other_name}.")),
    )),
    Variant(msg("indirect", "Celebrating your mentoring with {other_name}"), (
        Para(msg("indirect", "Your mentoring with {other_name} has come to a close, and we would like to celebrate what you "
                    "have achieved together.")),
        Para(nmsg("indirect", "You met once.", "You met {meetings} times.").counting("meetings"), optional=True),
        Bullets("goals", msg("indirect", "The goals you worked on:")),
        Bullets("milestones", msg("indirect", "Milestones you reached along the way:")),
        Para(msg("indirect", "With our congratulations, we are pleased to attach your certificate of completion."),
             when="certificate"),
        Para(msg("indirect", "Thank you for everything you have put into these conversations. We hope the connection with "
                    "{other_name} stays with you.")),
    )),
    extra=("certificate",),
)

ATTENDANCE_REQUESTED = _template(
    "attendance_requested",
    Variant(msg("direct", "Did your meeting with {other_name} take place?"), (
        Para(msg("direct", "Your meeting with {other_name} was planned for {start}. Did it take place? One click is "
                    "enough; either of you can answer.")),
    )),
    Variant(msg("indirect", "How did your meeting with {other_name} go?"), (
        Para(msg("indirect", "Your meeting with {other_name} was planned for {start}. Could you let us know whether it "
                    "took place? One click is enough, and either of you may answer.")),
    )),
)

FIT_QUESTIONED = _template(
    "fit_questioned",
    Variant(msg("direct", "A new mentor, if you would like one"), (
        Para(msg("direct", "After your first meeting with {other_name}, it seems the match may not be the best fit. That "
                    "happens, and it says nothing about either of you.")),
        Para(msg("direct", "If you would like, we will look for a new mentor for you: use the link below. Nothing changes "
                    "until you ask.")),
        Para(msg("direct", "The program team knows and is glad to help.")),
    )),
    Variant(msg("indirect", "About your mentoring with {other_name}"), (
        Para(msg("indirect", "Thank you for sharing how your first meeting with {other_name} went. Sometimes a pairing does "
                    "not quite fit, and that is nobody's fault.")),
        Para(msg("indirect", "Should you wish, we would be glad to look for another mentor for you; the link below lets you "
                    "ask. Nothing will change unless you do.")),
        Para(msg("indirect", "The program team is aware and would be happy to help.")),
    )),
)

# A mentee for whom no mentor fits right now (match.unavailable): told once per stretch of waiting,
# with why where it helps (`reason`), that the program team knows, and what happens next.
MATCH_UNAVAILABLE = _template(
    "match_unavailable",
    Variant(msg("direct", "We are still looking for a mentor for you"), (
        Para(msg("direct", "We have not found a mentor who fits you yet, so nobody has been proposed to you for "
                    "now.")),
        Value("reason"),
        Para(msg("direct", "The program team knows and is looking at what can be done. We keep looking, and you "
                    "will hear from us as soon as a mentor has agreed to work with you.")),
        Para(msg("direct", "You do not need to do anything now. If your goals, languages or available times change, "
                    "let the program team know.")),
    )),
    Variant(msg("indirect", "An update on finding your mentor"), (
        Para(msg("indirect", "Thank you for your patience. We have not yet been able to find a mentor who would be a "
                    "good fit for you, and we wanted to let you know where things stand.")),
        Value("reason"),
        Para(msg("indirect", "The program team is aware and is giving it their attention. We will keep looking, and "
                    "we will be in touch as soon as a mentor has agreed to work with you.")),
        Para(msg("indirect", "There is nothing you need to do for now. Should your goals, languages or available times "
                    "change, the program team would be glad to hear from you.")),
    )),
)

TEMPLATES = (
    MATCH_PROPOSED, MATCH_ESTABLISHED, MEETING_SCHEDULED, MEETING_RESCHEDULED, MEETING_CANCELLED, REMINDER_DUE,
    FEEDBACK_REQUESTED, CHECKIN_REQUESTED, CHECKIN_REMINDER, CLOSURE_REQUESTED, MILESTONE_ACHIEVED, GOAL_ACHIEVED,
    MEETINGS_MISSED, END_SCHEDULED, MATCH_ENDED_TERM_COMPLETED, MATCH_ENDED_ON_REQUEST,
    MATCH_ENDED_PARTNER_LEFT_MENTEE, MATCH_ENDED_PARTNER_LEFT_MENTOR, RELATIONSHIP_NUDGE, RELATIONSHIP_CONCLUDED,
    FIT_QUESTIONED, ATTENDANCE_REQUESTED, MATCH_UNAVAILABLE,
)
