"""The summaries as of a past date (``asOf``) and as known at an instant
(``knownAt``), through the API, from the tables the real projector writes
(docs/figures.md#as-of)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import InvoiceEvent
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration

MONTH_END = dt.date(2026, 10, 31)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def eur(body: dict[str, Any]) -> dict[str, Any]:
    found = [s for s in body["summaries"] if s["currency"] == "EUR"]
    assert len(found) == 1, body
    return found[0]


async def recorded_now(conn: asyncpg.Connection) -> str:
    """The record time of the newest applied batch, as knownAt."""
    stored: dt.datetime = await conn.fetchval("SELECT max(stored_at) FROM billing.event_store")
    return stored.isoformat()


async def test_a_month_end_shows_the_figures_that_stood_then(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    # Due in August, paid in November: overdue at the end of October, although paid now.
    late = InvoiceBuilder(lines=[line(net=10000, tax=0)], issue_date=dt.date(2026, 8, 1), due_date=dt.date(2026, 8, 31))
    # Created in November: not there at the end of October.
    new = InvoiceBuilder(lines=[line(net=5000, tax=0)], issue_date=dt.date(2026, 11, 5), due_date=dt.date(2026, 12, 5))
    # Voided in November: still SENT and receivable at the end of October.
    voided = InvoiceBuilder(
        lines=[line(net=2000, tax=0)], issue_date=dt.date(2026, 9, 1), due_date=dt.date(2026, 9, 30)
    )
    events: list[InvoiceEvent] = [
        late.created(at=at(dt.date(2026, 8, 1))),
        late.sent(at=at(dt.date(2026, 8, 1))),
        late.paid("40.00", at=at(dt.date(2026, 9, 15))),
        late.paid("60.00", at=at(dt.date(2026, 11, 20))),
        new.created(at=at(dt.date(2026, 11, 5))),
        new.sent(at=at(dt.date(2026, 11, 6))),
        voided.created(at=at(dt.date(2026, 9, 1))),
        voided.sent(at=at(dt.date(2026, 9, 1))),
        voided.voided(at=at(dt.date(2026, 11, 2))),
    ]
    await project(conn, events)

    month_end = eur((await client.get("/v1/summary", params={"asOf": MONTH_END.isoformat()})).json())
    assert month_end["invoiceCount"] == 2
    assert month_end["byStatus"]["sent"]["count"] == 2
    assert month_end["byStatus"]["voided"]["count"] == 0
    assert month_end["collected"] == "40.00"
    assert month_end["receivable"] == {**month_end["receivable"], "count": 2, "balance": "80.00"}
    assert month_end["overdue"]["count"] == 2
    assert month_end["overdue"]["balance"] == "80.00"
    assert month_end["overdue"]["asOf"] == "2026-10-31"
    # Due 31 August: 61 days past due at the end of October; due 30 September: 31.
    aging = {b["bucket"]: (b["count"], b["amount"]) for b in month_end["overdue"]["aging"]}
    assert aging == {"1-30": (0, "0.00"), "31-60": (1, "20.00"), "61-90": (1, "60.00"), "90+": (0, "0.00")}
    assert month_end["latestInvoiceDate"] == "2026-09-01"
    assert month_end["lastPaymentDate"].startswith("2026-09-15")

    now = eur((await client.get("/v1/summary")).json())
    assert (now["invoiceCount"], now["collected"], now["overdue"]["count"]) == (3, "100.00", 0)
    assert now["byStatus"]["voided"]["count"] == 1


async def test_the_customer_summary_stands_at_the_date_too(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder(customer="cus-9", lines=[line(net=3000, tax=0)], due_date=dt.date(2026, 10, 1))
    await project(
        conn,
        [
            inv.created(at=at(dt.date(2026, 9, 1))),
            inv.sent(at=at(dt.date(2026, 9, 2))),
            inv.paid("30.00", at=at(dt.date(2026, 11, 3))),
        ],
    )
    body = (await client.get("/v1/customers/cus-9/summary", params={"asOf": "2026-10-31"})).json()
    summary = eur(body)
    assert (summary["receivable"]["balance"], summary["overdue"]["count"], summary["collected"]) == ("30.00", 1, "0.00")
    before_creation = (await client.get("/v1/customers/cus-9/summary", params={"asOf": "2026-08-31"})).json()
    assert before_creation["summaries"] == []
    assert (await client.get("/v1/customers/nobody/summary", params={"asOf": "2026-10-31"})).status_code == 404


async def test_known_at_reproduces_the_report_pulled_before_late_events(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)], due_date=dt.date(2026, 10, 15))
    created, sent = inv.created(at=at(dt.date(2026, 10, 1))), inv.sent(at=at(dt.date(2026, 10, 1)))
    payment = inv.paid("25.00", at=at(dt.date(2026, 10, 20)))
    await project(conn, [created, payment])  # the payment waits for sequence 2
    held = await recorded_now(conn)
    closing = await client.get("/v1/summary", params={"asOf": "2026-10-31", "knownAt": held})
    await project(conn, [sent])  # sent arrives late: the payment is released
    released = await recorded_now(conn)

    again = await client.get("/v1/summary", params={"asOf": "2026-10-31", "knownAt": held})
    assert again.json() == closing.json()
    assert eur(again.json())["byStatus"]["draft"]["count"] == 1
    assert eur(again.json())["collected"] == "0.00"
    after = eur((await client.get("/v1/summary", params={"asOf": "2026-10-31", "knownAt": released})).json())
    assert (after["byStatus"]["sent"]["count"], after["collected"], after["overdue"]["balance"]) == (
        1,
        "25.00",
        "75.00",
    )
    known_now = eur((await client.get("/v1/summary", params={"knownAt": held})).json())
    assert known_now["byStatus"]["draft"]["count"] == 1


async def test_a_date_in_the_future_gives_the_current_figures(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)], due_date=dt.date(2026, 10, 15))
    await project(conn, [inv.created(at=at(dt.date(2026, 10, 1))), inv.sent(at=at(dt.date(2026, 10, 2)))])
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=400)).isoformat()
    current = (await client.get("/v1/summary")).json()["summaries"]
    for summary in current:
        summary.pop("overdue")
    later = (await client.get("/v1/summary", params={"asOf": future})).json()["summaries"]
    for summary in later:
        summary.pop("overdue")
    assert later == current


@pytest.mark.parametrize(
    ("params", "parameter", "says"),
    [
        ({"asOf": "2026-02-30"}, "asOf", "not a valid calendar date"),
        ({"asOf": "31.10.2026"}, "asOf", "YYYY-MM-DD"),
        ({"knownAt": "2026-10-31"}, "knownAt", "offset"),
        ({"knownAt": "yesterday"}, "knownAt", "RFC 3339"),
        ({"knownAt": "2999-01-01T00:00:00Z"}, "knownAt", "in the future"),
        ({"knownAt": "2001-01-01T00:00:00Z"}, "knownAt", "before the oldest record"),
    ],
)
async def test_a_bad_moment_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, conn: asyncpg.Connection, params: dict[str, str], parameter: str, says: str
) -> None:
    inv = InvoiceBuilder()
    await project(conn, [inv.created()])
    for path in ("/v1/summary", "/v1/customers/cus-1/summary"):
        response = await client.get(path, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["parameter"] == parameter
        assert says in response.json()["detail"]


async def test_the_tenant_figures_add_up_from_the_customers_at_any_date(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    """Two computations of the same moment: the tenant's (current sums minus
    what counts after D) and the customers' (their timeline rows up to D)."""
    rng = random.Random(7)
    events: list[InvoiceEvent] = []
    for index in range(40):
        day = dt.date(2026, 6, 1) + dt.timedelta(days=rng.randint(0, 150))
        inv = InvoiceBuilder(
            customer=f"cus-{index % 5}",
            lines=[line(net=rng.randint(100, 100_000), tax=0)],
            due_date=day + dt.timedelta(days=rng.randint(0, 40)),
        )
        events.append(inv.created(at=at(day)))
        if rng.random() < 0.8:
            events.append(inv.sent(at=at(day + dt.timedelta(days=rng.randint(0, 5)))))
            if rng.random() < 0.6:
                events.append(inv.paid("0.50", at=at(day + dt.timedelta(days=rng.randint(-3, 60)))))
            if rng.random() < 0.2:
                events.append(inv.voided(at=at(day + dt.timedelta(days=rng.randint(0, 90)))))
    await project(conn, events[:50])
    await project(conn, events[50:])
    for offset in (0, 30, 75, 120, 200):
        day = (dt.date(2026, 6, 1) + dt.timedelta(days=offset)).isoformat()
        tenant = (await client.get("/v1/summary", params={"asOf": day})).json()["summaries"]
        by_customer: dict[str, int] = {}
        for customer in range(5):
            response = await client.get(f"/v1/customers/cus-{customer}/summary", params={"asOf": day})
            for summary in response.json()["summaries"]:
                for figure in ("invoiceCount",):
                    by_customer[figure] = by_customer.get(figure, 0) + summary[figure]
                for name, value in (
                    ("overdue", summary["overdue"]["count"]),
                    ("receivable", summary["receivable"]["count"]),
                    ("sent", summary["byStatus"]["sent"]["count"]),
                    ("collected", round(float(summary["collected"]) * 100)),
                ):
                    by_customer[name] = by_customer.get(name, 0) + value
        total = tenant[0] if tenant else None
        expected = (
            {
                "invoiceCount": total["invoiceCount"],
                "overdue": total["overdue"]["count"],
                "receivable": total["receivable"]["count"],
                "sent": total["byStatus"]["sent"]["count"],
                "collected": round(float(total["collected"]) * 100),
            }
            if total
            else {}
        )
        assert by_customer == expected, day


