"""GET /v1/customers through the API, from the rows the real projector keeps:
every figure of a small book of customers known by hand, each sort and both
directions of paging, hasOverdue, tenant isolation, the refusals, agreement
with /v1/summary, the timeline path (asOf) against the rows, and reads while
rows are stale until the day roll refreshes them (docs/figures.md#customers)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import InvoiceEvent
from projections import standing, versions
from services.worker.day_roll import roll_day
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).date()


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), dt.UTC)


def invoice(customer: str, gross: int, due: dt.date, *, currency: str = "EUR", tenant: str = "acme") -> InvoiceBuilder:
    return InvoiceBuilder(
        tenant=tenant,
        customer=customer,
        currency=currency,
        lines=[line(net=gross, tax=0)],
        issue_date=min(ago(60), due),
        due_date=due,
    )


def issued(b: InvoiceBuilder, sent: bool = True) -> list[InvoiceEvent]:
    events: list[InvoiceEvent] = [b.created(at=at(ago(60)))]
    if sent:
        events.append(b.sent(at=at(ago(60))))
    return events


def book() -> list[InvoiceEvent]:
    """cus-a: 100.00 40 days late and 50.00 not due yet (and 999.00 USD 100
    days late); cus-b: 300.00 5 days late, 100.00 paid; cus-c: 80.00 paid in
    full; cus-d: a 500.00 draft; cus-e: 200.00 5 days late; cus-f: a voided
    invoice; globex's cus-z: 1000.00 late."""
    a1, a2 = invoice("cus-a", 10000, ago(40)), invoice("cus-a", 5000, ago(-10))
    a3 = invoice("cus-a", 99900, ago(100), currency="USD")
    b, c, d = invoice("cus-b", 30000, ago(5)), invoice("cus-c", 8000, ago(5)), invoice("cus-d", 50000, ago(5))
    e, f = invoice("cus-e", 20000, ago(5)), invoice("cus-f", 7000, ago(5))
    z = invoice("cus-z", 100000, ago(30), tenant="globex")
    return [
        *issued(a1),
        *issued(a2),
        *issued(a3),
        *issued(b),
        b.paid("100.00", at=at(ago(3))),
        *issued(c),
        c.paid("80.00", at=at(ago(2))),
        *issued(d, sent=False),
        *issued(e),
        *issued(f),
        f.voided(at=at(ago(50))),
        *issued(z),
    ]


