"""Errors a handler raises to say how its event should be treated, and how errors become reasons."""

import re


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


_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def field_path(loc: tuple) -> str:
    """A validation error's place as field names and list positions; a dict key that does not look
    like a field name (it is data: a name, an address) is shown as `[key]`."""
    parts = [str(p) if isinstance(p, int) or (isinstance(p, str) and _FIELD_NAME.match(p)) else "[key]" for p in loc]
    return ".".join(parts) or "(root)"


def reason_for(exc: BaseException) -> str:
    """A dead-letter reason for an error our own code did not word (a library's, a driver's, a bug's).

    Its text may quote the data it choked on (a driver's "invalid input syntax: ...", a validator's
    value), and a reason is read by the program team and kept on a topic: so only the error's type,
    what kind of failure it is, and for a database error its SQLSTATE and constraint, or for a
    validation error the fields at fault. The full error is in the service's log, under the event id."""
    from pydantic import ValidationError  # here: shared.errors stays importable without pydantic

    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        fields = sorted({field_path(err["loc"]) for err in exc.errors()})[:10]
        return f"{name}: invalid data in {', '.join(fields)}"
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        constraint = getattr(exc, "constraint_name", None)
        return f"{name} [{sqlstate}]: the database refused the change" + (
            f" (constraint {constraint})" if constraint else ""
        )
    return f"{name}: the handler failed (details in the service's log)"
