"""Program settings: validated on the wire, stored as configured, resolved with the deployment's
defaults when used; a new configuration replaces the previous one whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared import programs
from shared.contracts import events as ev
from shared.contracts.examples import PROGRAM
from shared.settings import ServiceSettings
from tests.support.fakes import FakeUnitOfWork, FixedClock, deliver

NOW = datetime(2027, 1, 4, 8, tzinfo=UTC)
DEFAULTS = ServiceSettings(cadence_days=14, response_window_hours=72, program_timezone="UTC")


async def test_the_teams_settings_win_and_the_defaults_fill_the_rest():
    uow = FakeUnitOfWork(FixedClock(NOW))
    await deliver(programs.PROGRAM_SUBSCRIPTIONS, ev.ProgramConfigured.model_validate(
        {"program_id": "p1", "name": "Pilot", "cadence_days": 7, "matching_weights": {"goal_fit": 2},
         "ops_contacts": [{"name": "Ann", "email": "ann@example.com", "locale": "nl"}]}), uow, None)
    settings = await uow.program_settings.get("p1", DEFAULTS)
    assert (settings.name, settings.cadence_days, settings.response_window_hours) == ("Pilot", 7, 72)
    assert settings.matching_weights["goal_fit"] == 2 and settings.matching_weights["language"] == 0.10
    assert settings.ops_contacts[0].email == "ann@example.com" and settings.configured

    # The next configuration replaces the previous one whole: what it leaves out is the default again.
    await deliver(programs.PROGRAM_SUBSCRIPTIONS, ev.ProgramConfigured(program_id="p1", name="Pilot"), uow, None)
    again = await uow.program_settings.get("p1", DEFAULTS)
    assert again.cadence_days == 14 and again.ops_contacts == () and again.matching_weights["goal_fit"] == 0.40


async def test_an_unconfigured_program_runs_on_the_defaults():
    settings = await FakeUnitOfWork(FixedClock(NOW)).program_settings.get("nobody-set-me", DEFAULTS)
    assert settings.name == "nobody-set-me" and settings.timezone == "UTC" and not settings.configured
    assert settings.reminder_offsets_minutes == (1440, 60)


@pytest.mark.parametrize("change, message", [
    ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
    ({"cadence_days": 0}, "greater than or equal to 1"),
    ({"reminder_offsets_minutes": [0]}, "between 1 minute and 14 days"),
    ({"ops_contacts": [{"name": "A", "email": "not-mail"}]}, "not an e-mail address"),
    ({"ops_contacts": [{"name": "A", "email": "a@example.com", "channel": "chat"}]}, "needs a webhook_url"),
    ({"matching_weights": {"goal_fit": 0, "availability": 0, "seniority": 0, "perspective": 0, "language": 0}},
     "at least one weight must be positive"),
    ({"name": ""}, "at least 1 character"),
])
def test_bad_settings_are_refused_with_the_reason(change, message):
    with pytest.raises(ValidationError) as info:
        ev.ProgramConfigured.model_validate({**PROGRAM, **change})
    assert message in str(info.value)
