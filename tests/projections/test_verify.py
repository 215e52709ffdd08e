"""The independent checker finds nothing on honest tables and every corruption."""

from __future__ import annotations

import asyncpg
import pytest

from projections.verify import verify
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration


async def some_invoices(conn: asyncpg.Connection) -> None:
    a = InvoiceBuilder(lines=[line("usage", "one_time", 7001, 1400), line("fixed", "recurring", 3000, 0)])
    b = InvoiceBuilder(currency="JPY", customer="cus-2", lines=[line(net=1500, tax=150)])
    c = InvoiceBuilder(customer="cus-2")
    await project(conn, [a.created(), a.sent(), a.paid("33.33"), b.created(), b.sent(), c.created(), c.voided()])


async def test_honest_tables_have_no_differences(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    assert await verify(conn, "proj_1") == []


async def test_a_corrupted_summary_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute(
        "UPDATE proj_1.currency_totals SET receivable_balance = receivable_balance + 1 WHERE currency = 'EUR'"
    )
    differences = await verify(conn, "proj_1")
    assert [(d.table, d.column) for d in differences] == [("currency_totals", "receivable_balance")]
    assert differences[0].live == differences[0].expected + 1


async def test_a_corrupted_invoice_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("UPDATE proj_1.invoices SET amount_paid = 1 WHERE currency = 'JPY'")
    differences = await verify(conn, "proj_1")
    assert ("invoices", "amount_paid") in [(d.table, d.column) for d in differences]
    # The summaries are recomputed from the (corrupt) rows, so the sums disagree too.
    assert any(d.table == "currency_totals" for d in differences)


async def test_a_missing_invoice_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("DELETE FROM proj_1.invoices WHERE customer_id = 'cus-2' AND currency = 'EUR'")
    differences = await verify(conn, "proj_1")
    assert any(d.table == "invoices" and d.live is None for d in differences)


async def test_a_corrupted_timeline_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("UPDATE proj_1.invoice_changes SET collected = collected + 1 WHERE collected > 0")
    differences = await verify(conn, "proj_1")
    assert ("invoice_changes", "collected") in [(d.table, d.column) for d in differences]
    # The per-day sums are recomputed from the (corrupt) rows, so they disagree too.
    assert ("currency_daily", "collected") in [(d.table, d.column) for d in differences]


async def test_a_timeline_row_recorded_at_another_time_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("UPDATE proj_1.invoice_changes SET recorded_at = recorded_at - interval '1 day'")
    assert {d.table for d in await verify(conn, "proj_1")} == {"invoice_changes"}


async def test_a_missing_payment_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("DELETE FROM proj_1.payments")
    differences = await verify(conn, "proj_1")
    assert [(d.table, d.live) for d in differences] == [("payments", None)]