async def test_flexprice_s_customer_summary_stands_at_the_date_and_the_record_time(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    old = InvoiceBuilder(customer="cus-7", lines=[line(net=8000, tax=0)], due_date=dt.date(2026, 10, 10))
    usd = InvoiceBuilder(
        customer="cus-7",
        currency="USD",
        lines=[line(net=1000, tax=0)],
        issue_date=dt.date(2026, 11, 2),
        due_date=dt.date(2026, 12, 2),
    )
    await project(
        conn,
        [old.created(at=at(dt.date(2026, 9, 20))), old.sent(at=at(dt.date(2026, 9, 21)))],
    )
    close = await recorded_now(conn)
    await project(
        conn,
        [
            old.paid("80.00", at=at(dt.date(2026, 10, 30))),  # dated before the close, arrives after it
            usd.created(at=at(dt.date(2026, 11, 2))),
            usd.sent(at=at(dt.date(2026, 11, 2))),
        ],
    )
    for path in ("/customers/cus-7/invoices/summary", "/v1/customers/cus-7/invoices/summary"):
        as_known = (await client.get(path, params={"asOf": "2026-10-31", "knownAt": close})).json()
        assert as_known["default_currency"] == "EUR"
        [eur_summary] = as_known["summaries"]
        assert (eur_summary["total_unpaid_amount"], eur_summary["overdue_invoice_count"]) == ("80.00", 1)
        as_of = (await client.get(path, params={"asOf": "2026-10-31"})).json()
        assert [s["total_unpaid_amount"] for s in as_of["summaries"]] == ["0.00"]
        now = (await client.get(path)).json()
        assert now["default_currency"] == "USD"
        assert sorted(s["currency"] for s in now["summaries"]) == ["EUR", "USD"]
        before = await client.get(path, params={"asOf": "2026-09-01"})
        assert before.status_code == 404
