"""A seed endpoint's error is the RFC 9457 problem document carrying its
vendor's error members too (Flexprice's ErrorResponse; Partner Center's REST
error; Contazen's ``success``), served as ``application/json`` to a client
that accepts that and not ``application/problem+json`` (as the vendors' SDKs
ask), as ``application/problem+json`` otherwise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.api.problems import problem_media_type
from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

JSON_ONLY = {"Accept": "application/json"}
RFC_MEMBERS = {"type", "title", "status", "detail", "instance"}


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


@pytest.mark.parametrize(
    "accept, media_type",
    [
        (None, "application/problem+json"),
        ("", "application/problem+json"),
        ("*/*", "application/problem+json"),
        ("application/json", "application/json"),
        ("application/json, text/plain, */*", "application/json"),
        ("application/json;q=0.9, */*;q=0.1", "application/json"),
        ("application/problem+json, application/json", "application/problem+json"),
        ("application/json;q=0.5, application/problem+json", "application/problem+json"),
        ("application/*", "application/problem+json"),
        ("text/html", "application/problem+json"),
        ("application/json;q=0", "application/problem+json"),
    ],
)
def test_content_negotiation_of_problems(accept: str | None, media_type: str) -> None:
    assert problem_media_type(accept) == media_type


async def both(api: ModuleApi, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    """The same request with the default Accept (*/*) and with JSON only."""
    plain = await api.acme.get(path, **kwargs)
    json_only = await api.acme.get(path, headers={**kwargs.pop("headers", {}), **JSON_ONLY}, **kwargs)
    assert plain.headers["content-type"] == "application/problem+json"
    assert json_only.headers["content-type"] == "application/json"
    assert plain.status_code == json_only.status_code
    assert plain.json() == json_only.json()
    return plain, json_only


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_flexprice_errors_carry_its_error_response_members(history_api: ModuleApi, prefix: str) -> None:
    path = f"{prefix}/customers/cus-9/invoices/summary"
    bad, _ = await both(history_api, path, params={"asOf": "2026-02-30"})
    body = bad.json()
    assert bad.status_code == 400
    assert set(body) >= RFC_MEMBERS
    assert body["code"] == "validation_error"
    assert body["message"] == body["detail"] and "asOf" in body["message"]
    assert body["http_status_code"] == 400 == body["status"]
    assert body["details"] == {"parameter": {"name": "asOf"}}
    # The envelope Flexprice's TypeScript SDK reads.
    assert body["success"] is False
    assert body["error"] == {"message": body["message"], "internal_error": body["message"]}
    missing, _ = await both(history_api, f"{prefix}/customers/nobody/invoices/summary")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert missing.json()["message"] == "no invoices for customer 'nobody'"
    assert missing.json()["details"] == {}
    async with httpx.AsyncClient(base_url=history_api.url, headers={"x-api-key": "bk_nope", **JSON_ONLY}) as http:
        refused = await http.get(path)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "permission_denied"
    assert refused.json()["http_status_code"] == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


async def test_contazen_errors_say_success_false(history_api: ModuleApi) -> None:
    bad, _ = await both(history_api, "/v1/invoices/totals", params={"start_date": "2026-01-01"})
    body = bad.json()
    assert bad.status_code == 400 and body["parameter"] == "end_date"
    assert body["success"] is False
    assert set(body) >= RFC_MEMBERS


async def test_partner_center_errors_carry_its_rest_error_members_and_the_correlation_ids(
    history_api: ModuleApi,
) -> None:
    ids = {"MS-RequestId": "a45e6643-1caf-4429-8f90-07c03d85bc2b", "MS-CorrelationId": "57eb2ca7-755f-450f-9187"}
    bad, _ = await both(history_api, "/v1/invoices/summaries", params={"minPosition": "zero"}, headers=ids)
    body = bad.json()
    assert bad.status_code == 400
    assert (body["code"], body["description"], body["source"]) == ("400", body["detail"], "InvoiceSummaries")
    assert bad.headers["MS-RequestId"] == ids["MS-RequestId"]
    assert bad.headers["MS-CorrelationId"] == ids["MS-CorrelationId"]


async def test_sequence_documents_no_error_members_its_problems_are_plain(history_api: ModuleApi) -> None:
    for path in ("/invoices/summary", "/api/invoices/summary"):
        bad, _ = await both(history_api, path, params={"dueBefore": "soon"})
        assert set(bad.json()) == RFC_MEMBERS | {"parameter"}


async def test_the_product_api_negotiates_too(history_api: ModuleApi) -> None:
    bad, _ = await both(history_api, "/v1/invoices/nowhere")
    assert bad.status_code == 404
    assert set(bad.json()) == RFC_MEMBERS


async def test_the_document_states_each_vendors_error_shape(history_api: ModuleApi) -> None:
    document = (await history_api.acme.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def problem_schema(path: str, status: str) -> dict[str, Any]:
        content = document["paths"][path]["get"]["responses"][status]["content"]
        assert content["application/json"] == content["application/problem+json"]
        ref: str = content["application/json"]["schema"]["$ref"]
        return dict(schemas[ref.rsplit("/", 1)[1]])

    flexprice = problem_schema("/v1/customers/{id}/invoices/summary", "404")
    assert {"code", "message", "http_status_code", "details"} <= set(flexprice["required"])
    assert "success" in problem_schema("/v1/invoices/totals", "400")["required"]
    assert {"code", "description", "source"} <= set(problem_schema("/v1/invoices/summaries", "400")["required"])
