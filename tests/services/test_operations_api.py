"""Liveness, readiness, metrics and projection status over HTTP."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import httpx
import msgspec
import pytest

from contracts import InvoiceEventPublisher
from services.settings import Settings
from tests.conftest import free_port
from tests.factories import InvoiceBuilder
from tests.services.workers import caught_up, ends, publish
from tests.serving import running_api

pytestmark = pytest.mark.integration


def request_counts(text: str) -> dict[str, float]:
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("billing_api_requests_total{")
    }


def requests_line(path: str, status: int) -> str:
    return (
        f'billing_api_requests_total{{app_name="invoice-summaries",method="GET",path="{path}",status_code="{status}"}}'
    )


async def test_liveness_and_metrics_need_no_key(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        assert (await client.get("/health/live")).json() == {"status": "ok", "process": os.getpid()}
        # The registry is the process's: count what this test adds.
        before = request_counts((await client.get("/metrics")).text)
        await client.get("/invoices/summary")  # a 401, counted too
        for _ in range(2):
            await client.get("/customers/cus-1/invoices/summary")
        await client.get("/no/such/route")
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    after = request_counts(metrics.text)
    added = {key: count - before.get(key, 0) for key, count in after.items() if count != before.get(key, 0)}
    # Labelled by route template, not by the requested path; scrapes are not counted.
    assert added == {
        requests_line("/invoices/summary", 401): 1,
        requests_line("/customers/{id}/invoices/summary", 401): 2,
        requests_line("(no route)", 404): 1,
    }
    assert "billing_api_request_duration_seconds_bucket" in metrics.text
    assert "billing_api_requests_in_progress" in metrics.text


async def test_status_figures_equal_what_was_published(
    settings: Settings, running_worker: asyncio.Event, api_url: str, api_key: str, conn: asyncpg.Connection
) -> None:
    a, b = InvoiceBuilder(tenant="acme"), InvoiceBuilder(tenant="acme")
    created = a.created()
    events = [created, a.sent(), created, b.created(), b.voided(), b.voided(), b"{oops"]
    positions = await publish(settings, events)
    await caught_up(conn, settings.topic, ends(positions))
    async with httpx.AsyncClient(base_url=api_url, headers={"x-api-key": api_key}) as client:
        response = await client.get("/v1/projections/status")
        ready = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    status = response.json()["status"]
    assert status["outcomes"] == {
        "applied": 4,
        "duplicate": 1,
        "quarantined:malformed": 1,
        "quarantined:voided_twice": 1,
    }
    assert status["quarantinedByReason"] == {"malformed": 1, "voided_twice": 1}
    assert status["versions"][0]["status"] == "active"
    assert sum(p["nextOffset"] for p in status["partitions"]) == len(events)
    assert all(p["lagEvents"] == 0 and p["lagSeconds"] == 0 for p in status["partitions"])
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_readiness_does_not_depend_on_the_projections_lag(
    settings: Settings, conn: asyncpg.Connection, api_url: str, api_key: str
) -> None:
    """The lag is the same for every replica: were it a readiness condition,
    every replica would go unready at once. It shows in the status and the
    lag gauge (which the lag alerts read) instead."""
    inv = InvoiceBuilder(tenant="acme")
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        await publisher.publish_many([inv.created(), inv.sent(), inv.paid("1.00"), inv.paid("2.00")])
    await conn.execute(  # positions known, no worker running
        "INSERT INTO billing.partition_positions (topic, partition, next_offset)"
        " SELECT $1, p, 0 FROM generate_series(0, 3) p",
        settings.topic,
    )
    async with httpx.AsyncClient(base_url=api_url, headers={"x-api-key": api_key}) as client:
        for _ in range(100):
            status = (await client.get("/v1/projections/status")).json()["status"]
            if sum(p["lagEvents"] or 0 for p in status["partitions"]) == 4:
                break
            await asyncio.sleep(0.1)
        ready = await client.get("/health/ready")
        metrics = (await client.get("/metrics")).text
    assert max(p["lagEvents"] for p in status["partitions"]) == 4
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert "maxLagEvents" not in ready.json()
    assert any(
        line.startswith("billing_partition_lag_events{") and line.endswith(" 4.0") for line in metrics.splitlines()
    )


async def test_status_needs_a_key(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        assert (await client.get("/v1/projections/status")).status_code == 401


async def test_the_worker_serves_its_own_metrics(settings: Settings, conn: asyncpg.Connection) -> None:
    from tests.services.workers import spawn_worker, stop_worker

    port = free_port()
    created = InvoiceBuilder(tenant="acme").created()
    positions = await publish(settings, [created, created, b"nope"])
    worker = spawn_worker(settings, worker_metrics_port=port)
    try:
        await caught_up(conn, settings.topic, ends(positions))
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        assert stop_worker(worker) == 0
    assert 'billing_events_total{outcome="applied",reason=""} 1.0' in text
    assert 'billing_events_total{outcome="duplicate",reason=""} 1.0' in text
    assert 'billing_events_total{outcome="quarantined",reason="malformed"} 1.0' in text
    assert "billing_batch_seconds_bucket" in text and "billing_partition_lag_events" in text


async def test_an_unreachable_database_is_a_503_problem_not_a_500(settings: Settings) -> None:
    down = msgspec.structs.replace(
        settings,
        database_url="postgresql://billing@127.0.0.1:1/nowhere",
        api_port=free_port(),
        db_acquire_timeout_ms=1000,
    )
    async with running_api(down) as url, httpx.AsyncClient(base_url=url) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
        data = await client.get("/invoices/summary", headers={"x-api-key": "bk_anything"})
    assert live.status_code == 200
    assert data.status_code == 503 and data.headers["Retry-After"] == "1"
    assert data.json()["title"] == "Database unavailable"
    assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
