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


def test_the_tools_look_for_kafka_where_the_services_do(monkeypatch):
    """Without KAFKA_BOOTSTRAP_SERVERS, `tandem dlq`, `topics` and `program` use the local stack's broker,
    the services' default (the README's); with it, that."""
    from shared.settings import ServiceSettings
    from tandem.cli import LOCAL_BROKER, build_parser
    from tandem.local.stack import Ports

    assert LOCAL_BROKER == ServiceSettings.model_fields["kafka_bootstrap_servers"].default == f"127.0.0.1:{Ports.kafka}"
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for argv in (["dlq", "list"], ["topics"], ["program", "configure", "--file", "p.json"]):
        assert build_parser().parse_args(argv).bootstrap_servers == LOCAL_BROKER
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    assert build_parser().parse_args(["dlq", "list"]).bootstrap_servers == "kafka.internal:9092"


def test_a_broker_out_of_reach_is_one_line_not_a_traceback(capsys):
    assert main(["dlq", "list", "--bootstrap-servers", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem dlq: error: cannot read the dead letters from 127.0.0.1:1") and "Traceback" not in err
