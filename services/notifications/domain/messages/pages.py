"""What the pages behind the action links say, from the same catalogues as the mails.

Labels, buttons and errors are shared by both tones (`any`); a page's opening words follow the
reader's tone, as their mails do. Following the program's guide: goals first, clear expectations
(how often, how long, how soon you answer), constructive and specific feedback, ending well, and
nobody blamed for what did not happen.
"""

from __future__ import annotations

from . import participants
from .structure import DIRECT as D
from .structure import INDIRECT as I
from .structure import msg

# --- every page ----------------------------------------------------------------------------------
SITE = msg("any", "Tandem mentoring")
CONFIRM = msg("any", "Confirm")
OPTIONAL = msg("any", "(optional)")
DONE_TITLE = msg("any", "Thank you")
ALREADY_DONE = msg("any", "You have already answered this. Nothing more is needed.")
EXPIRED_TITLE = msg("any", "This link has expired")
EXPIRED = msg("any", "Links in our messages work for a limited time. If you still need to act, please contact your "
                     "program team.")
REFUSED_TITLE = msg("any", "This link is not valid")
REFUSED = msg("any", "It may have been copied incompletely, or it was not made for you. Please open it again from "
                     "your message.")
NOT_FOUND_TITLE = msg("any", "We cannot find what this link is about")
NOT_FOUND = msg("any", "It may be too early: please try again in a minute.")
ENDED_TITLE = msg("any", "This mentoring has ended")
ENDED = msg("any", "Thank you for taking part. There is nothing more to do here.")
BAD_FIELD_TITLE = msg("any", "Please check your answer")
BAD_FIELD = msg("any", "This field needs another value: {field}")
FORM_EXPIRED = msg("any", "This form has expired. Please open the link from your message again and send it once more.")
UNAVAILABLE = msg("any", "Something is not working on our side. Please try again in a few minutes.")
PREFERENCES_LINK = msg("any", "Choose which messages you receive")

# --- a proposal to mentor ------------------------------------------------------------------------
PROPOSAL_HEADING = {D: msg("direct", "Would you like to mentor {mentee_name}?"),
                    I: msg("indirect", "Would you consider mentoring {mentee_name}?")}
PROPOSAL_ABOUT = msg("any", "{mentee_name} works in {mentee_sector} ({mentee_region}).")
PROPOSAL_GOALS = msg("any", "What {mentee_name} wants to work on:")
PROPOSAL_COMMITMENT = participants.COMMITMENT  # the same words as the proposal's mail
PROPOSAL_DEADLINE = msg("any", "Please answer by {deadline}.")
PROPOSAL_ANSWER = msg("any", "Your answer")
DECLINE_WHY = msg("any", "If you decline: why?")
DECLINE_NO_TIME = msg("any", "I don't have time right now")
DECLINE_OUTSIDE_EXPERTISE = msg("any", "It is outside my expertise")
DECLINE_CONFLICT = msg("any", "There is a conflict of interest")
REASON_OTHER = msg("any", "Another reason")
NOTE_FOR_TEAM = msg("any", "A note for the program team")
PROPOSAL_CLOSED = msg("any", "This proposal is no longer open: it was answered or it has expired.")
ACCEPTED = msg("any", "Thank you! We will introduce you to {mentee_name} shortly.")
DECLINED = msg("any", "Thank you for letting us know. We will look for another mentor for {mentee_name}.")

# --- the mentoring agreement ---------------------------------------------------------------------
AGREEMENT_HEADING = msg("any", "Your mentoring agreement with {other_name}")
AGREEMENT_INTRO = {
    D: msg("direct", "Agree up front on how you will work together: how often you meet, where, how soon you answer "
                     "each other, and what you want to achieve."),
    I: msg("indirect", "It can help to agree early on how you would like to work together: how often you meet, "
                       "where, how soon you reply to each other, and what you hope to achieve."),
}
AGREEMENT_OTHER_ANSWERED = msg("any", "{other_name} has already answered; their choices are filled in below.")
CADENCE = msg("any", "Meet every how many days?")
CADENCE_HINT = msg("any", "Between {low} and {high} days.")
DURATION = msg("any", "How long is each meeting, in minutes?")
DURATION_HINT = msg("any", "Between {low} and {high} minutes.")
PLACE = msg("any", "Where do you meet?")
PLACE_VIDEO = msg("any", "By video (the link is in each invitation)")
PLACE_PHONE = msg("any", "By phone")
PLACE_IN_PERSON = msg("any", "In person")
PLACE_DETAILS = msg("any", "Details: a phone number, a room or an address (only the two of you see it)")
RESPONSE_TIME = msg("any", "How soon will you answer each other's messages, in hours?")
GOALS_EDIT = msg("any", "Your goals, most important first, one per line")
GOALS_OF = msg("any", "The goals of {other_name}:")
BOUNDARIES = msg("any", "Boundaries: anything else you want to agree on")
BOUNDARIES_HINT = msg("any", "For example: topics you would rather not discuss, or times you cannot be reached.")
AGREEMENT_RECORDED = msg("any", "Your agreement is recorded. Your next meetings will follow it.")
# An answered agreement, read again from its link: what stands now.
AGREED_ANSWERED = {
    D: msg("direct", "You answered on {answered_at}. This is what you agreed:"),
    I: msg("indirect", "Thank you for your answer of {answered_at}. Here is what you agreed, for your reference:"),
}
AGREED_LATEST_BY_OTHER = msg("any", "{other_name} answered after you, on {latest_at}: their answer is the one that "
                                    "stands now.")
