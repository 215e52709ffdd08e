"""The freshness token round-trips: the ``X-Projection-Position`` of any answer
is accepted as it is by ``minPosition`` and ``X-Min-Position``, meaning what it
says (the projections have applied every offset below the one it names), and
the publisher helper hands out the same token for what it published."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts import InvoiceEventPublisher
from services.api.freshness import parse_min_position
from services.settings import Settings
from tests.factories import InvoiceBuilder, line
from tests.projected import TOPIC, project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration

ENDPOINTS = [
    "/invoices/summary",
    "/api/invoices/list-summary",
    "/customers/cus-9/invoices/summary",
    "/v1/customers/cus-9/invoices/summary",
    "/v1/invoices/summaries",
    "/v1/invoices/totals?start_date=2026-01-01&end_date=2026-12-31",
    "/v1/summary",
    "/v1/invoices",
    "/v1/projections/status",
]


@pytest.fixture(scope="module")
async def history_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, customer_history()[1])
    return module_api


def test_both_forms_parse_to_the_offsets_to_have_applied() -> None:
    assert parse_min_position("0:41,3:7") == {0: 41, 3: 7}
    assert parse_min_position(f"{TOPIC}:0=42,{TOPIC}:3=8", topic=TOPIC) == {0: 41, 3: 7}
    assert parse_min_position(f"{TOPIC}:0=42, 0:50", topic=TOPIC) == {0: 50}
    assert parse_min_position(f"{TOPIC}:2=0", topic=TOPIC) == {2: -1}  # nothing to wait for
    assert parse_min_position("", topic=TOPIC) == {}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_the_position_header_is_accepted_back_as_it_is(history_api: ModuleApi, path: str) -> None:
    first = await history_api.acme.get(path)
    assert first.status_code == 200, first.text
    token = first.headers["X-Projection-Position"]
    assert token.startswith(f"{TOPIC}:0=")
    separator = "&" if "?" in path else "?"
    as_query = await history_api.acme.get(f"{path}{separator}minPosition={token}")
    as_header = await history_api.acme.get(path, headers={"X-Min-Position": token})
    for response in (as_query, as_header):
        assert response.status_code == 200, response.text
        assert response.headers["X-Projection-Position"] == token


async def test_the_token_means_what_the_header_says(history_api: ModuleApi) -> None:
    token = (await history_api.acme.get("/v1/summary")).headers["X-Projection-Position"]
    next_offset = int(token.rpartition("=")[2])
    # Reached: the token itself, and the publisher form of the last applied offset.
    for reached in (token, f"0:{next_offset - 1}"):
        assert (await history_api.acme.get("/v1/summary", params={"minPosition": reached})).status_code == 200
    # Not reached (within the 300 ms wait): one event further, in either form.
    for ahead in (f"{TOPIC}:0={next_offset + 1}", f"0:{next_offset}"):
        response = await history_api.acme.get("/v1/summary", params={"minPosition": ahead})
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "/problems/not-yet-fresh"


@pytest.mark.parametrize(
    "value", ["other-topic:0=1", f"{TOPIC}:0=", f"{TOPIC}:x=1", f"{TOPIC}=1", ":0=1", f"{TOPIC}:0=1=2"]
)
async def test_a_token_of_another_topic_or_malformed_is_a_400(history_api: ModuleApi, value: str) -> None:
    for response in (
        await history_api.acme.get("/v1/summary", params={"minPosition": value}),
        await history_api.acme.get("/v1/summary", headers={"X-Min-Position": value}),
    ):
        assert response.status_code == 400, (value, response.text)
        assert response.json()["parameter"] in ("minPosition", "X-Min-Position")


async def test_read_your_writes_with_the_publishers_token(
    settings: Settings, running_worker: asyncio.Event, api_url: str, api_key: str
) -> None:
    """Publish, take the publisher's token, read with it: the answer already
    reflects the events, and its position header covers the token."""
    invoice = InvoiceBuilder(tenant="acme", customer="cus-ryw", currency="EUR", lines=[line(net=4200, tax=0)])
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        positions = await publisher.publish_many([invoice.created(), invoice.sent()])
        token = publisher.position_token()
    last = max(positions, key=lambda p: p.offset)
    assert token == last.token == f"{settings.topic}:{last.partition}={last.offset + 1}"
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        response = await http.get("/customers/cus-ryw/invoices/summary", params={"minPosition": token}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["summaries"][0]["total_revenue_amount"] == "42.00"
        reflected = parse_min_position(response.headers["X-Projection-Position"], topic=settings.topic)
        assert reflected[last.partition] >= last.offset
        # And the answer's own header, passed on, is accepted as well.
        again = await http.get("/v1/summary", headers={"X-Min-Position": response.headers["X-Projection-Position"]})
        assert again.status_code == 200
