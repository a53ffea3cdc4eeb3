"""Logs are JSON lines with the trace id, and never carry an e-mail address or a password."""

from __future__ import annotations

import json
import logging

from shared.telemetry import JsonFormatter, redact


def test_addresses_and_passwords_are_redacted_in_messages_and_tracebacks():
    formatter = JsonFormatter("test")
    try:
        raise RuntimeError("refused ana.souza@example.com")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "mail to %s via %s failed", (
            "bram.de-vries+mentor@mail.example.nl", "postgresql://tandem_matching:s3cr3t@db:5432/tandem"), None)
        import sys
        record.exc_info = sys.exc_info()
    line = json.loads(formatter.format(record))
    assert line["message"] == "mail to <email> via postgresql://tandem_matching:***@db:5432/tandem failed"
    assert "ana.souza" not in line["exception"] and "<email>" in line["exception"]
    assert redact("participant p-000123 has no profile yet") == "participant p-000123 has no profile yet"


def _violation():
    import asyncpg

    exc = asyncpg.exceptions.CheckViolationError('new row for relation "deliveries" violates check constraint')
    exc.detail = "Failing row contains (d1, Ana Souza, Hi Ana,\n\nYou and Bram are now a pair, ...)."
    exc.sqlstate, exc.constraint_name = "23514", "deliveries_channel_check"
    return exc


def test_database_errors_are_told_without_the_row_they_quote():
    from shared.errors import describe

    exc = _violation()
    assert "Ana" in str(exc)  # what asyncpg itself would print
    assert describe(exc) == ('CheckViolationError [23514]: new row for relation "deliveries" violates check '
                             'constraint (deliveries_channel_check)')
    assert describe(KeyError("x")) == "KeyError: 'x'"
    try:
        raise exc
    except Exception:
        import sys
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "handler failed", (), sys.exc_info())
    line = json.loads(JsonFormatter("test").format(record))
    assert "Ana" not in line["exception"] and "Bram" not in line["exception"]
    assert "DETAIL:  <redacted>" in line["exception"]


def test_infrastructure_is_told_from_bugs():
    import asyncpg
    from aiokafka.errors import KafkaConnectionError

    from shared.retry import InfrastructureUnavailable, is_infrastructure

    away = [ConnectionRefusedError(), asyncpg.CannotConnectNowError("starting up"), KafkaConnectionError(),
            asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed"),
            InfrastructureUnavailable("not published yet"), asyncpg.exceptions.DeadlockDetectedError("")]
    bugs = [KeyError("x"), asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
            asyncpg.exceptions.DataError("bad"), asyncpg.exceptions.UniqueViolationError(""), ValueError()]
    assert all(is_infrastructure(e) for e in away)
    assert not any(is_infrastructure(e) for e in bugs)