AGREED_HOW_OFTEN = msg("any", "How often you meet")
AGREED_HOW_LONG = msg("any", "How long each meeting lasts")
AGREED_WHERE = msg("any", "Where you meet")
AGREED_REPLY_WITHIN = msg("any", "How soon you answer each other's messages")
AGREED_GOALS = msg("any", "Goals")
AGREED_BOUNDARIES = msg("any", "Boundaries")

# --- a meeting -----------------------------------------------------------------------------------
MEETING_HEADING = msg("any", "Your meeting with {other_name} on {start}")
CHANGE_INTRO = {D: msg("direct", "Can't make it? Choose another time that suits you both, or cancel."),
                I: msg("indirect", "If this time no longer suits you, you can choose another time that works for "
                                   "you both, or cancel.")}
TIMES_IN_ZONE = msg("any", "Times are shown in your time zone ({zone}).")
MOVE_TO = msg("any", "Move it to:")
NO_OTHER_TIMES = msg("any", "There are no other times to offer right now.")
CANCEL_IT = msg("any", "Cancel this meeting")
CANCEL_WHY = msg("any", "If you cancel: why?")
CANCEL_CONFLICT = msg("any", "I have a conflict")
CANCEL_UNWELL = msg("any", "I am unwell")
CANCEL_NOT_NEEDED = msg("any", "We don't need this meeting")
MOVE_REQUESTED = msg("any", "We have asked to move the meeting. You will both get a new invitation.")
CANCELLED = msg("any", "The meeting is cancelled. You will both get a calendar update.")
MEETING_GONE = msg("any", "This meeting is no longer planned.")
ATTENDANCE_HEADING = msg("any", "Did your meeting with {other_name} on {start} take place?")
ATTENDANCE_RECORDED = msg("any", "Thank you, it is recorded.")

# --- feedback ------------------------------------------------------------------------------------
FEEDBACK_HEADING_MEETING = msg("any", "How was your meeting with {other_name}?")
FEEDBACK_HEADING_CHECKIN = msg("any", "How is your mentoring with {other_name} going?")
FEEDBACK_HEADING_CLOSURE = msg("any", "Looking back on your mentoring with {other_name}")
FEEDBACK_INTRO = {D: msg("direct", "Be specific: what went well, and what could be better?"),
                  I: msg("indirect", "Your honest impressions help, both what went well and what might go better.")}
RATING = msg("any", "Your rating")
RATING_1 = msg("any", "1: poor")
RATING_2 = msg("any", "2: fair")
RATING_3 = msg("any", "3: good")
RATING_4 = msg("any", "4: very good")
RATING_5 = msg("any", "5: excellent")
COMMENT = msg("any", "Your comment")
GOAL_PROGRESS = msg("any", "How far along is each goal?")
PROGRESS_0 = msg("any", "not started")
PROGRESS_25 = msg("any", "a quarter of the way")
PROGRESS_50 = msg("any", "halfway")
PROGRESS_75 = msg("any", "three quarters of the way")
PROGRESS_100 = msg("any", "achieved")
FIT = msg("any", "Is this a good fit?")
FIT_GOOD = msg("any", "Yes, a good fit")
FIT_UNSURE = msg("any", "Not sure yet")
FIT_NOT_GOOD = msg("any", "No, not a good fit")
FEEDBACK_RECORDED = msg("any", "Thank you for your feedback.")

# --- ending early --------------------------------------------------------------------------------
END_HEADING = msg("any", "End your mentoring with {other_name} early")
END_INTRO = {
    D: msg("direct", "Ending early is fine when it is not working. Tell us why, so the program team can help."),
    I: msg("indirect", "Sometimes a mentoring relationship does not work out as hoped, and that is nobody's fault. "
                       "If you would like to end it, please let us know why, so that the program team can help."),
}
END_WHY = msg("any", "Why do you want to end it?")
END_GOALS_REACHED = msg("any", "Our goals are reached")
END_NOT_A_GOOD_FIT = msg("any", "We are not a good fit")
END_NO_TIME = msg("any", "I don't have the time")
END_CIRCUMSTANCES = msg("any", "My circumstances have changed")
DO_NOT_PAIR_AGAIN = msg("any", "Please don't pair us again")
REMATCH = msg("any", "Find me a new mentor")
END_REQUESTED = msg("any", "Your request is sent. You will both hear from us shortly.")

# --- preferences ---------------------------------------------------------------------------------
PREFERENCES_HEADING = msg("any", "How Tandem writes to you")
KINDS_LEGEND = msg("any", "Which of these messages do you want?")
KIND_REMINDERS = msg("any", "Meeting reminders")
KIND_CHECKINS = msg("any", "Check-in questions")
KIND_NUDGES = msg("any", "Nudges when meetings are missed")
ALWAYS_SENT = msg("any", "Messages your mentoring needs, such as proposals, meeting invitations and cancellations, "
                         "always reach you.")
CHANNEL = msg("any", "Where do you want them?")
CHANNEL_EMAIL = msg("any", "By e-mail")
CHANNEL_CHAT = msg("any", "In chat")
QUIET_HOURS = msg("any", "Quiet hours: no messages from … until … (leave empty for none)")
QUIET_FROM = msg("any", "From")
QUIET_UNTIL = msg("any", "Until")
LANGUAGE = msg("any", "Language")
TONE = msg("any", "Tone")
TONE_DIRECT = msg("any", "Direct and to the point")
TONE_INDIRECT = msg("any", "Gentle and indirect")
PREFERENCES_SAVED = msg("any", "Your choices are saved.")
UNSUBSCRIBE_HEADING = msg("any", "Stop these messages: {kind}")
UNSUBSCRIBE_INTRO = msg("any", "You can turn them back on at any time on your preferences page.")
UNSUBSCRIBED = msg("any", "Done: you will no longer get these messages.")
