"""Quarantine tools: a fixed event is applied exactly once by a retry."""

from __future__ import annotations

import asyncpg
import pytest

from contracts import encode
from projections import quarantine
from projections.verify import verify
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration


async def outcome_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT outcome, reason, sum(count)::int AS n FROM billing.event_outcomes GROUP BY 1, 2")
    return {f"{r['outcome']}:{r['reason']}" if r["reason"] else r["outcome"]: r["n"] for r in rows if r["n"]}


async def test_a_quarantined_event_retried_after_its_gap_filled_applies_exactly_once(conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    created, sent = inv.created(), inv.sent()
    wrong_first = inv.paid("30.00", sequence=1)  # a publisher bug: sequence 1 is not a created event
    await project(conn, [wrong_first])
    [event] = await quarantine.list_events(conn)
    assert event.reason == "invalid_sequence"
    # The publisher fixes its data: the real history arrives; the payment still waits in quarantine.
    await project(conn, [created, sent])
    retried_payment = inv.paid("30.00", sequence=3, event_id="pay-fixed")
    await project(conn, [b"not json"])
    [poison] = await quarantine.list_events(conn, reason="malformed")

    # Retrying the poison changes nothing: it stays, with its reason.
    [report] = await quarantine.retry(conn, [poison.id])
    assert (report.outcome, report.reason) == ("quarantined", "malformed")

    await project(conn, [retried_payment])
    assert await conn.fetchval("SELECT amount_paid FROM billing_read.invoices") == 3000
    before = await outcome_counts(conn)
    [report] = await quarantine.retry(conn, [event.id])
    # sequence 1 is taken by the created event now: the retry finds a conflict and says so.
    assert (report.outcome, report.reason) == ("quarantined", "sequence_conflict")
    expected = {k: v for k, v in before.items() if k != "quarantined:invalid_sequence"}
    assert await outcome_counts(conn) == {**expected, "quarantined:sequence_conflict": 1}
    assert await conn.fetchval("SELECT amount_paid FROM billing_read.invoices") == 3000


async def test_a_payment_quarantined_for_a_bug_applies_once_when_retried(conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    created, sent, paid, later = inv.created(), inv.sent(), inv.paid("40.00"), inv.paid("10.00")
    await project(conn, [created, sent])
    # Simulate a fold bug of the past: the payment landed in quarantine although it is valid.
    await project(conn, [b"placeholder"])
    await conn.execute(
        "UPDATE billing.quarantine SET raw = $1, kafka_key = $2, reason = 'paid_after_void'",
        encode(paid),
        inv.invoice_id.encode(),
    )
    await conn.execute("UPDATE billing.event_outcomes SET reason = 'paid_after_void' WHERE outcome = 'quarantined'")
    await project(conn, [later])  # held behind the quarantined payment
    assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 1
    [event] = await quarantine.list_events(conn)
    [report] = await quarantine.retry(conn, [event.id])
    assert report.outcome == "applied"
    assert await conn.fetchval("SELECT amount_paid FROM billing_read.invoices") == 5000
    assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 0
    # A second retry of the same row does nothing: it is no longer open.
    assert await quarantine.retry(conn, [event.id]) == []
    assert await conn.fetchval("SELECT amount_paid FROM billing_read.invoices") == 5000
    counts = await outcome_counts(conn)
    assert counts.get("quarantined:paid_after_void", 0) == 0
    assert counts["applied"] == 4 and counts["released"] == 1
    assert await verify(conn, "proj_1") == []


async def test_the_quarantine_can_be_listed_by_reason_and_tenant_and_shown(conn: asyncpg.Connection) -> None:
    a, b = InvoiceBuilder(tenant="t1"), InvoiceBuilder(tenant="t2")
    await project(conn, [a.created(), a.sent(), a.sent(), b.created(), b.voided(), b.paid("1.00"), b"{"])
    assert [e.reason for e in await quarantine.list_events(conn, tenant="t1")] == ["sent_twice"]
    assert [e.tenant_id for e in await quarantine.list_events(conn, reason="paid_after_void")] == ["t2"]
    malformed = (await quarantine.list_events(conn, reason="malformed"))[0]
    shown = await quarantine.get(conn, malformed.id)
    assert shown is not None and shown.raw == b"{" and shown.decode_attempt().startswith("malformed")
    assert await quarantine.dismiss(conn, [malformed.id]) == 1
    assert await quarantine.list_events(conn, reason="malformed") == []
