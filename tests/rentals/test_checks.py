"""The RENTALS_* system check names the bad setting."""

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from equipment_rentals.checks import check_rentals_settings
from tests.properties import property_settings


def test_the_defaults_pass():
    assert check_rentals_settings() == []


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("RENTALS_TIME_ZONE", "Mars/Olympus", "rentals.E001"),
        ("RENTALS_TIME_ZONE", "../etc/passwd", "rentals.E001"),
        ("RENTALS_DATA_GAP_HOURS", 0, "rentals.E002"),
        ("RENTALS_DATA_GAP_HOURS", float("nan"), "rentals.E002"),
        ("RENTALS_EXPORT_MAX_ROWS", -1, "rentals.E002"),
        ("RENTALS_RECOMPUTE_DAYS", 5, "rentals.E003"),
        ("RENTALS_TOPIC", "", "rentals.E004"),
    ],
)
def test_a_bad_setting_is_an_error_naming_it(settings, name, value, check_id):
    setattr(settings, name, value)
    [error] = check_rentals_settings()
    assert error.id == check_id and name in error.msg


@property_settings(max_examples=100)
@given(
    st.sampled_from(
        ["RENTALS_TIME_ZONE", "RENTALS_DATA_GAP_HOURS", "RENTALS_EXPORT_MAX_ROWS", "RENTALS_RECOMPUTE_DAYS"]
    ),
    st.one_of(st.none(), st.text(max_size=20), st.floats(), st.integers(), st.booleans()),
)
def test_any_value_passes_or_is_an_error_naming_the_setting(name, value):
    with override_settings(**{name: value}):
        for error in check_rentals_settings():
            assert name in error.msg
