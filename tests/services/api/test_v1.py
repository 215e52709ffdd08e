"""The product's own API: /v1/summary, /v1/customers/{customerId}/summary,
/v1/invoices/{invoiceId} (lists: test_list_summary.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

BUILDERS, EVENTS = customer_history()


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, EVENTS)
    return module_api


def count(n: int, gross: str) -> dict[str, Any]:
    return {"count": n, "grossTotal": gross}


def balance(n: int, total: str, usage: str, fixed: str, recurring: str, one_time: str) -> dict[str, Any]:
    return {"count": n, "balance": total, "usage": usage, "fixed": fixed, "recurring": recurring, "oneTime": one_time}


def aging(*buckets: tuple[int, str]) -> list[dict[str, Any]]:
    ranges = [("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None)]
    return [
        {"bucket": label, "minDaysPastDue": low, "maxDaysPastDue": high, "count": n, "amount": amount}
        for (label, low, high), (n, amount) in zip(ranges, buckets, strict=True)
    ]


ZERO = "0.00"
# As of 2026-05-20: P1 (due 03-31) is 50 days past due, P2 (due 04-30) 20.
EUR_SUMMARY = {
    "currency": "EUR",
    "currencySymbol": "€",
    "invoiceCount": 4,
    "grossTotal": "235.33",
    "byStatus": {
        "draft": count(1, "10.00"),
        "sent": {"count": 2, "netTotal": "183.33", "taxTotal": "30.00", "grossTotal": "213.33"},
        "voided": count(1, "12.00"),
    },
    "byPaymentStatus": {"unpaid": count(1, "33.33"), "partiallyPaid": count(1, "180.00"), "paid": count(0, ZERO)},
    "revenue": "213.33",
    "collected": "30.00",
    "paidUpToGross": "30.00",
    "vat": "30.00",
    "overpaid": ZERO,
    "receivable": balance(2, "183.33", "83.33", "100.00", "133.33", "50.00"),
    "overdue": {
        **balance(2, "183.33", "83.33", "100.00", "133.33", "50.00"),
        "asOf": "2026-05-20",
        "aging": aging((1, "33.33"), (1, "150.00"), (0, ZERO), (0, ZERO)),
    },
    "firstInvoiceDate": "2026-03-01",
    "latestInvoiceDate": "2026-04-01",
    "latestAccountingDate": "2026-04-03",
    "lastPaymentDate": "2026-03-05T12:00:00Z",
    "lastPaymentAmount": "30.00",
}
NO_BALANCE = balance(0, ZERO, ZERO, ZERO, ZERO, ZERO)
GBP_SUMMARY = {
    "currency": "GBP",
    "currencySymbol": "£",
    "invoiceCount": 1,
    "grossTotal": "120.00",
    "byStatus": {
        "draft": count(1, "120.00"),
        "sent": {"count": 0, "netTotal": ZERO, "taxTotal": ZERO, "grossTotal": ZERO},
        "voided": count(0, ZERO),
    },
    "byPaymentStatus": {"unpaid": count(0, ZERO), "partiallyPaid": count(0, ZERO), "paid": count(0, ZERO)},
    "revenue": ZERO,
    "collected": ZERO,
    "paidUpToGross": ZERO,
    "vat": ZERO,
    "overpaid": ZERO,
    "receivable": NO_BALANCE,
    "overdue": {**NO_BALANCE, "asOf": "2026-05-20", "aging": aging(*[(0, ZERO)] * 4)},
    "firstInvoiceDate": None,
    "latestInvoiceDate": None,
    "latestAccountingDate": None,
    "lastPaymentDate": None,
    "lastPaymentAmount": None,
}
USD_SUMMARY = {
    **GBP_SUMMARY,
    "currency": "USD",
    "currencySymbol": "$",
    "invoiceCount": 2,
    "grossTotal": "240.00",
    "byStatus": {
        "draft": count(1, "120.00"),
        "sent": {"count": 1, "netTotal": "100.00", "taxTotal": "20.00", "grossTotal": "120.00"},
        "voided": count(0, ZERO),
    },
    "byPaymentStatus": {"unpaid": count(0, ZERO), "partiallyPaid": count(0, ZERO), "paid": count(1, "120.00")},
    "revenue": "120.00",
    "collected": "125.00",
    "paidUpToGross": "120.00",
    "vat": "20.00",
    "overpaid": "5.00",
    "firstInvoiceDate": "2026-04-15",
    "latestInvoiceDate": "2026-04-15",
    "latestAccountingDate": "2026-04-15",
    "lastPaymentDate": "2026-04-16T08:00:00Z",
    "lastPaymentAmount": "125.00",
}


async def test_the_summary_gives_every_figure_per_currency(history_api: ModuleApi) -> None:
    response = await history_api.acme.get("/v1/summary", params={"asOf": "2026-05-20"})
    assert response.status_code == 200, response.text
    assert response.json() == {"asOf": "2026-05-20", "summaries": [EUR_SUMMARY, GBP_SUMMARY, USD_SUMMARY]}


async def test_the_customer_summary_gives_the_same_figures_for_one_customer(history_api: ModuleApi) -> None:
    response = await history_api.acme.get("/v1/customers/cus-9/summary", params={"asOf": "2026-05-20"})
    assert response.json() == {
        "customerId": "cus-9",
        "asOf": "2026-05-20",
        "summaries": [EUR_SUMMARY, GBP_SUMMARY, USD_SUMMARY],
    }


@pytest.mark.parametrize(
    "as_of, buckets",
    [
        ("2026-04-30", [(1, "150.00"), (0, ZERO), (0, ZERO), (0, ZERO)]),  # P1: 30 days
        ("2026-05-01", [(1, "33.33"), (1, "150.00"), (0, ZERO), (0, ZERO)]),  # P1: 31, P2: 1
        ("2026-06-29", [(0, ZERO), (1, "33.33"), (1, "150.00"), (0, ZERO)]),  # P1: 90, P2: 60
        ("2026-06-30", [(0, ZERO), (0, ZERO), (1, "33.33"), (1, "150.00")]),  # P1: 91, P2: 61
    ],
)
async def test_overdue_aging_moves_between_buckets_as_the_days_pass(
    history_api: ModuleApi, as_of: str, buckets: list[tuple[int, str]]
) -> None:
    for path in ("/v1/summary", "/v1/customers/cus-9/summary"):
        body = (await history_api.acme.get(path, params={"asOf": as_of})).json()
        assert body["summaries"][0]["overdue"]["aging"] == aging(*buckets)


async def test_an_invoice_has_every_stored_field(history_api: ModuleApi) -> None:
    p1 = BUILDERS["P1"]
    response = await history_api.acme.get(f"/v1/invoices/{p1.invoice_id}")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": p1.invoice_id,
        "invoiceNumber": p1.number,
        "customerId": "cus-9",
        "customerName": "cus-9 Ltd",
        "currency": "EUR",
        "issueDate": "2026-03-01",
        "dueDate": "2026-03-31",
        "accountingDate": "2026-03-01",
        "billingPeriod": None,
        "billingScheduleId": None,
        "seriesId": "S1",
        "documentType": "fiscal",
        "status": "SENT",
        "paymentStatus": "PARTIALLY_PAID",
        "netTotal": "150.00",
        "taxTotal": "30.00",
        "grossTotal": "180.00",
        "usageGross": "60.00",
        "fixedGross": "120.00",
        "recurringGross": "120.00",
        "oneTimeGross": "60.00",
        "quantityIsZero": False,
        "amountPaid": "30.00",
        "balance": "150.00",
        "overpaid": ZERO,
        "balanceUsage": "50.00",
        "balanceFixed": "100.00",
        "balanceRecurring": "100.00",
        "balanceOneTime": "50.00",
        "receivable": True,
        "paymentCount": 1,
        "paymentIds": body["paymentIds"],
        "lastPaidAt": "2026-03-05T12:00:00Z",
        "lastPaymentAmount": "30.00",
        "sentAt": "2026-03-01T10:00:00Z",
        "sentDate": "2026-03-01",
        "voidedAt": None,
        "voidReason": None,
        "eventIds": [e.id for e in EVENTS[:3]],
        "createdAt": "2026-03-01T10:00:00Z",
        "updatedAt": "2026-03-01T12:00:00Z",
    }
    assert len(body["paymentIds"]) == 1


async def test_another_tenants_customer_or_invoice_is_a_404_problem(history_api: ModuleApi) -> None:
    theirs = BUILDERS["other"].invoice_id
    for client, path in (
        (history_api.acme, f"/v1/invoices/{theirs}"),
        (history_api.globex, f"/v1/invoices/{BUILDERS['P1'].invoice_id}"),
        (history_api.acme, "/v1/invoices/no-such-invoice"),
        (history_api.acme, "/v1/customers/nobody/summary"),
        (history_api.globex, "/v1/customers/cus-1/summary"),
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404
    globex = (await history_api.globex.get("/v1/summary")).json()
    assert [(s["currency"], s["invoiceCount"]) for s in globex["summaries"]] == [("EUR", 1)]
    their_customer = (await history_api.globex.get("/v1/customers/cus-9/summary")).json()
    assert [(s["currency"], s["revenue"]) for s in their_customer["summaries"]] == [("EUR", "999.00")]


@pytest.mark.parametrize("path", ["/v1/summary", "/v1/customers/cus-9/summary"])
@pytest.mark.parametrize("parameter, value", [("asOf", "2026-02-30"), ("asOf", "05/20/2026"), ("minPosition", "x")])
async def test_bad_parameters_are_a_400_problem_naming_them(
    history_api: ModuleApi, path: str, parameter: str, value: str
) -> None:
    response = await history_api.acme.get(path, params={parameter: value})
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
