"""`tandem token`: bad input is one clear line and exit code 2, before any database is touched (the
whole create, revoke and list against a real database run in tests/e2e/test_access.py)."""

from __future__ import annotations

import pytest

from tandem.cli import main

NO_DATABASE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.mark.parametrize(("args", "says"), [
    (["create", "--role", "program-viewer", "--expires", "90d"], "program-viewer needs a program"),
    (["create", "--role", "program-admin", "--program", "", "--expires", "90d"], "program-admin needs a program"),
    (["create", "--role", "tandem-admin", "--program", "p1", "--expires", "90d"], "every program"),
    (["create", "--role", "owner", "--program", "p1", "--expires", "90d"], "unknown role 'owner'"),
    (["create", "--role", "program-viewer", "--program", "p1", "--expires", "90"], "such as 12h, 90d or 8w"),
    (["create", "--role", "program-viewer", "--program", "p1", "--expires", "0d"], "such as 12h, 90d or 8w"),
    (["create", "--role", "program-viewer", "--program", "p1", "--expires=-1d"], "such as 12h, 90d or 8w"),
    (["create", "--role", "program-viewer", "--program", "p1", "--expires", "5000d"], "at most three years"),
    (["create", "--role", "program-viewer", "--program", "p1", "--expires", "1d", "--name", "a\nb"], "--name"),
])
def test_bad_input_is_refused_with_a_reason(args, says, capsys):
    assert main(["token", *args, "--database-url", NO_DATABASE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem token: error: ") and says in err and err.count("\n") == 1


def test_no_database_is_said_plainly(capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["token", "list", "--database-url", ""]) == 2
    assert "no database" in capsys.readouterr().err
    assert main(["token", "revoke", "tok_x", "--database-url", NO_DATABASE]) == 2
    assert "cannot reach the database" in capsys.readouterr().err
