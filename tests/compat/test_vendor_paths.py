"""Every seed endpoint also answers under the path prefix its vendor's SDK or
documentation uses: Flexprice's SDK base URL ends in /v1, Sequence's pages
write https://…/api/invoices/…. One implementation, two paths, both in the
OpenAPI document with their own operation ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

# (seed path, the vendor's prefixed path, query, seed schema of the answer)
PAIRS = [
    (
        "/customers/cus-9/invoices/summary",
        "/v1/customers/cus-9/invoices/summary",
        {"asOf": "2026-04-15"},
        "CustomerMultiCurrencyInvoiceSummary",
    ),
    ("/invoices/summary", "/api/invoices/summary", {"invoiceStatus": "SENT"}, None),
    ("/invoices/list-summary", "/api/invoices/list-summary", {"limit": "2", "sortBy": "sentDate"}, None),
]


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


@pytest.mark.parametrize("seed, prefixed, query, schema", PAIRS)
async def test_the_vendors_prefixed_path_answers_as_the_seed_path(
    history_api: ModuleApi,
    seed_schema: Callable[[str, Any], None],
    seed: str,
    prefixed: str,
    query: dict[str, str],
    schema: str | None,
) -> None:
    plain = await history_api.acme.get(seed, params=query)
    vendor = await history_api.acme.get(prefixed, params=query)
    assert plain.status_code == vendor.status_code == 200, vendor.text
    assert vendor.text == plain.text
    assert vendor.headers["content-type"] == plain.headers["content-type"]
    assert vendor.headers["X-Projection-Position"] == plain.headers["X-Projection-Position"]
    if schema is not None:
        seed_schema(schema, vendor.json())


async def test_a_cursor_from_one_path_pages_the_other(history_api: ModuleApi) -> None:
    query = {"limit": "1"}
    first = (await history_api.acme.get("/invoices/list-summary", params=query)).json()
    plain = await history_api.acme.get(
        "/invoices/list-summary", params={**query, "after": first["pagination"]["after"]}
    )
    vendor = await history_api.acme.get(
        "/api/invoices/list-summary", params={**query, "after": first["pagination"]["after"]}
    )
    assert vendor.status_code == 200 and vendor.text == plain.text


async def test_the_prefixed_paths_keep_tenancy_and_the_404_of_an_unknown_customer(history_api: ModuleApi) -> None:
    mine = await history_api.acme.get("/v1/customers/cus-9/invoices/summary", params={"asOf": "2026-04-15"})
    theirs = await history_api.globex.get("/v1/customers/cus-9/invoices/summary", params={"asOf": "2026-04-15"})
    assert mine.json()["summaries"] != theirs.json()["summaries"]
    missing = await history_api.acme.get("/v1/customers/nobody/invoices/summary")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_both_paths_are_in_the_openapi_document_with_distinct_operation_ids(history_api: ModuleApi) -> None:
    document = (await history_api.acme.get("/schema/openapi.json")).json()
    paths = document["paths"]
    ids = {
        path: paths[path]["get"]["operationId"]
        for path in (
            "/customers/{id}/invoices/summary",
            "/v1/customers/{id}/invoices/summary",
            "/invoices/summary",
            "/api/invoices/summary",
            "/invoices/list-summary",
            "/api/invoices/list-summary",
        )
    }
    assert ids == {
        "/customers/{id}/invoices/summary": "getCustomerInvoiceSummary",
        "/v1/customers/{id}/invoices/summary": "getCustomerInvoiceSummaryV1",
        "/invoices/summary": "getInvoicesSummary",
        "/api/invoices/summary": "getInvoicesSummaryApi",
        "/invoices/list-summary": "listInvoiceSummaries",
        "/api/invoices/list-summary": "listInvoiceSummariesApi",
    }
    every_id = [op["operationId"] for item in paths.values() for op in item.values() if isinstance(op, dict)]
    assert len(every_id) == len(set(every_id))
    # The same parameters and answers under both paths.
    for seed, prefixed in (("/invoices/summary", "/api/invoices/summary"),):
        assert paths[seed]["get"]["parameters"] == paths[prefixed]["get"]["parameters"]
        assert paths[seed]["get"]["responses"] == paths[prefixed]["get"]["responses"]


@pytest.mark.parametrize("path", ["/invoices/summary", "/api/invoices/summary", "/api/invoices/list-summary"])
async def test_sequences_version_header_takes_its_documented_version_only(history_api: ModuleApi, path: str) -> None:
    plain = await history_api.acme.get(path)
    versioned = await history_api.acme.get(path, headers={"sequence-version": "2024-07-30"})
    assert versioned.status_code == 200 and versioned.text == plain.text
    other = await history_api.acme.get(path, headers={"sequence-version": "2023-01-01"})
    assert other.status_code == 400
    assert other.json()["parameter"] == "sequence-version"
    assert "2024-07-30" in other.json()["detail"]
