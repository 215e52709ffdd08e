"""Request limits and rate limiting: oversized or ambiguous requests are clear
4xx problems naming what is wrong, never a server error; the rate limit
counts per API key."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import Served

pytestmark = pytest.mark.integration


def problem(response: httpx.Response, status: int, parameter: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    if parameter is not None:
        assert body["parameter"] == parameter, body
    return body


async def test_query_parameters_are_bounded(serve: Any) -> None:
    served: Served = await serve(
        max_parameter_length=50, max_list_values=4, max_query_parameters=10, max_query_length=600
    )
    async with served.client(served.acme_key) as http:
        assert (await http.get("/v1/invoices", params={"search": "x" * 50})).status_code == 200
        body = problem(await http.get("/v1/invoices", params={"search": "x" * 51}), 400, "search")
        assert "at most 50" in body["detail"]
        # Characters, not bytes: 50 two-byte characters are fine.
        assert (await http.get("/v1/invoices", params={"customerId": "é" * 50})).status_code == 200
        problem(await http.get("/v1/invoices/" + "i" * 51), 400, "invoiceId")
        problem(await http.get("/customers/" + "c" * 51 + "/invoices/summary"), 400, "id")
        # Cursors may be longer (4x): a long one is malformed, not too long.
        problem(await http.get("/v1/invoices", params={"after": "A" * 150}), 400, "after")
        assert "malformed" in (await http.get("/v1/invoices", params={"after": "A" * 150})).json()["detail"]
        problem(await http.get("/v1/invoices", params={"after": "A" * 201}), 400, "after")

        assert (await http.get("/v1/invoices", params={"invoiceStatus": "SENT,DRAFT,VOIDED,FINAL"})).status_code == 200
        body = problem(
            await http.get("/v1/invoices", params={"invoiceStatus": "SENT,DRAFT,VOIDED,FINAL,SENT"}),
            400,
            "invoiceStatus",
        )
        assert "at most 4" in body["detail"]
        problem(
            await http.get("/invoices/summary", params={"invoiceCurrency": "EUR," * 4 + "USD"}), 400, "invoiceCurrency"
        )
        problem(await http.get("/v1/summary", params={"minPosition": "0:1,1:1,2:1,3:1,4:1"}), 400, "minPosition")

        params = {f"unknown{i}": "1" for i in range(11)}
        body = problem(await http.get("/v1/summary", params=params), 400)
        assert "at most 10" in body["detail"]
        problem(await http.get("/v1/invoices?customerId=cus-0&customerId=cus-1"), 400, "customerId")
        problem(await http.get("/v1/invoices?limit=5&limit=500"), 400, "limit")

        body = problem(await http.get("/v1/invoices", params={f"p{i}": "z" * 250 for i in range(3)}), 414)
        assert body["title"] == "URI too long"


async def test_oversized_headers_and_bodies_are_refused(serve: Any) -> None:
    served: Served = await serve(max_header_bytes=4096)
    async with served.client(served.acme_key) as http:
        assert (await http.get("/v1/summary", headers={"X-Padding": "p" * 3000})).status_code == 200
        body = problem(await http.get("/v1/summary", headers={"X-Padding": "p" * 5000}), 431)
        assert body["title"] == "Request headers too large"
        # The API only reads: a body is refused, whatever the method allows.
        problem(await http.request("GET", "/v1/summary", content=b"x" * 10), 413)
        problem(await http.request("GET", "/v1/summary", content=b"x" * 2_000_000), 413)

        async def chunks() -> AsyncIterator[bytes]:
            yield b"abc"
            yield b"def"

        chunked = await http.request("GET", "/v1/summary", content=chunks())
        problem(chunked, 413)
        response = await http.post("/v1/summary", content=b"{}")
        problem(response, 405)
        assert "GET" in response.headers["allow"]
        # Without a key, the 401 comes first.
        async with httpx.AsyncClient(base_url=served.url) as anonymous:
            assert (await anonymous.get("/v1/summary", headers={"X-Padding": "p" * 5000})).status_code == 401


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


async def test_far_oversized_requests_never_reach_a_server_error(serve: Any) -> None:
    """Beyond what the HTTP server itself parses: it refuses (4xx) or closes;
    then the API goes on answering."""
    served: Served = await serve()
    port = served.settings.api_port
    key = served.acme_key.encode()
    for request in (
        b"GET /v1/invoices?search="
        + b"a" * 200_000
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: "
        + key
        + b"\r\n\r\n",
        b"GET /v1/summary HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: "
        + key
        + b"\r\nX-Big: "
        + b"b" * 300_000
        + b"\r\n\r\n",
        b"GET /v1/summary HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: "
        + key
        + b"\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        + b"\r\n",
    ):
        answer = await asyncio.to_thread(raw_request, port, request)
        status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
        assert status == b"" or status.startswith(b"4"), answer[:200]
    async with served.client(served.acme_key) as http:
        assert (await http.get("/v1/summary")).status_code == 200


async def test_the_rate_limit_counts_per_api_key(serve: Any) -> None:
    served: Served = await serve(rate_limit_per_second=5)
    async with served.client(served.acme_key) as acme, served.client(served.globex_key) as globex:
        burst = await asyncio.gather(*(acme.get("/v1/summary") for _ in range(30)))
        statuses = [r.status_code for r in burst]
        # A fixed one-second window: a burst may span two of them, no more.
        assert 5 <= statuses.count(200) <= 10, statuses
        assert statuses.count(429) == 30 - statuses.count(200)
        limited = next(r for r in burst if r.status_code == 429)
        body = problem(limited, 429)
        assert body["title"] == "Too many requests"
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["RateLimit-Limit"] == "5"
        assert served.acme_key not in limited.text
        # Another key has its own budget, even from the same address.
        assert (await globex.get("/v1/summary")).status_code == 200
        # Public endpoints are not limited.
        assert all(r.status_code == 200 for r in await asyncio.gather(*(acme.get("/health/live") for _ in range(20))))
        await asyncio.sleep(int(limited.headers["Retry-After"]) + 0.1)
        assert (await acme.get("/v1/summary")).status_code == 200


async def test_no_rate_limit_by_default(serve: Any) -> None:
    served: Served = await serve()
    assert served.settings.rate_limit_per_second == 0
    async with served.client(served.acme_key) as http:
        burst = await asyncio.gather(*(http.get("/v1/summary") for _ in range(60)))
    assert {r.status_code for r in burst} == {200}
    assert "RateLimit-Limit" not in burst[0].headers


async def test_the_openapi_document_states_the_limits(serve: Any) -> None:
    served: Served = await serve(max_parameter_length=321)
    async with httpx.AsyncClient(base_url=served.url) as http:
        document = (await http.get("/schema/openapi.json")).json()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/v1/invoices"]["get"]["parameters"]}
    assert parameters["search"]["maxLength"] == 321
    assert parameters["after"]["maxLength"] == 4 * 321
    assert parameters["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": parameters["limit"]["description"],
    }
    responses = document["paths"]["/v1/invoices/{invoiceId}"]["get"]["responses"]
    assert {"400", "401", "404", "413", "414", "429", "431", "503"} <= set(responses)
    # The problem document, also as application/json for clients that accept only that (vendors' SDKs).
    assert set(responses["401"]["content"]) == {"application/problem+json", "application/json"}
    assert document["paths"]["/health/live"]["get"]["security"] == []
