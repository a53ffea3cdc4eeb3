"""Program scheduling settings."""

import pytest
from pydantic import ValidationError

from services.scheduling.domain import PlanningRules


def test_defaults_are_the_program_defaults():
    rules = PlanningRules()
    assert (rules.min_notice_hours, rules.buffer_minutes, rules.cadence_days, rules.duration_minutes,
            rules.tolerance_days) == (48, 15, 14, 45, 3)
    assert rules.notice == 48 * 3600 and rules.duration == 45 * 60 and rules.granularity == 15 * 60


def test_rules_are_frozen_and_strict():
    rules = PlanningRules()
    with pytest.raises(ValidationError):
        rules.cadence_days = 7
    with pytest.raises(ValidationError):
        PlanningRules(cadence_dayz=7)


@pytest.mark.parametrize("field, value", [
    ("granularity_minutes", 7), ("granularity_minutes", 0), ("duration_minutes", 0), ("cadence_days", 0),
    ("min_notice_hours", -1), ("tolerance_days", -1), ("buffer_minutes", -5), ("comfort_minutes", 13 * 60),
])
def test_nonsense_settings_are_rejected(field, value):
    with pytest.raises(ValidationError):
        PlanningRules(**{field: value})
