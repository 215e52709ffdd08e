"""The live stream's settings: defaults, parsing and refusals that name the variable."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError


def test_the_stream_settings_default_to_what_docs_stream_md_says() -> None:
    settings = Settings.from_env({})
    assert (settings.stream_token_seconds, settings.stream_heartbeat_seconds, settings.stream_coalesce_ms) == (
        300,
        15.0,
        250,
    )
    assert (settings.stream_queue_events, settings.stream_max_subscribers) == (32, 10_000)


def test_the_stream_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"BILLING_STREAM_HEARTBEAT_SECONDS": "0.5", "BILLING_STREAM_COALESCE_MS": "0"})
    assert (settings.stream_heartbeat_seconds, settings.stream_coalesce_ms) == (0.5, 0)
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BILLING_STREAM_TOKEN_SECONDS": "0"}, "BILLING_STREAM_TOKEN_SECONDS=0: expected an integer of at least 1"),
        ({"BILLING_STREAM_QUEUE_EVENTS": "0"}, "BILLING_STREAM_QUEUE_EVENTS=0: expected an integer of at least 1"),
        (
            {"BILLING_STREAM_MAX_SUBSCRIBERS": "0"},
            "BILLING_STREAM_MAX_SUBSCRIBERS=0: expected an integer of at least 1",
        ),
        ({"BILLING_STREAM_COALESCE_MS": "-1"}, "BILLING_STREAM_COALESCE_MS=-1: expected an integer of at least 0"),
        (
            {"BILLING_STREAM_HEARTBEAT_SECONDS": "0"},
            "BILLING_STREAM_HEARTBEAT_SECONDS=0.0: expected a number of seconds",
        ),
        ({"BILLING_STREAM_HEARTBEAT_SECONDS": "inf"}, "BILLING_STREAM_HEARTBEAT_SECONDS=inf: expected a number of"),
    ],
)
def test_unusable_stream_settings_are_refused_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(environ)
