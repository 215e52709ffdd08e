"""The read API holds a sustained, bounded load on loopback while ingest runs
at a steady rate: a paced publisher (500 events/s) feeds a worker process,
and a fixed number of concurrent clients read every data endpoint of one
tenant for the whole time. No request may fail; the latency percentiles are
printed, p99 is held to a generous bound.

``BILLING_LOAD_SECONDS`` (default 10) and ``BILLING_LOAD_CONCURRENCY``
(default 12) make a longer or wider run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import InvoiceEvent, encode
from services import keys
from services.demo import demo_stream
from services.settings import Settings
from tests.services.workers import caught_up, spawn_worker, stop_worker

pytestmark = pytest.mark.integration

SECONDS = float(os.environ.get("BILLING_LOAD_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BILLING_LOAD_CONCURRENCY", "12"))
EVENTS_PER_SECOND = 500
TICK = 0.05
P99_BOUND_SECONDS = 3.0
TENANT = "tenant-1"


async def publish_paced(settings: Settings, events: list[InvoiceEvent], stop: asyncio.Event) -> dict[int, int]:
    """``EVENTS_PER_SECOND`` in ticks of ``TICK`` seconds, on schedule, until
    ``stop`` or the events run out; the last offset per partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    ends: dict[int, int] = {}
    per_tick = int(EVENTS_PER_SECOND * TICK)
    started = time.monotonic()
    try:
        for tick, first in enumerate(range(0, len(events), per_tick)):
            if stop.is_set():
                break
            futures = [
                await producer.send(settings.topic, encode(e), key=e.subject.encode())
                for e in events[first : first + per_tick]
            ]
            for meta in await asyncio.gather(*futures):
                ends[meta.partition] = max(ends.get(meta.partition, -1), meta.offset)
            await asyncio.sleep(max(0.0, started + (tick + 1) * TICK - time.monotonic()))
    finally:
        await producer.stop()
    return ends


def api_process(settings: Settings, log: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env(), "BILLING_LOG_FORMAT": "json", "BILLING_LOG_LEVEL": "warning"}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "api"], env=env, stdout=log, stderr=log)


async def wait_live(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(300):
            assert process.poll() is None, "the API process stopped"
            try:
                if (await http.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("the API did not start")


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def test_the_read_api_holds_a_sustained_load_while_ingest_runs(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    events = list(demo_stream(tenants=2, customers=20, invoices=int(EVENTS_PER_SECOND * (SECONDS + 10) / 3), seed=11))
    warmup, steady = events[:1500], events[1500:]
    _, key = await keys.create(conn, TENANT, "load test")
    worker = spawn_worker(settings)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server writes it until the end of the test
    api = api_process(settings, log)
    url = f"http://127.0.0.1:{settings.api_port}"
    try:
        await wait_live(url, api)
        # Some history first, so that every endpoint has something to read.
        none = asyncio.Event()
        await caught_up(conn, settings.topic, await publish_paced(settings, warmup, none), timeout=60)
        async with httpx.AsyncClient(
            base_url=url, headers={"x-api-key": key}, timeout=10, limits=httpx.Limits(max_connections=CONCURRENCY)
        ) as http:
            first = (await http.get("/v1/invoices", params={"limit": "20", "sortBy": "dueDate"})).json()
            invoice_id, cursor = first["items"][0]["id"], first["pagination"]["after"]
            customer = first["items"][0]["customerId"]
            paths = [
                "/v1/summary",
                "/invoices/summary",
                "/invoices/summary?invoiceStatus=SENT&invoiceCurrency=EUR,USD",
                "/invoices/list-summary?limit=20",
                f"/v1/invoices?limit=20&sortBy=dueDate&after={cursor}",
                "/v1/invoices?limit=50&search=0&sortBy=grossTotal&sortOrder=ASC",
                "/v1/invoices/totals?start_date=2026-01-01&end_date=2026-12-31",
                "/v1/invoices/summaries",
                f"/customers/{customer}/invoices/summary",
                f"/v1/customers/{customer}/summary",
                f"/v1/invoices/{invoice_id}",
            ]
            latencies: list[float] = []
            errors: list[str] = []
            stop = asyncio.Event()

            async def client(n: int) -> None:
                i = n
                while not stop.is_set():
                    path = paths[i % len(paths)]
                    i += 1
                    started = time.perf_counter()
                    try:
                        response = await http.get(path)
                        if response.status_code != 200:
                            errors.append(f"{path}: {response.status_code} {response.text[:200]}")
                    except httpx.HTTPError as error:
                        errors.append(f"{path}: {error!r}")
                    latencies.append(time.perf_counter() - started)

            publisher = asyncio.create_task(publish_paced(settings, steady, stop))
            clients = [asyncio.create_task(client(n)) for n in range(CONCURRENCY)]
            await asyncio.sleep(SECONDS)
            stop.set()
            await asyncio.gather(*clients)
            ends = await publisher
        lag_seconds = await caught_up(conn, settings.topic, ends, timeout=60)
    finally:
        stop_worker(worker)
        api.terminate()
        api.wait(15)
    ordered = sorted(latencies)
    published = sum(ends.values()) + len(ends) - len(warmup)
    log.seek(0)
    server_log = log.read().decode(errors="replace")
    print(
        f"load: {len(latencies)} requests in {SECONDS:.0f}s ({len(latencies) / SECONDS:.0f}/s) from {CONCURRENCY}"
        f" clients, {len(errors)} errors; p50 {percentile(ordered, 50) * 1000:.1f} ms, p95"
        f" {percentile(ordered, 95) * 1000:.1f} ms, p99 {percentile(ordered, 99) * 1000:.1f} ms, max"
        f" {ordered[-1] * 1000:.1f} ms; ingest: ~{published} events published"
        f" (~{published / SECONDS:.0f}/s), caught up {lag_seconds:.2f}s after the load"
    )
    assert not errors, "\n".join(errors[:20]) + "\n" + server_log[-3000:]
    assert len(latencies) > 10 * SECONDS
    assert percentile(ordered, 99) < P99_BOUND_SECONDS
    assert "unhandled error" not in server_log, server_log[-3000:]
