"""Errors a handler raises to say how its event should be treated."""


class PermanentError(Exception):
    """The event can never be applied (it contradicts what we know); dead-letter it now."""


class NotYetKnown(Exception):
    """The event refers to something that has not arrived yet (e.g. a profile on another topic).

    Retried for longer than an ordinary failure before the event is dead-lettered.
    """
