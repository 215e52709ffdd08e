"""The bounds of held events as settings: defaults, parsing and refusals that
name the variable."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError


def test_held_events_are_bounded_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.held_max_per_tenant == 10_000
    assert settings.held_max_age_seconds == 7 * 24 * 3600


def test_the_bounds_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"BILLING_HELD_MAX_PER_TENANT": "500", "BILLING_HELD_MAX_AGE_SECONDS": "0.5"})
    assert (settings.held_max_per_tenant, settings.held_max_age_seconds) == (500, 0.5)
    assert settings.to_env()["BILLING_HELD_MAX_PER_TENANT"] == "500"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BILLING_HELD_MAX_PER_TENANT": "0"}, "BILLING_HELD_MAX_PER_TENANT=0: expected an integer of at least 1"),
        ({"BILLING_HELD_MAX_PER_TENANT": "many"}, "BILLING_HELD_MAX_PER_TENANT='many': expected an integer"),
        ({"BILLING_HELD_MAX_AGE_SECONDS": "0"}, "BILLING_HELD_MAX_AGE_SECONDS=0.0: expected a number of seconds"),
        ({"BILLING_HELD_MAX_AGE_SECONDS": "-5"}, "BILLING_HELD_MAX_AGE_SECONDS=-5.0: expected a number of seconds"),
        ({"BILLING_HELD_MAX_AGE_SECONDS": "inf"}, "BILLING_HELD_MAX_AGE_SECONDS=inf: expected a number of seconds"),
        ({"BILLING_HELD_MAX_AGE_SECONDS": "week"}, "BILLING_HELD_MAX_AGE_SECONDS='week': expected a number"),
    ],
)
def test_unusable_bounds_are_refused_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)
    assert str(error.value).startswith(message)
