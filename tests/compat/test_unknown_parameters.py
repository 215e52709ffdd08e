"""A query parameter the endpoint does not take is a 400 naming it, on every
endpoint: a misspelt filter (``invoiceStatuses``) silently ignored would
answer the unfiltered totals with a 200."""

from __future__ import annotations

import pytest

from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

YEAR = {"start_date": "2026-01-01", "end_date": "2026-12-31"}
# (path, the parameters it needs) of every endpoint with a key.
ENDPOINTS = [
    ("/invoices/summary", {}),
    ("/api/invoices/summary", {}),
    ("/invoices/list-summary", {}),
    ("/api/invoices/list-summary", {}),
    ("/customers/cus-9/invoices/summary", {}),
    ("/v1/customers/cus-9/invoices/summary", {}),
    ("/v1/invoices/summaries", {}),
    ("/v1/invoices/totals", YEAR),
    ("/v1/summary", {}),
    ("/v1/customers/cus-9/summary", {}),
    ("/v1/invoices", {}),
    ("/v1/projections/status", {}),
]
PUBLIC = ["/health/live", "/health/ready", "/metrics"]


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


async def test_a_misspelt_filter_is_a_400_not_the_unfiltered_totals(history_api: ModuleApi) -> None:
    response = await history_api.acme.get("/invoices/summary", params={"invoiceStatuses": "SENT"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["parameter"] == "invoiceStatuses"
    assert "'invoiceStatuses' (did you mean 'invoiceStatus'?)" in body["detail"]
    right = await history_api.acme.get("/invoices/summary", params={"invoiceStatus": "SENT"})
    assert right.status_code == 200


@pytest.mark.parametrize("path, needed", ENDPOINTS + [(p, {}) for p in PUBLIC])
async def test_every_endpoint_names_each_unknown_parameter(
    history_api: ModuleApi, path: str, needed: dict[str, str]
) -> None:
    response = await history_api.acme.get(path, params={**needed, "bogus": "1", "asof": "2026-01-01"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == "bogus"
    assert "'bogus'" in body["detail"] and "'asof'" in body["detail"]


@pytest.mark.parametrize("path, needed", ENDPOINTS + [(p, {}) for p in PUBLIC])
async def test_min_position_and_the_documented_parameters_stay_accepted(
    history_api: ModuleApi, path: str, needed: dict[str, str]
) -> None:
    response = await history_api.acme.get(path, params={**needed, "minPosition": "0:0"})
    assert response.status_code in (200, 503), response.text  # 503: /health/ready may find lag
    assert response.status_code == 200 or path == "/health/ready"


async def test_every_parameter_the_document_lists_is_taken(history_api: ModuleApi) -> None:
    """No documented parameter is refused as unknown: each operation's query
    parameters, given an empty or valid-looking value, are never named as unknown."""
    document = (await history_api.acme.get("/schema/openapi.json")).json()
    checked = 0
    for path, item in document["paths"].items():
        operation = item.get("get")  # the reads; the one POST (stream tokens) takes no query
        if path.startswith("/schema") or "{" in path or operation is None:
            continue
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            # Streamed: an event stream that accepts the parameter answers 200 and stays open.
            async with history_api.acme.stream("GET", path, params={parameter["name"]: "x"}) as response:
                if response.status_code == 400:
                    await response.aread()
                    assert "unknown query parameter" not in response.json()["detail"], (path, parameter["name"])
            checked += 1
    assert checked > 60


async def test_a_cors_preflight_with_a_query_string_is_not_refused(history_api: ModuleApi) -> None:
    response = await history_api.acme.options(
        "/invoices/summary?invoiceStatus=SENT",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code in (200, 204), response.text
