"""The labels of the action links a message carries (each a button in the HTML, a line in the text
and in chat), and the line an invite adds. Both tones share them: a button says what it does."""

from __future__ import annotations

from .structure import msg

ACCEPT = msg("any", "Accept")
DECLINE = msg("any", "Decline")
AGREEMENT = msg("any", "Agree on how you will work together")
CANNOT_MAKE_IT = msg("any", "I can't make it: choose another time")
IT_HAPPENED = msg("any", "The meeting took place")
IT_DID_NOT = msg("any", "The meeting did not take place")
ANSWER = msg("any", "Give your feedback")
END_EARLY = msg("any", "End this mentoring early")
# A nudge's ways forward, before "end early": confirm what the other proposed, move the next meeting.
CONFIRM_AGREEMENT = msg("any", "Confirm how you will work together")
MOVE_NEXT_MEETING = msg("any", "Move our next meeting")
REMATCH = msg("any", "Ask for a new mentor")
# RFC 8058's one-click link, per kind of message; also in the footer beside the preferences.
STOP_REMINDERS = msg("any", "Stop meeting reminders")
STOP_CHECKINS = msg("any", "Stop check-in questions")
STOP_NUDGES = msg("any", "Stop nudges")
# In the plain text and in chat: a link's label, then its address.
ACTION_LINE = msg("any", "{label}: {url}")
# The calendar invitation's description: replies to it are not read.
INVITE_LINK = msg("any", "To move or cancel this meeting, use this link (replies to the invitation are not read): {url}")
