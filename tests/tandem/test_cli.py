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
