"""GET /v1/summary/series through the API, from the tables the real projector
writes: every period's flows, its closing figures equal to /v1/summary as of
its last day, one customer, one currency, as known at an instant, and every
refused request (docs/figures.md#series)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import InvoiceEvent
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def only(body: dict[str, Any], currency: str = "EUR") -> list[dict[str, Any]]:
    found = [s for s in body["series"] if s["currency"] == currency]
    assert len(found) == 1, body
    periods: list[dict[str, Any]] = found[0]["periods"]
    return periods


def close_history() -> list[InvoiceEvent]:
    """docs/figures.md's month-end close, with a second customer in USD and a
    payment on an invoice voided later."""
    late = InvoiceBuilder(
        customer="cus-7", lines=[line(net=10000, tax=0)], issue_date=d("2026-08-01"), due_date=d("2026-08-31")
    )
    voided = InvoiceBuilder(
        customer="cus-9", lines=[line(net=2000, tax=0)], issue_date=d("2026-09-01"), due_date=d("2026-09-30")
    )
    new = InvoiceBuilder(
        customer="cus-7", lines=[line(net=5000, tax=0)], issue_date=d("2026-11-05"), due_date=d("2026-12-05")
    )
    dollars = InvoiceBuilder(
        customer="cus-9",
        currency="USD",
        lines=[line(net=7000, tax=0)],
        issue_date=d("2026-10-01"),
        due_date=d("2026-10-10"),
    )
    return [
        late.created(at=at(d("2026-08-01"))),
        late.sent(at=at(d("2026-08-01"))),
        late.paid("40.00", at=at(d("2026-09-15"))),
        late.paid("60.00", at=at(d("2026-11-20"))),
        voided.created(at=at(d("2026-09-01"))),
        voided.sent(at=at(d("2026-09-01"))),
        voided.paid("5.00", at=at(d("2026-10-03"))),
        voided.voided(at=at(d("2026-11-02"))),
        new.created(at=at(d("2026-11-05"))),
        new.sent(at=at(d("2026-11-06"))),
        dollars.created(at=at(d("2026-10-01"))),
        dollars.sent(at=at(d("2026-10-01"))),
    ]


async def series(client: httpx.AsyncClient, **query: str) -> dict[str, Any]:
    response = await client.get("/v1/summary/series", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_monthly_series_gives_each_months_flows_and_close(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, close_history())
    body = await series(client, **{"from": "2026-07-15", "to": "2026-12-31", "interval": "month"})
    assert (body["from"], body["to"], body["interval"]) == ("2026-07-15", "2026-12-31", "month")
    assert [s["currency"] for s in body["series"]] == ["EUR", "USD"]
    months = only(body)
    assert [(p["start"], p["end"]) for p in months] == [
        ("2026-07-15", "2026-07-31"),
        ("2026-08-01", "2026-08-31"),
        ("2026-09-01", "2026-09-30"),
        ("2026-10-01", "2026-10-31"),
        ("2026-11-01", "2026-11-30"),
        ("2026-12-01", "2026-12-31"),
    ]
    flows = [
        (
            p["invoiced"]["count"],
            p["invoiced"]["grossTotal"],
            p["collected"],
            p["voided"]["count"],
            p["voided"]["grossTotal"],
        )
        for p in months
    ]
    assert flows == [
        (0, "0.00", "0.00", 0, "0.00"),
        (1, "100.00", "0.00", 0, "0.00"),
        (1, "20.00", "40.00", 0, "0.00"),
        (0, "0.00", "5.00", 0, "0.00"),  # paid on an invoice voided later: cash received all the same
        (1, "50.00", "60.00", 1, "20.00"),
        (0, "0.00", "0.00", 0, "0.00"),
    ]
    october = months[3]["closing"]
    assert october["receivable"] == {"count": 2, "balance": "75.00"}
    assert (october["overdue"]["count"], october["overdue"]["balance"]) == (2, "75.00")
    aging = {b["bucket"]: (b["count"], b["amount"]) for b in october["overdue"]["aging"]}
    assert aging == {"1-30": (0, "0.00"), "31-60": (1, "15.00"), "61-90": (1, "60.00"), "90+": (0, "0.00")}
    # August: 100.00 invoiced, 100.00 owed at its close, 31 days.
    # September: 80.00 owed at its close for 20.00 invoiced over 30 days.
    assert [p["dso"] for p in months] == [None, 31.0, 120.0, None, 30.0, None]
    assert only(body, "USD")[3]["invoiced"] == {"count": 1, "grossTotal": "70.00"}


async def test_every_period_agrees_with_the_point_in_time_summaries(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, close_history())
    for interval, start, end in (
        ("week", "2026-08-26", "2026-11-10"),
        ("quarter", "2026-05-01", "2027-01-01"),
        ("year", "2025-06-01", "2027-03-31"),
    ):
        body = await series(client, **{"from": start, "to": end, "interval": interval})
        for currency in ("EUR", "USD"):
            periods = only(body, currency)
            before = await summary_at(client, d(start) - dt.timedelta(days=1), currency)
            for p in periods:
                closing = await summary_at(client, d(p["end"]), currency)
                assert p["closing"]["receivable"] == {
                    "count": closing["receivable"]["count"],
                    "balance": closing["receivable"]["balance"],
                }
                overdue = closing["overdue"]
                assert p["closing"]["overdue"] == {
                    "count": overdue["count"],
                    "balance": overdue["balance"],
                    "aging": overdue["aging"],
                }
                # invoiced - voided = the change of the SENT figures.
                sent_change = closing["byStatus"]["sent"]["count"] - before["byStatus"]["sent"]["count"]
                assert p["invoiced"]["count"] - p["voided"]["count"] == sent_change
                gross_change = Decimal(closing["byStatus"]["sent"]["grossTotal"]) - Decimal(
                    before["byStatus"]["sent"]["grossTotal"]
                )
                assert Decimal(p["invoiced"]["grossTotal"]) - Decimal(p["voided"]["grossTotal"]) == gross_change
                before = closing


async def summary_at(client: httpx.AsyncClient, day: dt.date, currency: str) -> dict[str, Any]:
    body = (await client.get("/v1/summary", params={"asOf": day.isoformat()})).json()
    found = [s for s in body["summaries"] if s["currency"] == currency]
    return found[0] if found else ZERO_SUMMARY


# What /v1/summary would say of a currency before its first invoice.
ZERO_SUMMARY: dict[str, Any] = {
    "receivable": {"count": 0, "balance": "0.00"},
    "overdue": {
        "count": 0,
        "balance": "0.00",
        "aging": [
            {"bucket": label, "minDaysPastDue": low, "maxDaysPastDue": high, "count": 0, "amount": "0.00"}
            for label, low, high in (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
        ],
    },
    "byStatus": {"sent": {"count": 0, "grossTotal": "0.00"}},
}


async def test_daily_periods_are_all_there_with_zeros(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await project(conn, close_history())
    days = only(await series(client, **{"from": "2026-09-10", "to": "2026-09-20", "interval": "day"}))
    assert [p["start"] for p in days] == [f"2026-09-{n}" for n in range(10, 21)]
    assert all(p["start"] == p["end"] for p in days)
    assert [p["collected"] for p in days] == ["0.00"] * 5 + ["40.00"] + ["0.00"] * 5
    assert {p["closing"]["receivable"]["balance"] for p in days[:5]} == {"120.00"}
    assert {p["closing"]["receivable"]["balance"] for p in days[5:]} == {"80.00"}


async def test_one_customer_and_one_currency(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await project(conn, close_history())
    window = {"from": "2026-08-01", "to": "2026-11-30", "interval": "month"}
    body = await series(client, **window, customerId="cus-9")
    assert body["customerId"] == "cus-9"
    assert [s["currency"] for s in body["series"]] == ["EUR", "USD"]
    eur = only(body)
    assert [p["invoiced"]["count"] for p in eur] == [0, 1, 0, 0]
    assert [p["collected"] for p in eur] == ["0.00", "0.00", "5.00", "0.00"]
    assert [p["voided"]["grossTotal"] for p in eur] == ["0.00", "0.00", "0.00", "20.00"]
    assert [p["closing"]["overdue"]["balance"] for p in eur] == ["0.00", "0.00", "15.00", "0.00"]
    usd_only = await series(client, **window, customerId="cus-9", currency="USD")
    assert [s["currency"] for s in usd_only["series"]] == ["USD"]
    assert only(usd_only, "USD") == only(body, "USD")
    cus7 = only(await series(client, **window, customerId="cus-7"))
    assert [p["closing"]["receivable"]["balance"] for p in cus7] == ["100.00", "60.00", "60.00", "50.00"]

    assert (await client.get("/v1/summary/series", params={**window, "customerId": "nobody"})).status_code == 404
    # Another tenant sees none of it.
    assert (await globex.get("/v1/summary/series", params={**window, "customerId": "cus-9"})).status_code == 404
    assert (await series(globex, **window))["series"] == []


async def test_known_at_keeps_the_series_as_it_was_known(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)], due_date=d("2026-10-15"))
    other = InvoiceBuilder(customer="cus-2", lines=[line(net=3000, tax=0)], due_date=d("2026-10-05"))
    await project(conn, [inv.created(at=at(d("2026-10-01"))), inv.sent(at=at(d("2026-10-01")))])
    await project(conn, [other.created(at=at(d("2026-09-01"))), other.sent(at=at(d("2026-09-02")))])
    known: dt.datetime = await conn.fetchval("SELECT max(stored_at) FROM billing.event_store")
    window = {"from": "2026-09-01", "to": "2026-11-30", "interval": "month", "knownAt": known.isoformat()}
    then = await series(client, **window)
    then_customer = await series(client, **window, customerId="cus-2")
    # Late: a payment dated in October, a void dated in September.
    await project(conn, [inv.paid("25.00", at=at(d("2026-10-20"))), other.voided(at=at(d("2026-09-20")))])

    assert await series(client, **window) == then
    assert await series(client, **window, customerId="cus-2") == then_customer
    assert then["knownAt"] is not None
    october = only(then)[1]
    assert (october["collected"], october["closing"]["receivable"]["balance"]) == ("0.00", "130.00")
    now = only(await series(client, **{k: v for k, v in window.items() if k != "knownAt"}))
    assert [p["voided"]["count"] for p in now] == [1, 0, 0]
    assert (now[1]["collected"], now[1]["closing"]["receivable"]["balance"]) == ("25.00", "75.00")
    assert (now[1]["closing"]["overdue"]["balance"], only(then)[1]["closing"]["overdue"]["balance"]) == (
        "75.00",
        "130.00",
    )


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"to": "2026-01-31", "interval": "month"}, "from"),
        ({"from": "2026-01-01", "interval": "month"}, "to"),
        ({"from": "2026-01-01", "to": "2026-01-31"}, "interval"),
        ({"from": "2026-1-1", "to": "2026-01-31", "interval": "month"}, "from"),
        ({"from": "2026-01-01", "to": "2026-02-30", "interval": "month"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-31", "interval": "month"}, "to"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "fortnight"}, "interval"),
        ({"from": "2025-01-01", "to": "2026-02-05", "interval": "day"}, "interval"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "day", "currency": "EURO"}, "currency"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "day", "customerId": ""}, "customerId"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "day", "knownAt": "2026-01-01"}, "knownAt"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "day", "knownAt": "2999-01-01T00:00:00Z"}, "knownAt"),
        ({"from": "2026-01-01", "to": "2026-01-31", "interval": "day", "asOf": "2026-01-31"}, "asOf"),
    ],
)
async def test_a_bad_request_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, conn: asyncpg.Connection, query: dict[str, str], parameter: str
) -> None:
    await project(conn, close_history())
    response = await client.get("/v1/summary/series", params=query)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["parameter"] == parameter, problem


async def test_the_period_limit_is_named(client: httpx.AsyncClient) -> None:
    fits = await client.get("/v1/summary/series", params={"from": "2026-01-01", "to": "2027-02-04", "interval": "day"})
    assert fits.status_code == 200, fits.text
    assert len(fits.json()["series"]) == 0
    over = await client.get("/v1/summary/series", params={"from": "2026-01-01", "to": "2027-02-05", "interval": "day"})
    assert over.status_code == 400
    assert "401 periods" in over.json()["detail"] and "at most 400" in over.json()["detail"]
