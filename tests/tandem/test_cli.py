"""The `tandem` command line: bad input gets one clear line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tandem.cli import main


@pytest.mark.parametrize("argv, message", [
    (["demo", "--mentees", "0"], "--mentees and --mentors must be at least 1"),
    (["demo", "--speed", "-1"], "--speed and --timeout must be positive"),
    (["topics", "--bootstrap-servers", ""], "no broker"),
    (["topics", "--bootstrap-servers", "127.0.0.1:1", "--partitions", "0"], "--partitions and --replication-factor"),
    (["program", "configure", "--file", "/nonexistent/program.json"], "cannot read /nonexistent/program.json"),
    (["up", "--replicas", "0"], "--replicas must be between 1 and 8"),
    (["outbox", "skip", "--database-url", "postgresql://x@127.0.0.1:1/x"], "skip needs --service and at least one EVENT_ID"),
    (["outbox", "list", "--database-url", "postgresql://x@127.0.0.1:1/x"], "cannot reach the database"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tandem {argv[0]}: error: ") and message in err
    assert "Traceback" not in err


def test_unknown_commands_and_services_are_refused():
    for argv in (["fly"], ["service", "billing"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def test_the_console_script_and_python_m_agree():
    for command in ([sys.executable, "-m", "tandem", "demo", "--mentors", "0"],
                    [sys.executable, "-m", "tandem.cli", "demo", "--mentors", "0"]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 2 and "must be at least 1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[1]", "expected a JSON object"),
    ('{"program_id": "p"}', "name: Field required"),
    ('{"program_id": "p", "name": "P", "timezone": "Mars/Olympus"}', "timezone: unknown IANA time zone"),
    ('{"program_id": "p", "name": "P", "ops_contacts": [{"name": "A", "email": "a@x.io", "channel": "chat"}]}',
     "ops_contacts.0: channel 'chat' needs a webhook_url"),
])
def test_program_configure_checks_the_file_before_publishing(tmp_path, capsys, content, message):
    path = tmp_path / "program.json"
    path.write_text(content)
    assert main(["program", "configure", "--file", str(path), "--bootstrap-servers", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
