"""Verify and replay cover the customer standing: a wrong or missing row is
reported, and a rebuilt version has the live version's rows."""

from __future__ import annotations

import asyncpg
import pytest

from projections import standing
from projections.verify import verify
from services import operations
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration


async def some_invoices(conn: asyncpg.Connection) -> None:
    a = InvoiceBuilder(customer="cus-1", lines=[line(net=10000, tax=0)])
    b = InvoiceBuilder(customer="cus-1", currency="JPY", lines=[line(net=1500, tax=150)])
    c = InvoiceBuilder(customer="cus-2")
    await project(conn, [a.created(), a.sent(), a.paid("33.33"), b.created(), b.sent(), c.created(), c.voided()])


async def rows(conn: asyncpg.Connection, schema: str) -> list[tuple[object, ...]]:
    columns = ", ".join(standing.FIGURE_COLUMNS)
    query = f"SELECT tenant_id, currency, customer_id, {columns}, stale_from FROM {schema}.customer_standing"
    return sorted(tuple(r.values()) for r in await conn.fetch(query + " ORDER BY 1, 2, 3"))


async def test_a_wrong_standing_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    assert await verify(conn, "proj_1") == []
    await conn.execute(
        "UPDATE proj_1.customer_standing SET receivable_balance = 1 WHERE customer_id = 'cus-1' AND currency = 'EUR'"
    )
    differences = await verify(conn, "proj_1")
    assert [(d.table, d.key, d.column, d.live) for d in differences] == [
        ("customer_standing", ("acme", "EUR", "cus-1"), "receivable_balance", 1)
    ]


async def test_a_missing_standing_row_is_reported(conn: asyncpg.Connection) -> None:
    await some_invoices(conn)
    await conn.execute("DELETE FROM proj_1.customer_standing WHERE customer_id = 'cus-2'")
    differences = await verify(conn, "proj_1")
    assert [(d.table, d.key, d.live, d.expected) for d in differences] == [
        ("customer_standing", ("acme", "EUR", "cus-2"), None, "row")
    ]


async def test_a_rebuilt_version_has_the_live_rows(conn: asyncpg.Connection, database_url: str) -> None:
    await some_invoices(conn)
    before = await rows(conn, "proj_1")
    assert len(before) == 3
    read = await asyncpg.connect(database_url)
    try:
        await operations.rebuild(read, conn, promote=True)
    finally:
        await read.close()
    assert await rows(conn, "proj_2") == before
    assert await verify(conn, "proj_2") == []
