"""The standing rows kept by delta (projections/standing.py): a batch adds
its changes to the rows and recomputes only those whose oldest or next due
date it empties, or that are of another day; each case ends equal to a
recompute from scratch and to verify's definition."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec
import pytest

from contracts import InvoiceCreated
from projections import standing
from projections.verify import verify
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration

TODAY = standing.today()
DAY = dt.timedelta(days=1)
COLUMNS = ", ".join((*standing.FIGURE_COLUMNS, "as_of_day", "stale_from"))


def invoice(due: dt.date, gross: int = 10000) -> InvoiceBuilder:
    return InvoiceBuilder(lines=[line(net=gross, tax=0)], issue_date=due - 30 * DAY, due_date=due)


def named(builder: InvoiceBuilder, name: str) -> InvoiceCreated:
    created = builder.created()
    return msgspec.structs.replace(created, data=msgspec.structs.replace(created.data, customer_name=name))


async def row(conn: asyncpg.Connection) -> asyncpg.Record:
    key = "(tenant_id, currency, customer_id) = ('acme', 'EUR', 'cus-1')"
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM proj_1.customer_standing WHERE {key}")


async def assert_exact(conn: asyncpg.Connection) -> None:
    keys = "SELECT 'acme'::text AS tenant_id, 'EUR'::text AS currency, 'cus-1'::text AS customer_id"
    query = standing.COMPUTED.replace("{keys}", keys).replace("{schema}", "proj_1").replace("{day}", "$1::date")
    want = await conn.fetchrow(f"SELECT {COLUMNS} FROM ({query}) c", TODAY)
    assert dict(await row(conn)) == dict(want)
    assert await verify(conn, "proj_1") == []


async def test_paying_the_oldest_overdue_invoice_gives_the_next_oldest(conn: asyncpg.Connection) -> None:
    oldest, next_oldest = invoice(TODAY - 20 * DAY), invoice(TODAY - 5 * DAY)
    await project(conn, [oldest.created(), oldest.sent(), next_oldest.created(), next_oldest.sent()])
    assert (await row(conn))["oldest_due_date"] == TODAY - 20 * DAY
    await project(conn, [oldest.paid("100.00")])
    assert (await row(conn))["oldest_due_date"] == TODAY - 5 * DAY
    assert (await row(conn))["overdue_count"] == 1
    await assert_exact(conn)


async def test_paying_the_next_due_invoice_moves_stale_from_to_the_one_after(conn: asyncpg.Connection) -> None:
    soon, later = invoice(TODAY + 3 * DAY), invoice(TODAY + 9 * DAY)
    await project(conn, [soon.created(), soon.sent(), later.created(), later.sent()])
    assert (await row(conn))["stale_from"] == TODAY + 4 * DAY
    await project(conn, [soon.paid("100.00")])
    assert (await row(conn))["stale_from"] == TODAY + 10 * DAY
    await project(conn, [later.voided()])
    assert (await row(conn))["stale_from"] is None
    await assert_exact(conn)


async def test_an_earlier_due_date_lowers_the_bounds_by_delta(conn: asyncpg.Connection) -> None:
    """A new overdue invoice due earlier than the oldest, and one due sooner
    than the next: the bounds move without a recompute. A figure set wrong by
    hand stays wrong by the same amount, which only a delta leaves so."""
    first = invoice(TODAY - 5 * DAY)
    await project(conn, [first.created(), first.sent()])
    await conn.execute("UPDATE proj_1.customer_standing SET invoice_count = invoice_count + 100")
    earlier, sooner = invoice(TODAY - 30 * DAY), invoice(TODAY + 2 * DAY)
    await project(conn, [earlier.created(), earlier.sent(), sooner.created(), sooner.sent()])
    got = await row(conn)
    assert (got["invoice_count"], got["overdue_count"], got["receivable_count"]) == (103, 2, 3)
    assert (got["oldest_due_date"], got["stale_from"]) == (TODAY - 30 * DAY, TODAY + 3 * DAY)


async def test_a_row_of_another_day_is_recomputed_by_the_next_batch(conn: asyncpg.Connection) -> None:
    due = invoice(TODAY - 2 * DAY)
    await project(conn, [due.created(), due.sent()])
    await standing.recompute(conn, "proj_1", [("acme", "EUR", "cus-1")], TODAY - 7 * DAY)
    assert (await row(conn))["overdue_count"] == 0
    other = invoice(TODAY + 30 * DAY)
    await project(conn, [other.created()])
    assert (await row(conn))["as_of_day"] == TODAY
    assert (await row(conn))["overdue_count"] == 1
    await assert_exact(conn)


async def test_the_name_is_the_newest_invoices_whatever_order_they_come_in(conn: asyncpg.Connection) -> None:
    newer = InvoiceBuilder(issue_date=TODAY - 2 * DAY, due_date=TODAY + 28 * DAY)
    older = InvoiceBuilder(issue_date=TODAY - 9 * DAY, due_date=TODAY + 21 * DAY)
    await project(conn, [named(newer, "New name Ltd")])
    await project(conn, [named(older, "Old name Ltd")])
    assert (await row(conn))["customer_name"] == "New name Ltd"
    newest = InvoiceBuilder(issue_date=TODAY, due_date=TODAY + 30 * DAY)
    await project(conn, [named(newest, "Newest name Ltd")])
    assert (await row(conn))["customer_name"] == "Newest name Ltd"
    await assert_exact(conn)
