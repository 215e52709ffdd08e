"""What the listing commands print: rows on stdout, the header and counts on
stderr, --json documents, paging of the quarantine, and a clear line when
there is nothing to list. Run as operators run them: `billing` in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg
import pytest

from services import keys
from tests.projected import project

pytestmark = pytest.mark.integration


def billing(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BILLING_DATABASE_URL": database_url, "BILLING_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


async def test_keys_list_has_a_header_a_count_and_json(database_url: str, conn: asyncpg.Connection) -> None:
    empty = billing(database_url, "keys", "list")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "no API keys: `billing keys create`\n")
    assert json.loads(billing(database_url, "keys", "list", "--json").stdout) == []

    first, _ = await keys.create(conn, "acme", "portal")
    await keys.create(conn, "globex", "")
    await keys.revoke(conn, first.id)
    listed = billing(database_url, "keys", "list")
    assert listed.returncode == 0
    assert listed.stderr.splitlines() == ["id\ttenant\tprefix\tname\tcreated\tstate", "2 key(s), 1 active"]
    assert [(r[0], r[1], r[3], r[5].split()[0]) for r in rows(listed.stdout)] == [
        (str(first.id), "acme", "portal", "revoked"),
        (str(first.id + 1), "globex", "-", "active"),
    ]
    document = json.loads(billing(database_url, "keys", "list", "--tenant", "acme", "--json").stdout)
    assert [(k["id"], k["tenantId"], k["name"], k["revokedAt"] is not None) for k in document] == [
        (first.id, "acme", "portal", True)
    ]
    assert "keyHash" not in document[0]


async def test_quarantine_list_pages_and_says_how_many_match(database_url: str, conn: asyncpg.Connection) -> None:
    none = billing(database_url, "quarantine", "list")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "no open quarantined events match (of 0)\n")

    await project(conn, [b"\xff not json %d" % i for i in range(5)])
    first = billing(database_url, "quarantine", "list", "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        "id\tquarantined\treason\tstatus\tposition\ttenant\tevent id",
        "showing 1-2 of 5 open quarantined event(s); next page: --offset 2",
    ]
    ids = [int(r[0]) for r in rows(first.stdout)]
    assert len(ids) == 2 and [r[2:5] for r in rows(first.stdout)] == [
        ["malformed", "open", "invoice-events:0:0"],
        ["malformed", "open", "invoice-events:0:1"],
    ]
    last = billing(database_url, "quarantine", "list", "--limit", "2", "--offset", "4")
    assert last.stderr.splitlines()[-1] == "showing 5-5 of 5 open quarantined event(s)"
    assert [r[4] for r in rows(last.stdout)] == ["invoice-events:0:4"]
    beyond = billing(database_url, "quarantine", "list", "--offset", "9")
    assert beyond.stderr == "no open quarantined events match at offset 9 (of 5)\n"

    page = json.loads(billing(database_url, "quarantine", "list", "--limit", "3", "--offset", "1", "--json").stdout)
    assert (page["total"], page["offset"], page["limit"], len(page["items"])) == (5, 1, 3, 3)
    assert page["items"][0]["kafkaOffset"] == 1 and page["items"][0]["reason"] == "malformed"

    bad = billing(database_url, "quarantine", "list", "--since", "yesterday")
    assert bad.returncode == 2
    assert bad.stderr == "billing quarantine: --since 'yesterday': expected an ISO date or date-time (UTC)\n"
    assert billing(database_url, "quarantine", "list", "--limit", "0").returncode == 2


async def test_fx_list_says_when_no_rates_are_loaded_and_lists_them_as_json(database_url: str) -> None:
    empty = billing(database_url, "fx", "list")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert empty.stderr == "no FX rates loaded: converted grand totals are unavailable until `billing fx load`\n"
    assert json.loads(billing(database_url, "fx", "list", "--json").stdout) == []

    assert billing(database_url, "fx", "load", "--to", "EUR", "USD=0.92@2026-11-20").returncode == 0
    listed = billing(database_url, "fx", "list")
    assert listed.stderr.splitlines() == [
        "base\tquote\trate\tas of\tloaded",
        "1 rate(s): 1 unit of base = rate units of quote",
    ]
    assert [r[:4] for r in rows(listed.stdout)] == [["USD", "EUR", "0.92", "2026-11-20"]]
    document = json.loads(billing(database_url, "fx", "list", "--json").stdout)
    assert [(r["base"], r["quote"], r["rate"], r["asOf"]) for r in document] == [("USD", "EUR", "0.92", "2026-11-20")]


async def test_versions_list_with_a_header_and_as_json(database_url: str) -> None:
    listed = billing(database_url, "versions")
    assert listed.returncode == 0
    assert listed.stderr.splitlines() == ["version\tschema\tstatus\tapplied seq\tcreated\tpromoted\tretired"]
    assert [r[:3] for r in rows(listed.stdout)] == [["1", "proj_1", "active"]]
    for args in (("versions", "--json"), ("versions", "list", "--json"), ("versions", "--json", "list")):
        document = json.loads(billing(database_url, *args).stdout)
        assert [(v["version"], v["schemaName"], v["status"]) for v in document] == [(1, "proj_1", "active")], args
