"""`billing held list|show|release-to-quarantine`, run as operators run them:
rows on stdout, header and counts on stderr, --json, paging, exit codes; a
release quarantines (gap_timeout) with a dead-letter copy, and `billing
quarantine retry` applies the event once its gap has filled."""

from __future__ import annotations

import json

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import encode
from services.settings import Settings
from tests.factories import InvoiceBuilder
from tests.projected import TOPIC, project
from tests.services.test_cli import billing

pytestmark = pytest.mark.integration

HEADER = "held\tage (s)\ttenant\tinvoice\tsequence\twaiting for\tposition\tevent id"


def rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


async def test_held_commands_have_help(settings: Settings) -> None:
    for action in ("list", "show", "release-to-quarantine"):
        result = billing(settings, "held", action, "--help")
        assert result.returncode == 0 and "usage: billing held" in result.stdout, action


async def test_held_list_pages_filters_and_prints_json(settings: Settings, conn: asyncpg.Connection) -> None:
    none = billing(settings, "held", "list")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "no held events match (of 0)\n")

    invoices = [InvoiceBuilder(f"inv-{n}") for n in range(3)]
    for inv in invoices:
        inv.created()
    other = InvoiceBuilder("inv-g", tenant="globex")
    other.created()
    await project(conn, [inv.sent() for inv in invoices] + [other.sent()])

    first = billing(settings, "held", "list", "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        HEADER,
        "showing 1-2 of 4 held event(s); next page: --offset 2 (cap 10000 per tenant, 604800 s at most)",
    ]
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in rows(first.stdout)] == [
        ("acme", "inv-0", "2", "1", f"{TOPIC}:0:0"),
        ("acme", "inv-1", "2", "1", f"{TOPIC}:0:1"),
    ]
    last = billing(settings, "held", "list", "--limit", "2", "--offset", "2")
    assert last.stderr.splitlines()[-1].startswith("showing 3-4 of 4 held event(s) (cap")
    acme = billing(settings, "held", "list", "--tenant", "globex")
    assert [r[3] for r in rows(acme.stdout)] == ["inv-g"]
    assert billing(settings, "held", "list", "--older-than", "3600").stderr == "no held events match (of 0)\n"
    beyond = billing(settings, "held", "list", "--offset", "9")
    assert beyond.stderr == "no held events match at offset 9 (of 4)\n"

    page = json.loads(billing(settings, "held", "list", "--tenant", "acme", "--invoice", "inv-1", "--json").stdout)
    assert (page["total"], page["offset"], page["limit"]) == (1, 0, 100)
    [item] = page["items"]
    assert (item["tenantId"], item["invoiceId"], item["sequence"], item["waitingFor"]) == ("acme", "inv-1", 2, 1)
    assert (item["topic"], item["partition"], item["kafkaOffset"]) == (TOPIC, 0, 1)

    assert billing(settings, "held", "list", "--invoice", "inv-1").returncode == 2  # needs --tenant
    assert billing(settings, "held", "list", "--limit", "0").returncode == 2
    assert billing(settings, "held", "list", "--older-than", "soon").returncode == 2


async def test_held_show_prints_one_held_event(settings: Settings, conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder("inv-1")
    inv.created()
    sent = inv.sent()
    await project(conn, [sent])
    shown = billing(settings, "held", "show", "acme", "inv-1", "2")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"acme/inv-1#2: event {sent.id}"
    assert lines[1] == f"position {TOPIC}:0:0"
    assert lines[3] == "waiting for sequence 1 of the invoice"
    assert encode(sent).decode() in shown.stdout
    document = json.loads(billing(settings, "held", "show", "acme", "inv-1", "2", "--json").stdout)
    assert (document["eventId"], document["body"]) == (sent.id, encode(sent).decode())
    missing = billing(settings, "held", "show", "acme", "inv-1", "3")
    assert (missing.returncode, missing.stderr) == (1, "no held event acme/inv-1#3\n")


async def test_release_to_quarantine_then_retry_once_the_gap_fills(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    inv, kept = InvoiceBuilder("inv-1"), InvoiceBuilder("inv-2")
    created, sent = inv.created(), inv.sent()
    kept.created()
    await project(conn, [sent, kept.sent()])

    refused = billing(settings, "held", "release-to-quarantine")
    assert refused.returncode == 2
    assert refused.stderr == "billing held: release-to-quarantine: give --tenant, --older-than or --all\n"
    assert billing(settings, "held", "release-to-quarantine", "--tenant", "acme", "--sequence", "2").returncode == 2

    released = billing(settings, "held", "release-to-quarantine", "--tenant", "acme", "--invoice", "inv-1")
    assert released.returncode == 0, released.stderr
    assert rows(released.stdout) == [["acme", "inv-1", "2", sent.id]]
    assert released.stderr.startswith("released 1 held event(s) to quarantine (reason gap_timeout)")
    assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 1
    row = await conn.fetchrow("SELECT id, reason, detail, raw, kafka_offset FROM billing.quarantine")
    assert row is not None
    assert (row["reason"], bytes(row["raw"]), row["kafka_offset"]) == ("gap_timeout", encode(sent), 0)
    assert row["detail"].startswith("released to quarantine by an operator: sequence 2 of invoice inv-1 waited")

    dlq = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        copies = [r for batch in (await dlq.getmany(timeout_ms=10_000)).values() for r in batch]
    finally:
        await dlq.stop()
    [copy] = copies
    assert copy.value == encode(sent)
    assert dict(copy.headers)["dlq_reason"] == b"gap_timeout"

    await project(conn, [created])
    retried = billing(settings, "quarantine", "retry", "--reason", "gap_timeout")
    assert retried.stdout == f"{row['id']}\tapplied\n", retried.stderr
    assert (
        await conn.fetchval("SELECT cardinality(event_ids) FROM billing_read.invoices WHERE invoice_id = 'inv-1'") == 2
    )
