"""GET /v1/invoices/summaries (Partner Center)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

PATH = "/v1/invoices/summaries"


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


def fields(
    balance: str, code: str, symbol: str, accounting: str, first: str, paid_at: str, paid: str, latest: str
) -> dict[str, Any]:
    return {
        "balanceAmount": balance,
        "currencyCode": code,
        "currencySymbol": symbol,
        "accountingDate": accounting,
        "firstInvoiceCreationDate": first,
        "lastPaymentDate": paid_at,
        "lastPaymentAmount": paid,
        "latestInvoiceDate": latest,
    }


SUMMARY = {"objectType": "InvoiceSummary"}


def detail(kind: str, **summary: Any) -> dict[str, Any]:
    return {"invoiceType": kind, "summary": {**summary, "attributes": SUMMARY}}


def item(summary: dict[str, Any], details: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **summary,
        "details": details,
        "links": {"self": {"uri": "/invoices/summary", "method": "GET", "headers": []}},
        "attributes": SUMMARY,
    }


async def test_one_summary_per_currency_of_sent_invoices_with_recurring_and_one_time_details(
    history_api: ModuleApi,
) -> None:
    response = await history_api.acme.get(PATH)
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_float=str)
    eur = fields(
        "183.33",
        "EUR",
        "€",
        "2026-04-03T00:00:00",
        "2026-03-01T00:00:00",
        "2026-03-05T12:00:00Z",
        "30.00",
        "2026-04-01T00:00:00",
    )
    recurring = fields(
        "133.33",
        "EUR",
        "€",
        "2026-04-03T00:00:00",
        "2026-03-01T00:00:00",
        "2026-03-05T12:00:00Z",
        "30.00",
        "2026-04-01T00:00:00",
    )
    one_time = fields(
        "50.00",
        "EUR",
        "€",
        "2026-03-01T00:00:00",
        "2026-03-01T00:00:00",
        "2026-03-05T12:00:00Z",
        "30.00",
        "2026-03-01T00:00:00",
    )
    usd = fields(
        "0.00",
        "USD",
        "$",
        "2026-04-15T00:00:00",
        "2026-04-15T00:00:00",
        "2026-04-16T08:00:00Z",
        "125.00",
        "2026-04-15T00:00:00",
    )
    assert body == {
        "totalCount": 2,
        "items": [
            item(eur, [detail("Recurring", **recurring), detail("OneTime", **one_time)]),
            # No one-time lines in USD: no OneTime detail.
            item(usd, [detail("Recurring", **usd)]),
        ],
        "links": {"self": {"uri": "/invoices/summaries", "method": "GET", "headers": []}},
        "attributes": {"objectType": "Collection"},
    }


async def test_a_currency_without_payments_shows_the_seed_pages_empty_values(history_api: ModuleApi) -> None:
    body = json.loads((await history_api.globex.get(PATH)).text, parse_float=str)
    [only] = body["items"]
    assert only["lastPaymentDate"] == "0001-01-01T00:00:00"
    assert only["lastPaymentAmount"] == 0
    assert only["balanceAmount"] == "999.00"
    assert body["totalCount"] == 1


async def test_partner_center_rejects_a_bad_min_position(history_api: ModuleApi) -> None:
    response = await history_api.acme.get(PATH, params={"minPosition": "0:x"})
    assert response.status_code == 400 and response.json()["parameter"] == "minPosition"


async def test_the_request_and_correlation_ids_are_echoed(history_api: ModuleApi) -> None:
    ids = {
        "MS-RequestId": "a45e6643-1caf-4429-8f90-07c03d85bc2b",
        "MS-CorrelationId": "57eb2ca7-755f-450f-9187-eae1e75a0114",
    }
    response = await history_api.acme.get(PATH, headers=ids)
    assert response.status_code == 200
    assert {name: response.headers[name] for name in ids} == ids


async def test_without_ids_the_answer_states_new_ones(history_api: ModuleApi) -> None:
    first, second = await history_api.acme.get(PATH), await history_api.acme.get(PATH)
    for name in ("MS-RequestId", "MS-CorrelationId"):
        made = {str(uuid.UUID(response.headers[name])) for response in (first, second)}
        assert len(made) == 2  # one per request
    # Only one of them given: it is echoed, the other made.
    only = await history_api.acme.get(PATH, headers={"MS-CorrelationId": "corr-1"})
    assert only.headers["MS-CorrelationId"] == "corr-1"
    assert uuid.UUID(only.headers["MS-RequestId"])


async def test_a_refused_request_echoes_them_too(history_api: ModuleApi) -> None:
    async with httpx.AsyncClient(base_url=history_api.url) as anonymous:
        response = await anonymous.get(PATH, headers={"MS-RequestId": "req-1", "MS-CorrelationId": "corr-1"})
    assert response.status_code == 401
    assert (response.headers["MS-RequestId"], response.headers["MS-CorrelationId"]) == ("req-1", "corr-1")
