"""GET /v1/invoices/totals (Contazen), with grand totals converted by loaded FX rates."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services import keys
from services.api import fx
from tests.factories import InvoiceBuilder, line
from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

PATH = "/v1/invoices/totals"
YEAR = {"start_date": "2026-01-01", "end_date": "2026-12-31"}


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


async def get(api: ModuleApi, **query: str) -> Any:
    response = await api.acme.get(PATH, params={**YEAR, **query})
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=str)


EUR = {
    "currency": "EUR",
    "total_amount": "213.33",
    "total_paid": "30.00",
    "total_unpaid": "183.33",
    "total_vat": "30.00",
    "invoice_count": 2,
    "paid_count": 0,
    "unpaid_count": 2,
}
USD = {
    "currency": "USD",
    "total_amount": "120.00",
    "total_paid": "120.00",
    "total_unpaid": "0.00",
    "total_vat": "20.00",
    "invoice_count": 1,
    "paid_count": 1,
    "unpaid_count": 0,
}


async def test_totals_per_currency_cover_sent_invoices_of_the_period_without_a_rate(
    history_api: ModuleApi,
) -> None:
    assert await get(history_api) == {
        "success": True,
        "data": {
            "totals": [EUR, USD],
            "period": {"start_date": "2026-01-01", "end_date": "2026-12-31"},
            "grand_total_eur": None,
            "grand_total_unavailable": "no EUR rate for USD",
        },
    }


@pytest.mark.parametrize(
    "query, totals",
    [
        ({"currency": "USD"}, [USD]),
        ({"client_id": "cus-9"}, [EUR, USD]),
        ({"client_id": "cus-1"}, []),
        (
            {"series_id": "S1"},
            [{**EUR, "total_amount": "180.00", "total_unpaid": "150.00", "invoice_count": 1, "unpaid_count": 1}, USD],
        ),
        ({"is_paid": "1"}, [USD]),
        ({"is_paid": "0"}, [EUR]),
        (
            {"document_type": "proforma"},
            [
                {
                    **EUR,
                    "total_amount": "33.33",
                    "total_paid": "0.00",
                    "total_unpaid": "33.33",
                    "total_vat": "0.00",
                    "invoice_count": 1,
                    "unpaid_count": 1,
                }
            ],
        ),
        (
            {"start_date": "2026-04-01", "end_date": "2026-04-01"},
            [
                {
                    **EUR,
                    "total_amount": "33.33",
                    "total_paid": "0.00",
                    "total_unpaid": "33.33",
                    "total_vat": "0.00",
                    "invoice_count": 1,
                    "unpaid_count": 1,
                }
            ],
        ),
        ({"start_date": "2026-03-02", "end_date": "2026-03-31"}, []),
    ],
)
async def test_each_filter_narrows_the_totals(
    history_api: ModuleApi, query: dict[str, str], totals: list[dict[str, Any]]
) -> None:
    assert (await get(history_api, **query))["data"]["totals"] == totals


async def test_another_tenants_invoices_never_count(history_api: ModuleApi) -> None:
    body = (await history_api.globex.get(PATH, params=YEAR)).json()
    assert [(t["currency"], t["invoice_count"]) for t in body["data"]["totals"]] == [("EUR", 1)]


async def test_the_grand_total_converts_with_the_loaded_rates_and_rounds_once_half_even(
    history_api: ModuleApi,
) -> None:
    conn = history_api.conn
    await fx.load(conn, [fx.Rate("USD", "EUR", Decimal("0.92"), dt.date(2026, 11, 20))])
    data = (await get(history_api))["data"]
    assert data["grand_total_eur"] == "323.73"  # 213.33 + 120.00 x 0.92
    assert data["fx_rates"] == [{"currency": "USD", "rate": "0.92", "as_of": "2026-11-20"}]
    assert "grand_total_unavailable" not in data
    # 120.00 x 0.020875 = 2.505: half-even gives 2.50.
    await fx.load(conn, [fx.Rate("USD", "EUR", Decimal("0.020875"), dt.date(2026, 11, 21))])
    assert (await get(history_api, is_paid="1"))["data"]["grand_total_eur"] == "2.50"
    # Another reporting currency names its own field and states every rate used.
    await fx.load(
        conn,
        [
            fx.Rate("EUR", "RON", Decimal("4.97"), dt.date(2026, 11, 20)),
            fx.Rate("USD", "RON", Decimal("4.5"), dt.date(2026, 11, 19)),
        ],
    )
    ron = (await get(history_api, reporting_currency="RON"))["data"]
    assert ron["grand_total_ron"] == "1600.25"  # 213.33 x 4.97 + 120.00 x 4.5 = 1600.2501
    assert ron["fx_rates"] == [
        {"currency": "EUR", "rate": "4.97", "as_of": "2026-11-20"},
        {"currency": "USD", "rate": "4.5", "as_of": "2026-11-19"},
    ]
    jpy = (await get(history_api, reporting_currency="JPY"))["data"]
    assert jpy["grand_total_jpy"] is None
    assert jpy["grand_total_unavailable"] == "no JPY rate for EUR, USD"


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"start_date": None}, "start_date"),
        ({"end_date": None}, "end_date"),
        ({"start_date": "2026-1-1"}, "start_date"),
        ({"end_date": "31/12/2026"}, "end_date"),
        ({"start_date": "2026-12-31", "end_date": "2026-01-01"}, "end_date"),
        ({"is_paid": "2"}, "is_paid"),
        ({"is_paid": "true"}, "is_paid"),
        ({"document_type": "invoice"}, "document_type"),
        ({"currency": "XYZ"}, "currency"),
        ({"reporting_currency": "euro"}, "reporting_currency"),
        ({"minPosition": "p"}, "minPosition"),
    ],
)
async def test_bad_parameters_are_a_400_problem_naming_them(
    history_api: ModuleApi, query: dict[str, str | None], parameter: str
) -> None:
    merged = {k: v for k, v in {**YEAR, **query}.items() if v is not None}
    response = await history_api.acme.get(PATH, params=merged)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["parameter"] == parameter


async def test_a_tenant_invoicing_in_one_currency_always_gets_its_grand_total(history_api: ModuleApi) -> None:
    """Contazen answers ``grand_total_<code>`` in the account's currency: a
    tenant whose invoices are all RON gets ``grand_total_ron`` with no rate
    loaded (and no rate needed), not a null EUR total."""
    ron = InvoiceBuilder(tenant="ronco", customer="c-1", currency="RON", lines=[line(net=100000, tax=19000)])
    ron2 = InvoiceBuilder(tenant="ronco", customer="c-2", currency="RON", lines=[line(net=5025, tax=0)])
    await project(history_api.conn, [ron.created(), ron.sent(), ron2.created(), ron2.sent()])
    _, key = await keys.create(history_api.conn, "ronco", "tests")
    async with httpx.AsyncClient(base_url=history_api.url, headers={"x-api-key": key}) as ronco:
        data = json.loads((await ronco.get(PATH, params=YEAR)).text, parse_float=str)["data"]
        assert data["grand_total_ron"] == "1240.25"  # 1190.00 + 50.25
        assert "grand_total_unavailable" not in data and "fx_rates" not in data
        # Asked for another currency, it converts as before (here: no RON -> EUR rate).
        eur = (await ronco.get(PATH, params={**YEAR, "reporting_currency": "EUR"})).json()["data"]
        assert eur["grand_total_eur"] is None and eur["grand_total_unavailable"] == "no EUR rate for RON"


async def test_a_tenants_reporting_currency_names_and_converts_its_grand_total(history_api: ModuleApi) -> None:
    conn = history_api.conn
    await fx.set_reporting_currency(conn, "acme", "USD")
    try:
        data = (await get(history_api))["data"]
        assert data["grand_total_usd"] is None
        assert data["grand_total_unavailable"] == "no USD rate for EUR"
        await fx.load(conn, [fx.Rate("EUR", "USD", Decimal("1.0543"), dt.date(2026, 12, 1))])
        data = (await get(history_api))["data"]
        assert data["grand_total_usd"] == "344.91"  # 213.33 x 1.0543 + 120.00 = 344.911819
        assert data["fx_rates"] == [{"currency": "EUR", "rate": "1.0543", "as_of": "2026-12-01"}]
        # The query parameter still chooses for one request.
        assert "grand_total_ron" in (await get(history_api, reporting_currency="RON"))["data"]
        # Every currency of the answer is the reporting one: no rate needed.
        assert (await get(history_api, currency="USD"))["data"]["grand_total_usd"] == "120.00"
    finally:
        await conn.execute("DELETE FROM billing.tenant_settings WHERE tenant_id = 'acme'")
    assert "grand_total_eur" in (await get(history_api))["data"]


async def test_the_document_declares_the_grand_total_and_its_rates(history_api: ModuleApi) -> None:
    document = (await history_api.acme.get("/schema/openapi.json")).json()
    data = document["components"]["schemas"]["ContazenTotalsData"]
    assert {"fx_rates", "grand_total_unavailable"} <= set(data["properties"])
    (pattern,) = data["patternProperties"]
    assert re.fullmatch(pattern, "grand_total_ron") and not re.fullmatch(pattern, "grand_total")
    assert data["patternProperties"][pattern]["oneOf"] == [{"type": "number"}, {"type": "null"}]
    body = json.loads((await history_api.acme.get(PATH, params=YEAR)).text)
    assert [name for name in body["data"] if re.fullmatch(pattern, name)] == ["grand_total_eur"]
