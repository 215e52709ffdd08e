"""Fixtures for the integration tests: real PostgreSQL and Kafka.

Each test gets its own database, cloned from a migrated template (cheap, and
no test sees another's rows), and its own topics and consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services import db
from services.settings import Settings
from tests.services_under_test import real_services

TEMPLATE = "billing_test_template"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def service_env() -> Iterator[dict[str, str]]:
    with real_services() as env:
        yield env


@pytest.fixture(scope="session")
async def template_database(service_env: dict[str, str]) -> str:
    """A database with every migration applied, cloned by each test."""
    admin = await asyncpg.connect(service_env["BILLING_DATABASE_URL"])
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    url = with_database(service_env["BILLING_DATABASE_URL"], TEMPLATE)
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE


@pytest.fixture
async def make_database(
    service_env: dict[str, str], template_database: str
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes fresh migrated databases (clones of the template); drops them afterwards."""
    admin = await asyncpg.connect(service_env["BILLING_DATABASE_URL"])
    made: list[str] = []

    async def make() -> str:
        name = f"billing_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
        made.append(name)
        return with_database(service_env["BILLING_DATABASE_URL"], name)

    try:
        yield make
        for name in made:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(make_database: Callable[[], Awaitable[str]]) -> str:
    return await make_database()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
async def settings(service_env: dict[str, str], database_url: str) -> AsyncIterator[Settings]:
    """Settings for one test: its own database, topics and consumer group."""
    suffix = uuid.uuid4().hex[:10]
    value = Settings.from_env(
        {},
        database_url=database_url,
        kafka_bootstrap=service_env["BILLING_KAFKA_BOOTSTRAP"],
        topic=f"invoice-events-{suffix}",
        dlq_topic=f"invoice-events-{suffix}.dlq",
        consumer_group=f"projections-{suffix}",
        worker_metrics_port=0,
        batch_wait_ms=20,
        api_port=free_port(),
    )
    await create_topics(value)
    yield value
    await delete_topics(value)


async def create_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(settings.topic, settings.topic_partitions, 1), NewTopic(settings.dlq_topic, 1, 1)]
        )
    finally:
        await admin.close()


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics([settings.topic, settings.dlq_topic])
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def running_worker(settings: Settings) -> AsyncIterator[asyncio.Event]:
    """A worker in this process; the fixture stops it cleanly afterwards."""
    from services.worker.consumer import Worker

    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings).run(stop))
    yield stop
    stop.set()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def api_url(settings: Settings) -> AsyncIterator[str]:
    """The read API served over HTTP on a loopback port, in this process."""
    from tests.serving import running_api

    async with running_api(settings) as url:
        yield url


@pytest.fixture
async def api_key(conn: asyncpg.Connection) -> str:
    """A key of tenant "acme"."""
    from services import keys

    _, key = await keys.create(conn, "acme", "tests")
    return key
