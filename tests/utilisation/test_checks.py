"""Bad UTILISATION_* settings fail ``manage.py check`` naming the setting and the fix; generated
calendars and classes never crash the check."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from equipment_utilisation.checks import check_utilisation_settings
from tests.properties import property_settings


def messages(settings) -> str:
    return "\n".join(error.msg for error in check_utilisation_settings())


def test_the_defaults_pass(settings):
    assert check_utilisation_settings() == []


@pytest.mark.parametrize(
    "name, value, named",
    [
        ("UTILISATION_MODEL_CLASSES", {"D9": "bulldozer"}, "'bulldozer'"),
        ("UTILISATION_DEFAULT_CLASS", "tractor", "'tractor'"),
        ("UTILISATION_TIME_ZONE", "Mars/Olympus", "'Mars/Olympus'"),
        ("UTILISATION_SITES", {"Site A": {"TIME_ZONE": "Europe/Nowhere"}}, "'Europe/Nowhere'"),
        ("UTILISATION_SITES", {"Site A": {"CALENDAR": "night-shift"}}, "'night-shift'"),
        ("UTILISATION_MACHINE_TIME_ZONES", {"EX1": "UTC+2"}, "'UTC+2'"),
        ("UTILISATION_DEFAULT_CALENDAR", "five-day", "'five-day'"),
        ("UTILISATION_CLASSES", {"other": {"JUDGED_BY": "vibes"}}, "JUDGED_BY"),
        ("UTILISATION_CALENDARS", {"standard": {"HOURS": {"monday": 8}}}, "HOURS"),
        ("UTILISATION_CALENDARS", {"standard": {"HOURS": {"mon": 25}}}, "HOURS"),
        ("UTILISATION_HOLIDAYS", ["25/12/2026"], "'25/12/2026'"),
        ("UTILISATION_IDLE_MIN_SECONDS", -1, "UTILISATION_IDLE_MIN_SECONDS"),
    ],
)
def test_an_unknown_class_zone_or_calendar_is_an_error_naming_it(settings, name, value, named):
    setattr(settings, name, value)
    text = messages(settings)
    assert named in text and name.split("_", 1)[1] in text.replace("settings.UTILISATION_", "")


@given(
    calendars=st.dictionaries(
        st.text(max_size=5),
        st.one_of(
            st.none(),
            st.integers(),
            st.dictionaries(
                st.sampled_from(["HOURS", "HOLIDAYS", "X"]),
                st.one_of(st.integers(), st.text(max_size=4), st.dictionaries(st.text(max_size=3), st.floats())),
            ),
        ),
        max_size=3,
    ),
    classes=st.dictionaries(
        st.text(max_size=5),
        st.dictionaries(st.sampled_from(["JUDGED_BY", "CALENDAR"]), st.text(max_size=10)),
        max_size=3,
    ),
)
@example(calendars={"a": {"HOLIDAYS": 5}}, classes={})  # found by the property: a crash, now an error
@property_settings(100, deadline=None)
def test_generated_settings_give_errors_never_a_crash(calendars, classes):
    from django.test import override_settings

    with override_settings(UTILISATION_CALENDARS=calendars, UTILISATION_CLASSES=classes):
        errors = check_utilisation_settings()
    assert all(error.id.startswith("utilisation.") for error in errors)
