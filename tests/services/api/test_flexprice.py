"""GET /customers/{id}/invoices/summary (Flexprice)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.api import params
from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

PATH = "/customers/cus-9/invoices/summary"


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


def summary(currency: str, **figures: Any) -> dict[str, Any]:
    zero = "0.00"
    base = {
        "currency": currency,
        "customer_id": "cus-9",
        "overdue_invoice_count": 0,
        "total_invoice_count": 0,
        "total_overdue_amount": zero,
        "total_revenue_amount": zero,
        "total_unpaid_amount": zero,
        "unpaid_fixed_charges": zero,
        "unpaid_invoice_count": 0,
        "unpaid_usage_charges": zero,
    }
    return {**base, **figures}


async def test_the_customer_summary_counts_sent_invoices_per_currency_with_exact_splits(
    history_api: ModuleApi, seed_schema: Callable[[str, Any], None]
) -> None:
    response = await history_api.acme.get(PATH, params={"asOf": "2026-04-15"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "customer_id": "cus-9",
        "default_currency": "USD",
        "summaries": [
            summary(
                "EUR",
                overdue_invoice_count=1,
                total_invoice_count=2,
                total_overdue_amount="150.00",
                total_revenue_amount="213.33",
                total_unpaid_amount="183.33",
                unpaid_fixed_charges="100.00",
                unpaid_invoice_count=2,
                unpaid_usage_charges="83.33",
            ),
            # P5's payment is dated 04-16: at the end of 04-15 it was still owed.
            summary(
                "USD",
                total_invoice_count=1,
                total_revenue_amount="120.00",
                total_unpaid_amount="120.00",
                unpaid_fixed_charges="120.00",
                unpaid_invoice_count=1,
            ),
        ],
    }
    assert list(body) == ["customer_id", "default_currency", "summaries"]
    seed_schema("CustomerMultiCurrencyInvoiceSummary", body)


async def test_a_currency_without_a_sent_invoice_has_no_summary(history_api: ModuleApi) -> None:
    """GBP holds only a draft of cus-9 (and EUR a draft and a voided invoice
    besides its SENT ones): summaries are of SENT invoices, so no GBP row of
    zeros; the voided and draft EUR invoices count nowhere."""
    body = (await history_api.acme.get(PATH, params={"asOf": "2026-04-15"})).json()
    assert [s["currency"] for s in body["summaries"]] == ["EUR", "USD"]
    assert all(s["total_invoice_count"] > 0 for s in body["summaries"])
    assert body["summaries"][0]["total_invoice_count"] == 2


@pytest.mark.parametrize(
    "as_of, count, amount",
    [("2026-03-31", 0, "0.00"), ("2026-04-01", 1, "150.00"), ("2026-04-30", 1, "150.00"), ("2026-05-01", 2, "183.33")],
)
async def test_an_invoice_is_overdue_from_the_day_after_its_due_date_without_any_event(
    history_api: ModuleApi, as_of: str, count: int, amount: str
) -> None:
    body = (await history_api.acme.get(PATH, params={"asOf": as_of})).json()
    eur = body["summaries"][0]
    assert (eur["overdue_invoice_count"], eur["total_overdue_amount"]) == (count, amount)


async def test_without_as_of_overdue_is_as_of_today_in_utc(history_api: ModuleApi) -> None:
    today = params.today().isoformat()
    default = (await history_api.acme.get(PATH)).json()
    explicit = (await history_api.acme.get(PATH, params={"asOf": today})).json()
    assert default == explicit


async def test_a_customer_without_invoices_of_this_tenant_is_a_404_problem(history_api: ModuleApi) -> None:
    for client, path in (
        (history_api.acme, "/customers/nobody/invoices/summary"),
        # globex has its own cus-9: it sees only its own invoice.
        (history_api.globex, "/customers/cus-1/invoices/summary"),
    ):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    theirs = (await history_api.globex.get(PATH, params={"asOf": "2026-04-15"})).json()
    assert theirs == {
        "customer_id": "cus-9",
        "default_currency": "EUR",
        "summaries": [
            summary(
                "EUR",
                overdue_invoice_count=1,
                total_invoice_count=1,
                total_overdue_amount="999.00",
                total_revenue_amount="999.00",
                total_unpaid_amount="999.00",
                unpaid_fixed_charges="999.00",
                unpaid_invoice_count=1,
            )
        ],
    }


@pytest.mark.parametrize("parameter, value", [("asOf", "2026-04-31"), ("asOf", "today"), ("minPosition", "1")])
async def test_bad_parameters_are_a_400_problem_naming_them(history_api: ModuleApi, parameter: str, value: str) -> None:
    response = await history_api.acme.get(PATH, params={parameter: value})
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
