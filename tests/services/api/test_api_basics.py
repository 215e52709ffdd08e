"""What every read endpoint shares: the three ways to present a key, freshness
headers and read-your-writes, CORS, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import base64

import asyncpg
import httpx
import pytest

from services.api.freshness import PositionsCache
from services.settings import Settings
from tests.conftest import free_port
from tests.projected import TOPIC, project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history
from tests.serving import running_api

pytestmark = pytest.mark.integration

BUILDERS, EVENTS = customer_history()
ENDPOINTS = [
    "/invoices/summary",
    "/invoices/summary?invoiceStatus=SENT",
    "/invoices/list-summary",
    "/customers/cus-9/invoices/summary",
    "/v1/invoices/summaries",
    "/v1/invoices/totals?start_date=2026-01-01&end_date=2026-12-31",
    "/v1/summary",
    "/v1/customers/cus-9/summary",
    "/v1/invoices",
    f"/v1/invoices/{BUILDERS['P1'].invoice_id}",
]


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, EVENTS)
    return module_api


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_bearer_basic_and_x_api_key_are_all_accepted(history_api: ModuleApi, path: str) -> None:
    key = history_api.acme_key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    bodies = []
    for headers in ({"Authorization": f"Bearer {key}"}, {"Authorization": f"Basic {basic}"}, {"x-api-key": key}):
        async with httpx.AsyncClient(base_url=history_api.url, headers=headers) as http:
            response = await http.get(path)
        assert response.status_code == 200, (headers, response.text)
        bodies.append(response.json())
    assert bodies[0] == bodies[1] == bodies[2]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_no_key_or_a_wrong_key_is_a_401_problem(history_api: ModuleApi, path: str) -> None:
    async with httpx.AsyncClient(base_url=history_api.url) as http:
        for headers in ({}, {"x-api-key": "bk_wrong"}, {"Authorization": "Basic !!!"}):
            response = await http.get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_answer_states_the_projection_position_it_reflects(history_api: ModuleApi, path: str) -> None:
    response = await history_api.acme.get(path)
    assert response.headers["X-Projection-Position"] == f"{TOPIC}:0={len(EVENTS)}"
    assert "X-Projection-Event-Time" in response.headers
    # Each header once, the body's length stated.
    for name in ("X-Projection-Position", "X-Projection-Event-Time", "content-type", "content-length"):
        assert len(response.headers.get_list(name)) == 1, name
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    # Read-your-writes: a position already applied answers at once.
    separator = "&" if "?" in path else "?"
    reached = await history_api.acme.get(f"{path}{separator}minPosition=0:{len(EVENTS) - 1}")
    assert reached.status_code == 200
    header = await history_api.acme.get(path, headers={"X-Min-Position": f"0:{len(EVENTS) - 1}"})
    assert header.status_code == 200


async def test_a_position_not_reached_in_time_is_a_503_with_retry_after(history_api: ModuleApi) -> None:
    response = await history_api.acme.get("/v1/summary", params={"minPosition": f"0:{len(EVENTS) + 5}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


async def test_a_configured_origin_gets_cors_headers(history_api: ModuleApi) -> None:
    origin = "https://app.example.com"
    response = await history_api.acme.get("/invoices/summary", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    async with httpx.AsyncClient(base_url=history_api.url) as http:
        preflight = await http.options(
            "/v1/summary",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == origin
    other = await history_api.acme.get("/invoices/summary", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_the_openapi_document_describes_every_route_parameter_and_response(history_api: ModuleApi) -> None:
    async with httpx.AsyncClient(base_url=history_api.url) as http:
        document = (await http.get("/schema/openapi.json")).json()
        assert (await http.get("/schema")).status_code == 200
        assert (await http.get("/schema/swagger")).status_code == 200
    paths = document["paths"]
    assert set(paths) >= {
        "/invoices/summary",
        "/invoices/list-summary",
        "/customers/{id}/invoices/summary",
        "/v1/invoices/summaries",
        "/v1/invoices/totals",
        "/v1/summary",
        "/v1/customers/{customerId}/summary",
        "/v1/invoices",
        "/v1/invoices/{invoiceId}",
    }
    listed = {p["name"] for p in paths["/invoices/list-summary"]["get"]["parameters"]}
    assert listed >= {
        "before",
        "after",
        "limit",
        "sortBy",
        "sortOrder",
        "invoiceStatus",
        "invoicePaymentStatus",
        "customerId",
        "billingScheduleId",
        "dueBefore",
        "dueAfter",
        "sentBefore",
        "sentAfter",
        "invoiceBefore",
        "invoiceAfter",
        "excludeZeroQuantity",
        "invoiceCurrency",
        "search",
        "invoiceNumber",
        "netTotal",
        "excludeInvoiceStatus",
        "excludeInvoicePaymentStatus",
        "excludeCustomerId",
        "excludeBillingScheduleId",
        "excludeInvoiceCurrency",
        "excludeInvoiceNumber",
        "excludeNetTotal",
        "excludeSearch",
        "minPosition",
    }
    totals = {p["name"]: p for p in paths["/v1/invoices/totals"]["get"]["parameters"]}
    assert totals["start_date"]["required"] and totals["end_date"]["required"]
    schemas = document["components"]["schemas"]
    for name in (
        "InvoiceSummaryResponse",
        "ListInvoiceSummariesResponse",
        "CustomerMultiCurrencyInvoiceSummary",
        "PartnerCenterInvoiceSummaries",
        "ContazenTotalsResponse",
        "V1Summary",
        "V1CustomerSummary",
        "V1InvoiceList",
        "V1Invoice",
    ):
        assert name in schemas, name
    assert set(schemas["CustomerInvoiceSummary"]["properties"]) == {
        "currency",
        "customer_id",
        "overdue_invoice_count",
        "total_invoice_count",
        "total_overdue_amount",
        "total_revenue_amount",
        "total_unpaid_amount",
        "unpaid_fixed_charges",
        "unpaid_invoice_count",
        "unpaid_usage_charges",
    }


async def test_positions_are_reused_while_young_and_a_wanted_position_reads_them_again(
    conn: asyncpg.Connection, database_url: str, api_key: str
) -> None:
    """Within ``api_positions_max_age_ms`` the header repeats the positions
    already read (still a lower bound: the data is read after them); asking
    for a newer position reads them again at once."""
    first, rest = EVENTS[:3], EVENTS[3:]
    await project(conn, first)
    settings = Settings.from_env(
        {}, database_url=database_url, topic=TOPIC, api_port=free_port(), api_positions_max_age_ms=60_000
    )
    async with (
        running_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers={"x-api-key": api_key}, timeout=10) as http,
    ):
        before = await http.get("/v1/summary")
        assert before.headers["X-Projection-Position"] == f"{TOPIC}:0={len(first)}"
        await project(conn, rest)
        cached = await http.get("/v1/summary")
        assert cached.headers["X-Projection-Position"] == f"{TOPIC}:0={len(first)}"
        # The data is read after the positions, so it is already the newer one.
        assert cached.json() != before.json()
        wanted = await http.get("/v1/summary", params={"minPosition": f"0:{len(EVENTS) - 1}"})
        assert wanted.headers["X-Projection-Position"] == f"{TOPIC}:0={len(EVENTS)}"
        # … and the cache keeps the newer read.
        again = await http.get("/v1/summary")
        assert again.headers["X-Projection-Position"] == f"{TOPIC}:0={len(EVENTS)}"


async def test_while_one_request_reads_aged_positions_the_others_answer_with_those_kept(
    conn: asyncpg.Connection, database_url: str
) -> None:
    """Only one read of the positions at a time: a request that finds them
    aged while another reads them anew takes the kept ones (a lower bound all
    the same) instead of reading them too."""
    first, rest = EVENTS[:3], EVENTS[3:]
    await project(conn, first)
    cache = PositionsCache(TOPIC, max_age=0.0)
    kept = await cache.get(conn)
    await project(conn, rest)
    other = await asyncpg.connect(database_url)
    try:
        reading = asyncio.create_task(cache.get(other))
        await asyncio.sleep(0)  # its query is under way
        assert await cache.get(conn) is kept
        assert (await reading).next_offsets == {0: len(EVENTS)}
    finally:
        await other.close()
    # Aged again, and nobody reading: read anew.
    assert (await cache.get(conn)).next_offsets == {0: len(EVENTS)}
