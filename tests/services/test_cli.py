"""The operator's CLI, run as operators run it: `billing <command>` in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg
import pytest

from services.settings import Settings
from tests.factories import InvoiceBuilder
from tests.projected import project

pytestmark = pytest.mark.integration


def billing(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env(), "BILLING_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_every_command_has_help(settings: Settings) -> None:
    for command in (
        "migrate",
        "worker",
        "api",
        "keys",
        "replay",
        "promote",
        "verify",
        "versions",
        "status",
        "quarantine",
        "fx",
        "demo",
        "topics",
    ):
        result = billing(settings, command, "--help")
        assert result.returncode == 0 and "usage: billing" in result.stdout, command


async def test_keys_are_created_listed_and_revoked(settings: Settings) -> None:
    created = billing(settings, "keys", "create", "acme", "--name", "dashboard")
    assert created.returncode == 0
    key = created.stdout.split(": ")[1].split()[0]
    assert key.startswith("bk_")
    listed = billing(settings, "keys", "list", "--tenant", "acme")
    assert "dashboard" in listed.stdout and "active" in listed.stdout and key not in listed.stdout
    key_id = listed.stdout.split()[0]
    assert billing(settings, "keys", "revoke", key_id).returncode == 0
    assert "revoked" in billing(settings, "keys", "list").stdout
    assert billing(settings, "keys", "revoke", key_id).returncode == 1


async def test_status_quarantine_verify_and_replay_from_the_command_line(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    inv = InvoiceBuilder()
    await project(conn, [inv.created(), inv.sent(), inv.sent(), b"\xff not json"], topic=settings.topic)
    assert billing(settings, "migrate").stdout.strip() == "migrations applied: none (up to date)"

    status = json.loads(billing(settings, "status", "--json").stdout)
    assert status["quarantinedByReason"] == {"malformed": 1, "sent_twice": 1}
    assert status["outcomes"]["applied"] == 2
    assert [p["partition"] for p in status["partitions"]] == [0]

    listed = billing(settings, "quarantine", "list", "--reason", "malformed")
    quarantine_id = listed.stdout.split()[0]
    shown = billing(settings, "quarantine", "show", quarantine_id)
    assert "raw (hex)" in shown.stdout and "decoded today: malformed" in shown.stdout
    retried = billing(settings, "quarantine", "retry", quarantine_id)
    assert retried.stdout.startswith(f"{quarantine_id}\tquarantined (malformed")

    assert billing(settings, "verify").returncode == 0
    await conn.execute("UPDATE proj_1.customer_totals SET sent_gross = sent_gross + 7")
    corrupt = billing(settings, "verify")
    assert corrupt.returncode == 1 and "customer_totals" in corrupt.stdout and "sent_gross" in corrupt.stdout

    replayed = billing(settings, "replay", "--promote")
    assert replayed.returncode == 0 and "version 2 is active" in replayed.stdout, replayed.stderr
    assert billing(settings, "verify").returncode == 0  # the rebuild repaired the corruption
    assert "retired" in billing(settings, "versions").stdout
    assert billing(settings, "versions", "drop", "1").returncode == 0
    assert billing(settings, "versions", "drop", "2").returncode == 2  # the active one stays


async def test_a_database_without_schema_gets_a_clear_message(settings: Settings, make_database) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute("CREATE DATABASE billing_cli_empty")
    finally:
        await admin.close()
    try:
        url = settings.database_url.rsplit("/", 1)[0] + "/billing_cli_empty"
        result = billing(msgspec.structs.replace(settings, database_url=url), "status")
        assert result.returncode == 4 and "run `billing migrate`" in result.stderr
    finally:
        admin = await asyncpg.connect(settings.database_url)
        await admin.execute("DROP DATABASE billing_cli_empty WITH (FORCE)")
        await admin.close()
