"""One stream through the real broker, worker, database and HTTP API."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts import InvoiceEventPublisher
from services.settings import Settings
from tests.factories import InvoiceBuilder, line

pytestmark = pytest.mark.integration


def min_position(positions) -> str:  # type: ignore[no-untyped-def]
    wanted: dict[int, int] = {}
    for p in positions:
        wanted[p.partition] = max(wanted.get(p.partition, -1), p.offset)
    return ",".join(f"{p}:{o}" for p, o in sorted(wanted.items()))


async def test_published_events_show_up_in_the_summary_with_exact_totals(
    settings: Settings, running_worker: asyncio.Event, api_url: str, api_key: str
) -> None:
    eur = InvoiceBuilder(tenant="acme", currency="EUR", lines=[line(net=100050, tax=21010)])
    eur2 = InvoiceBuilder(tenant="acme", currency="EUR", lines=[line(net=1, tax=0)])
    jpy = InvoiceBuilder(tenant="acme", currency="JPY", lines=[line(net=1250, tax=125)])
    other = InvoiceBuilder(tenant="globex", currency="EUR", lines=[line(net=999, tax=0)])
    events = [
        eur.created(), eur.sent(), eur.paid("100.00"),
        eur2.created(), jpy.created(), jpy.sent(), other.created(),
    ]  # fmt: skip
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        positions = await publisher.publish_many(events)

    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        response = await client.get(
            "/invoices/summary",
            params={"minPosition": min_position(positions)},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert response.status_code == 200, response.text
    # Exact decimal text: 1210.60 + 0.01 = 1210.61 EUR; JPY has no decimals.
    assert response.text == (
        '{"totalsByCurrency":[{"currency":"EUR","invoiceCount":2,"grossTotal":1210.61},'
        '{"currency":"JPY","invoiceCount":1,"grossTotal":1375}]}'
    )
    assert response.headers["X-Projection-Position"].startswith(settings.topic + ":")
    assert "X-Projection-Event-Time" in response.headers


async def test_requests_without_a_valid_key_get_a_401_problem(
    settings: Settings, api_url: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        missing = await client.get("/invoices/summary")
        wrong = await client.get("/invoices/summary", headers={"x-api-key": "bk_nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401
