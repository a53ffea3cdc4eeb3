"""Input errors of the offline tools and `tandem program configure`: they name where, and the field."""

from __future__ import annotations

import pytest

from shared.contracts import events as ev
from tandem.cli import CliError
from tandem.jsonl import validated

TWO_BAD = {"program_id": "p", "name": "P", "cadence_days": 0,
           "ops_contacts": [{"name": "X", "email": "not-an-email", "locale": "nl"}]}


@pytest.mark.parametrize("where", ["line 7", "pairs.jsonl line 7"])
def test_a_line_of_jsonl_names_the_line_and_how_many_more_errors_it_holds(where):
    with pytest.raises(CliError, match=rf"^{where}: .+ \(and 1 more error on this line\)$"):
        validated(ev.ProgramConfigured, TWO_BAD, where)


def test_a_whole_file_is_not_called_a_line():
    with pytest.raises(CliError) as raised:
        validated(ev.ProgramConfigured, TWO_BAD, "program.json")
    assert str(raised.value).startswith("program.json: ") and str(raised.value).endswith("(and 1 more error)")
