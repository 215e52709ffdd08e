"""Readiness is the replica's own health: a connection from its pool and the
database's answer on it, within a short timeout. Neither the projections'
lag (tests/services/test_operations_api.py) nor the broker counts; the lag
watch's broker probe closes its consumer however its start ends."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar

from services.api.app import create_app
from services.api.ops.endpoints import READY_DB_TIMEOUT_SECONDS
from services.kafka_probe import KafkaProbe
from services.settings import Settings
from tests.conftest import free_port, with_database
from tests.serving import running_api

pytestmark = pytest.mark.integration


def litestar_of(app: Any) -> Litestar:
    """The Litestar application inside create_app's middleware."""
    while not isinstance(app, Litestar):
        app = app.app
    return app


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, Litestar]]:
    """Like tests/serving.py, with the application at hand (its pool)."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # it failed to start: say why
    try:
        yield f"http://127.0.0.1:{settings.api_port}", litestar_of(app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_ready_when_a_pooled_connection_answers(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert body["pool"]["size"] >= 1 and body["pool"]["max"] == 10 and 0 <= body["pool"]["idle"] <= body["pool"]["size"]
    assert set(body) == {"status", "database", "pool"}  # no lag in it


async def test_not_ready_when_the_database_is_unreachable(settings: Settings) -> None:
    closed = msgspec.structs.replace(
        settings, database_url=f"postgresql://billing@127.0.0.1:{free_port()}/billing", api_port=free_port()
    )
    async with running_api(closed) as url, httpx.AsyncClient(base_url=url) as client:
        started = time.monotonic()
        ready = await client.get("/health/ready")
        elapsed = time.monotonic() - started
        live = await client.get("/health/live")
    assert ready.status_code == 503 and live.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"]) == ("unavailable", "unreachable")
    assert "Connect" in body["detail"] and body["pool"]["size"] == 0
    assert elapsed < READY_DB_TIMEOUT_SECONDS + 1


async def test_not_ready_with_a_wrong_database_name(settings: Settings) -> None:
    wrong = msgspec.structs.replace(
        settings, database_url=with_database(settings.database_url, "no_such_database"), api_port=free_port()
    )
    async with running_api(wrong) as url, httpx.AsyncClient(base_url=url) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable" and "InvalidCatalogName" in ready.json()["detail"]


async def test_not_ready_while_the_pool_gives_no_connection_ready_again_after(settings: Settings) -> None:
    small = msgspec.structs.replace(settings, db_pool_max=1, api_port=free_port())
    async with serving(small) as (url, app), httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/health/ready")).status_code == 200
        pool: asyncpg.Pool = app.state.pool
        async with pool.acquire():  # the only connection, held
            started = time.monotonic()
            busy = await client.get("/health/ready")
            waited = time.monotonic() - started
        again = await client.get("/health/ready")
    assert busy.status_code == 503
    assert busy.json()["pool"] == {"size": 1, "idle": 0, "max": 1}
    assert "no pooled connection" in busy.json()["detail"]
    assert READY_DB_TIMEOUT_SECONDS - 0.2 <= waited < READY_DB_TIMEOUT_SECONDS + 1
    assert again.status_code == 200


async def test_ready_without_the_broker_and_the_status_says_the_lag_is_unknown(
    settings: Settings, api_key: str
) -> None:
    no_kafka = msgspec.structs.replace(settings, kafka_bootstrap=f"127.0.0.1:{free_port()}", api_port=free_port())
    with unclosed_kafka_clients() as unclosed:
        async with (
            running_api(no_kafka) as url,
            httpx.AsyncClient(base_url=url, headers={"x-api-key": api_key}) as client,
        ):
            ready = await client.get("/health/ready")
            status = await client.get("/v1/projections/status")
    assert ready.status_code == 200
    assert status.status_code == 200
    assert all(p["lagEvents"] is None for p in status.json()["status"]["partitions"])
    assert unclosed == []


@contextlib.contextmanager
def unclosed_kafka_clients() -> Iterator[list[str]]:
    """What the block leaves unclosed among Kafka clients (aiokafka says so when
    they are collected: a ResourceWarning and the loop's exception handler)."""
    found: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: found.append(str(context.get("message"))))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
            gc.collect()
        found.extend(str(w.message) for w in caught if "Unclosed AIOKafka" in str(w.message))
    finally:
        loop.set_exception_handler(previous)
    found[:] = [message for message in found if "Unclosed AIOKafka" in message]


async def test_a_probe_closes_its_consumer_whether_it_started_failed_or_never_started(settings: Settings) -> None:
    unreachable = msgspec.structs.replace(settings, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with unclosed_kafka_clients() as unclosed:
        never_started = KafkaProbe(settings)
        await never_started.stop()
        failing = KafkaProbe(unreachable)
        for _ in range(2):  # each attempt builds a consumer of its own
            with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the client raises
                await failing.start()
            assert not failing.started
        await failing.stop()
        working = KafkaProbe(settings)
        await working.start()
        await asyncio.sleep(0.1)  # (aiokafka cannot stop a consumer in the very step it started)
        await working.stop()
        await working.stop()  # twice is harmless
        del never_started, failing, working
    assert unclosed == []
