"""Errors a handler raises to say how its event should be treated."""


class PermanentError(Exception):
    """The event can never be applied (it contradicts what we know); dead-letter it now."""


class NotYetKnown(Exception):
    """The event refers to something that has not arrived yet (e.g. a profile on another topic).

    Retried for longer than an ordinary failure before the event is dead-lettered.
    """


def describe(exc: BaseException) -> str:
    """`Type: message` for a dead-letter reason or a log line, without the data a database put in it.

    PostgreSQL's DETAIL repeats the row or key at fault ("Failing row contains (..., Ana, ...)"), so
    for a database error only its message, its SQLSTATE and the constraint are kept."""
    if hasattr(exc, "sqlstate") and exc.args:
        constraint = getattr(exc, "constraint_name", None)
        return f"{type(exc).__name__} [{exc.sqlstate}]: {exc.args[0]}" + (f" ({constraint})" if constraint else "")
    return f"{type(exc).__name__}: {exc}"
