"""Fixtures of the read API tests.

Function scope (a fresh database per test): ``client`` (tenant acme's key,
Bearer) and ``globex`` (a second tenant, x-api-key) over the ``api_url``
server of tests/conftest.py. Module scope, for modules that project one data
set and only read it: ``module_api``. ``seed_schema`` validates a body
against a response schema of the seed pages.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jsonschema
import msgspec
import pytest

from services import keys
from services.settings import Settings
from tests.conftest import free_port, with_database
from tests.projected import TOPIC
from tests.serving import running_api

SEED_SCHEMAS = Path(__file__).with_name("seed_schemas.json")


@pytest.fixture
async def client(api_url: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """Tenant acme's view of the API."""
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as http:
        yield http


@pytest.fixture
async def globex(api_url: str, conn: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """A second tenant's view of the same API."""
    _, key = await keys.create(conn, "globex", "tests")
    async with httpx.AsyncClient(base_url=api_url, headers={"x-api-key": key}, timeout=10) as http:
        yield http


class ModuleApi(msgspec.Struct):
    url: str
    conn: asyncpg.Connection
    acme: httpx.AsyncClient
    globex: httpx.AsyncClient
    settings: Settings
    acme_key: str


@pytest.fixture(scope="module")
async def module_api(service_env: dict[str, str], template_database: str) -> AsyncIterator[ModuleApi]:
    """One database and API server for a whole module (projections read the
    default test topic, so the freshness headers name it)."""
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(service_env["BILLING_DATABASE_URL"])
    await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    url = with_database(service_env["BILLING_DATABASE_URL"], name)
    settings = Settings.from_env(
        {},
        database_url=url,
        topic=TOPIC,
        api_port=free_port(),
        cors_origins=("https://app.example.com",),
        freshness_wait_max_ms=300,
    )
    conn = await asyncpg.connect(url)
    _, acme_key = await keys.create(conn, "acme", "tests")
    _, globex_key = await keys.create(conn, "globex", "tests")
    async with (
        running_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {acme_key}"}, timeout=10) as acme,
        httpx.AsyncClient(base_url=base, headers={"x-api-key": globex_key}, timeout=10) as other,
    ):
        yield ModuleApi(url=base, conn=conn, acme=acme, globex=other, settings=settings, acme_key=acme_key)
    await conn.close()
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


@pytest.fixture(scope="session")
def seed_schema() -> Callable[[str, Any], None]:
    """``seed_schema(name, body)`` validates ``body`` against the seed pages'
    schema ``name`` (tests/services/api/seed_schemas.json)."""
    document = json.loads(SEED_SCHEMAS.read_text())

    def validate(name: str, body: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(
            body
        )

    return validate
