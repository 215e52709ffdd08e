"""GET /invoices/summary (Sequence): totals per currency over the invoices
matching every filter of the seed pages."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from contracts import format_minor
from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import Known, catalogue

pytestmark = pytest.mark.integration

KNOWN, EVENTS = catalogue()
ALL = "ABCDEFG"

# (query, letters of the invoices it selects)
FILTER_CASES: list[tuple[dict[str, str], str]] = [
    ({}, ALL),
    ({"invoiceStatus": "DRAFT"}, "AFG"),
    ({"invoiceStatus": "SENT,VOIDED"}, "BCDE"),
    ({"invoiceStatus": "FINAL"}, ""),
    ({"invoiceStatus": "IN_PROGRESS,DRAFT"}, "AFG"),
    ({"excludeInvoiceStatus": "DRAFT"}, "BCDE"),
    ({"excludeInvoiceStatus": "FINAL"}, ALL),
    ({"invoicePaymentStatus": "PAID"}, "C"),
    ({"invoicePaymentStatus": "UNPAID,PARTIALLY_PAID"}, "ABDEFG"),
    ({"invoicePaymentStatus": "UNCOLLECTIBLE"}, ""),
    ({"excludeInvoicePaymentStatus": "UNPAID"}, "BC"),
    ({"customerId": "cus-2"}, "CD"),
    ({"excludeCustomerId": "cus-2"}, "ABEFG"),
    ({"billingScheduleId": "sch-1"}, "A"),
    ({"excludeBillingScheduleId": "sch-1"}, "BCDEFG"),
    ({"dueBefore": "2026-02-15"}, "A"),
    ({"dueAfter": "2026-02-15"}, "BCDEFG"),
    ({"sentBefore": "2026-01-31"}, "B"),
    ({"sentAfter": "2026-01-31"}, "CDE"),
    ({"sentAfter": "2000-01-01"}, "BCDE"),
    ({"sentBefore": "2100-01-01"}, "BCDE"),
    ({"invoiceBefore": "2026-01-31"}, "AB"),
    ({"invoiceAfter": "2026-01-31"}, "CDEFG"),
    ({"invoiceAfter": "2026-01-15", "invoiceBefore": "2026-02-01"}, "BC"),
    ({"excludeZeroQuantity": "true"}, "ABCEFG"),
    ({"excludeZeroQuantity": "false"}, ALL),
    ({"invoiceCurrency": "EUR,JPY"}, "ABCE"),
    ({"excludeInvoiceCurrency": "EUR"}, "DEFG"),
    ({"search": "inv-2026-00"}, "ABCE"),
    ({"search": "INV-2026-003"}, "C"),
    ({"search": "_2026%"}, "D"),
    ({"search": "%"}, "D"),
    ({"excludeSearch": "2026-00"}, "DFG"),
    ({"invoiceNumber": "INV-2026-001"}, "A"),
    ({"excludeInvoiceNumber": "INV-2026-001"}, "BCDEFG"),
    ({"netTotal": "100"}, "ADEF"),
    ({"netTotal": "100.00"}, "ADEF"),
    ({"netTotal": "1e2"}, "ADEF"),
    ({"netTotal": "250.5"}, "B"),
    ({"netTotal": "0.005"}, "G"),
    ({"netTotal": "-100"}, ""),
    ({"excludeNetTotal": "100"}, "BCG"),
    ({"invoiceStatus": "SENT", "invoiceCurrency": "EUR", "excludeCustomerId": "cus-1"}, "C"),
]


def expected_totals(letters: str) -> list[dict[str, Any]]:
    by_currency: dict[str, list[Known]] = defaultdict(list)
    for letter in letters:
        by_currency[KNOWN[letter].currency].append(KNOWN[letter])
    return [
        {
            "currency": code,
            "invoiceCount": len(invoices),
            "grossTotal": json_number(sum(i.gross for i in invoices), code),
        }
        for code, invoices in sorted(by_currency.items())
    ]


def json_number(minor: int, code: str) -> str | int:
    """How exact() reads the JSON number of ``minor`` units."""
    text = format_minor(minor, code)
    return text if "." in text else int(text)


def exact(text: str) -> Any:
    """JSON with decimal numbers kept as their exact text."""
    return json.loads(text, parse_float=str)


@pytest.fixture(scope="module")
async def catalogue_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, EVENTS)
    return module_api


def case_id(case: tuple[dict[str, str], str]) -> str:
    return "&".join(f"{k}={v}" for k, v in case[0].items()) or "no-filter"


@pytest.mark.parametrize("query, letters", FILTER_CASES, ids=[case_id(c) for c in FILTER_CASES])
async def test_the_summary_counts_and_adds_up_exactly_the_invoices_a_filter_selects(
    catalogue_api: ModuleApi, query: dict[str, str], letters: str
) -> None:
    response = await catalogue_api.acme.get("/invoices/summary", params=query)
    assert response.status_code == 200, response.text
    assert exact(response.text) == {"totalsByCurrency": expected_totals(letters)}


@pytest.mark.parametrize("query, letters", FILTER_CASES, ids=[case_id(c) for c in FILTER_CASES])
async def test_the_list_holds_exactly_the_invoices_a_filter_selects(
    catalogue_api: ModuleApi, query: dict[str, str], letters: str
) -> None:
    for path in ("/invoices/list-summary", "/v1/invoices"):
        response = await catalogue_api.acme.get(path, params={**query, "limit": "100"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(item["id"] for item in body["items"]) == sorted(KNOWN[x].id for x in letters)
        assert body["pagination"]["totalResultSize"] == len(letters)


async def test_the_unfiltered_summary_is_exact_to_the_minor_unit_in_every_currency(
    catalogue_api: ModuleApi,
) -> None:
    response = await catalogue_api.acme.get("/invoices/summary")
    assert response.text == (
        '{"totalsByCurrency":['
        '{"currency":"EUR","invoiceCount":3,"grossTotal":430.50},'
        '{"currency":"GBP","invoiceCount":1,"grossTotal":100.00},'
        '{"currency":"JPY","invoiceCount":1,"grossTotal":110},'
        '{"currency":"KWD","invoiceCount":2,"grossTotal":100.005}]}'
    )
    assert response.headers["content-type"] == "application/json"


async def test_another_tenants_invoices_never_appear_in_the_summary(catalogue_api: ModuleApi) -> None:
    response = await catalogue_api.globex.get("/invoices/summary")
    assert response.json() == {"totalsByCurrency": [{"currency": "EUR", "invoiceCount": 1, "grossTotal": 999.0}]}
    filtered = await catalogue_api.globex.get("/invoices/summary", params={"invoiceStatus": "SENT"})
    assert filtered.json() == {"totalsByCurrency": []}
    mine = await catalogue_api.acme.get("/invoices/summary", params={"invoiceNumber": "INV-2026-001"})
    assert mine.json()["totalsByCurrency"] == [{"currency": "EUR", "invoiceCount": 1, "grossTotal": 120.0}]


async def test_the_summary_matches_the_seed_pages_response_schema(
    catalogue_api: ModuleApi, seed_schema: Callable[[str, Any], None]
) -> None:
    # Sequence's Currency enum has 32 codes (no KWD): ask for those it has.
    for query in ({"invoiceCurrency": "EUR,GBP,JPY"}, {"invoiceStatus": "SENT", "invoiceCurrency": "EUR"}):
        response = await catalogue_api.acme.get("/invoices/summary", params=query)
        body = response.json(parse_float=Decimal)
        seed_schema("InvoiceSummaryResponse", json.loads(response.text))
        assert all(set(t) == {"currency", "invoiceCount", "grossTotal"} for t in body["totalsByCurrency"])


BAD_PARAMETERS = [
    ("invoiceStatus", "PAID"),
    ("invoiceStatus", "DRAFT,"),
    ("excludeInvoiceStatus", "draft"),
    ("invoicePaymentStatus", "SENT"),
    ("excludeInvoicePaymentStatus", "OVERDUE"),
    ("dueBefore", "2026-13-01"),
    ("dueAfter", "yesterday"),
    ("sentBefore", "2026-02-30"),
    ("sentAfter", "20260101"),
    ("invoiceBefore", "2026-1-1"),
    ("invoiceAfter", "2026-01-01T00:00:00"),
    ("excludeZeroQuantity", "maybe"),
    ("invoiceCurrency", "EURO"),
    ("excludeInvoiceCurrency", "eur"),
    ("netTotal", "abc"),
    ("netTotal", "NaN"),
    ("excludeNetTotal", "Infinity"),
    ("minPosition", "zero"),
    ("customerId", ""),
]


@pytest.mark.parametrize("parameter, value", BAD_PARAMETERS)
async def test_a_bad_parameter_is_a_400_problem_naming_it(catalogue_api: ModuleApi, parameter: str, value: str) -> None:
    for path in ("/invoices/summary", "/invoices/list-summary", "/v1/invoices"):
        response = await catalogue_api.acme.get(path, params={parameter: value})
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 400
        assert problem["parameter"] == parameter
        assert problem["detail"].startswith(f"{parameter}: ")