async def customers(client: httpx.AsyncClient, **query: str) -> dict[str, Any]:
    response = await client.get("/v1/customers", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [i["customerId"] for i in body["items"]]


async def test_every_figure_of_a_customer(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    body = await customers(client, currency="EUR")
    assert body["asOf"] == TODAY.isoformat()
    by_id = {i["customerId"]: i for i in body["items"]}
    assert by_id["cus-a"] == {
        "customerId": "cus-a",
        "customerName": "cus-a Ltd",
        "currency": "EUR",
        "invoiceCount": 2,
        "revenue": "150.00",
        "receivable": {"count": 2, "balance": "150.00"},
        "overdue": {"count": 1, "balance": "100.00", "oldestDaysPastDue": 40},
        "lastPaymentDate": None,
    }
    assert by_id["cus-b"]["receivable"] == {"count": 1, "balance": "200.00"}
    assert by_id["cus-b"]["overdue"] == {"count": 1, "balance": "200.00", "oldestDaysPastDue": 5}
    assert by_id["cus-b"]["lastPaymentDate"] == ago(3).isoformat()
    assert (by_id["cus-c"]["revenue"], by_id["cus-c"]["receivable"]["count"]) == ("80.00", 0)
    assert by_id["cus-c"]["overdue"] == {"count": 0, "balance": "0.00", "oldestDaysPastDue": 0}
    assert (by_id["cus-d"]["invoiceCount"], by_id["cus-d"]["revenue"]) == (1, "0.00")
    assert (by_id["cus-f"]["invoiceCount"], by_id["cus-f"]["revenue"]) == (1, "0.00")
    assert body["pagination"] == {"after": None, "before": None, "totalResultSize": 6}
    usd = await customers(client, currency="USD")
    assert [(i["customerId"], i["overdue"]["oldestDaysPastDue"]) for i in usd["items"]] == [("cus-a", 100)]


async def test_each_sort_ranks_with_ties_by_customer_id(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    expected = {
        # cus-b and cus-e owe 200.00 each: the tie goes by customer id.
        ("overdueBalance", "DESC"): ["cus-e", "cus-b", "cus-a", "cus-f", "cus-d", "cus-c"],
        ("overdueBalance", "ASC"): ["cus-c", "cus-d", "cus-f", "cus-a", "cus-b", "cus-e"],
        ("receivableBalance", "DESC"): ["cus-e", "cus-b", "cus-a", "cus-f", "cus-d", "cus-c"],
        ("revenue", "DESC"): ["cus-b", "cus-e", "cus-a", "cus-c", "cus-f", "cus-d"],
        # Most days past due first; those with none last.
        ("oldestDaysPastDue", "DESC"): ["cus-a", "cus-b", "cus-e", "cus-c", "cus-d", "cus-f"],
        ("oldestDaysPastDue", "ASC"): ["cus-f", "cus-d", "cus-c", "cus-e", "cus-b", "cus-a"],
        ("invoiceCount", "DESC"): ["cus-a", "cus-f", "cus-e", "cus-d", "cus-c", "cus-b"],
        ("customerId", "ASC"): ["cus-a", "cus-b", "cus-c", "cus-d", "cus-e", "cus-f"],
    }
    for (sort_by, order), want in expected.items():
        body = await customers(client, currency="EUR", sortBy=sort_by, sortOrder=order)
        assert ids(body) == want, (sort_by, order)
    # Without a currency: every customer and currency, by id then currency.
    every = await customers(client, sortBy="customerId", sortOrder="ASC")
    assert [(i["customerId"], i["currency"]) for i in every["items"]][:2] == [("cus-a", "EUR"), ("cus-a", "USD")]
    assert every["pagination"]["totalResultSize"] == 7


async def test_pages_forward_and_back(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    query = {"currency": "EUR", "sortBy": "overdueBalance", "limit": "2"}
    whole = ids(await customers(client, currency="EUR", sortBy="overdueBalance"))
    pages: list[list[str]] = []
    body = await customers(client, **query)
    assert body["pagination"]["before"] is None
    while True:
        pages.append(ids(body))
        assert body["pagination"]["totalResultSize"] == 6
        if body["pagination"]["after"] is None:
            break
        body = await customers(client, **query, after=body["pagination"]["after"])
    assert [c for page in pages for c in page] == whole
    assert len(pages) == 3
    back: list[list[str]] = [ids(body)]
    while body["pagination"]["before"] is not None:
        body = await customers(client, **query, before=body["pagination"]["before"])
        back.insert(0, ids(body))
    assert back == pages


async def test_has_overdue(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    late = await customers(client, currency="EUR", hasOverdue="true")
    assert ids(late) == ["cus-e", "cus-b", "cus-a"]
    assert late["pagination"]["totalResultSize"] == 3
    on_time = await customers(client, currency="EUR", hasOverdue="false", sortBy="customerId", sortOrder="ASC")
    assert ids(on_time) == ["cus-c", "cus-d", "cus-f"]


async def test_another_tenants_customers_never_appear(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, book())
    assert "cus-z" not in ids(await customers(client, sortBy="customerId"))
    theirs = await customers(globex)
    assert ids(theirs) == ["cus-z"]
    assert theirs["items"][0]["overdue"]["balance"] == "1000.00"
    assert (await customers(globex, currency="EUR", hasOverdue="true"))["pagination"]["totalResultSize"] == 1


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ({"sortBy": "overdueBalance"}, "sortBy", "currency"),
        ({"sortBy": "revenue"}, "sortBy", "currencies"),
        ({"sortBy": "name"}, "sortBy", "not one of"),
        ({"sortOrder": "UP"}, "sortOrder", "not one of"),
        ({"limit": "0"}, "limit", "1 to 100"),
        ({"limit": "101"}, "limit", "1 to 100"),
        ({"hasOverdue": "maybe"}, "hasOverdue", "true or false"),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"asOf": "2026-02-30"}, "asOf", "valid calendar date"),
        ({"after": "not-a-cursor"}, "after", "malformed cursor"),
        ({"after": "x", "before": "y"}, "before", "either"),
        ({"sortby": "revenue"}, "sortby", ""),
    ],
)
async def test_bad_requests_name_the_parameter(
    client: httpx.AsyncClient, query: dict[str, str], parameter: str, says: str
) -> None:
    response = await client.get("/v1/customers", params=query)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert parameter in problem["detail"]
    assert says in problem["detail"]


async def test_a_cursor_of_another_sort_is_refused(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    body = await customers(client, currency="EUR", sortBy="revenue", limit="2")
    response = await client.get(
        "/v1/customers", params={"currency": "EUR", "sortBy": "overdueBalance", "after": body["pagination"]["after"]}
    )
    assert response.status_code == 400
    assert "sortBy=revenue" in response.json()["detail"]


async def receivable_by_currency(client: httpx.AsyncClient, **query: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for currency in ("EUR", "USD"):
        body = await customers(client, currency=currency, limit="100", **query)
        sums[currency] = sum((Decimal(i["receivable"]["balance"]) for i in body["items"]), Decimal(0))
    return sums


async def test_receivable_adds_up_to_the_summary(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, book())
    for query in ({}, {"asOf": ago(20).isoformat()}):
        summary = (await client.get("/v1/summary", params=query)).json()
        expected = {s["currency"]: Decimal(s["receivable"]["balance"]) for s in summary["summaries"]}
        assert await receivable_by_currency(client, **query) == expected, query


async def test_as_of_answers_from_the_timelines_as_the_rows_do(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, book())
    for sort_by in ("overdueBalance", "oldestDaysPastDue", "customerId"):
        rows = await customers(client, currency="EUR", sortBy=sort_by)
        timelines = await customers(client, currency="EUR", sortBy=sort_by, asOf=TODAY.isoformat())
        assert timelines == rows
    # Twenty days ago cus-b's invoice was not due and not paid yet; cus-a's
    # oldest was 20 days late; cus-c had paid nothing.
    past = {i["customerId"]: i for i in (await customers(client, currency="EUR", asOf=ago(20).isoformat()))["items"]}
    assert past["cus-b"]["receivable"] == {"count": 1, "balance": "300.00"}
    assert past["cus-b"]["overdue"] == {"count": 0, "balance": "0.00", "oldestDaysPastDue": 0}
    assert past["cus-a"]["overdue"] == {"count": 1, "balance": "100.00", "oldestDaysPastDue": 20}
    assert (past["cus-c"]["receivable"]["balance"], past["cus-c"]["lastPaymentDate"]) == ("80.00", None)
    # Before their first invoice, customers are not there.
    assert (await customers(client, asOf=ago(61).isoformat()))["items"] == []


async def test_stale_rows_are_read_right_and_the_day_roll_refreshes_them(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, book())
    fresh = await customers(client, currency="EUR", sortBy="overdueBalance")
    schema = (await versions.active(conn)).schema_name
    # Rows as a worker left them a week ago: cus-b's and cus-e's invoices
    # (due 5 days ago) were not overdue then, so their rows went stale since.
    keys = [
        (t, c, k)
        for t, c, k in await conn.fetch(f"SELECT tenant_id, currency, customer_id FROM {schema}.customer_standing")
    ]
    async with conn.transaction():
        await standing.recompute(conn, schema, sorted(keys), ago(7))
    stale = f"SELECT customer_id FROM {schema}.customer_standing WHERE stale_from <= $1 ORDER BY 1"
    assert [r["customer_id"] for r in await conn.fetch(stale, TODAY)] == ["cus-b", "cus-e"]
    # Read right all the same (recomputed at request time).
    assert await customers(client, currency="EUR", sortBy="overdueBalance") == fresh
    assert await roll_day(conn, TODAY) == 2
    assert await conn.fetch(stale, TODAY) == []
    assert await customers(client, currency="EUR", sortBy="overdueBalance") == fresh
    rolled = await conn.fetchrow(
        f"SELECT overdue_balance, as_of_day FROM {schema}.customer_standing WHERE customer_id = 'cus-e'"
    )
    assert rolled is not None
    assert (rolled["overdue_balance"], rolled["as_of_day"]) == (20000, TODAY)
