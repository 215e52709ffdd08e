"""Fixtures of the security tests: the read API over HTTP on loopback, on the
test's own database, with a small data set of two tenants and settings of the
test's choosing (``serve(**overrides)``).

Tenant acme owns invoices whose numbers and customers hold what injection
tests like to see (quotes, ``%``, ``_``, backslashes, unicode); tenant globex
owns a customer and an invoice that acme must never see, and a customer id
that both tenants use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from contracts import InvoiceEvent
from services import keys
from services.settings import Settings
from tests.conftest import free_port
from tests.factories import InvoiceBuilder, line
from tests.projected import TOPIC, project
from tests.serving import running_api

GLOBEX_CUSTOMER = "cus-globex-only"
GLOBEX_INVOICE = "inv-globex-only"
SHARED_CUSTOMER = "cus-shared"
# Invoice numbers of acme that look like SQL or LIKE syntax.
TRICKY_NUMBERS = ("O'Brien-1", "100%_OFF", "back\\slash", "semi;colon--", "Zürich-€-1", 'dq"1')


class Served(msgspec.Struct):
    url: str
    settings: Settings
    conn: asyncpg.Connection
    acme_key: str
    globex_key: str
    acme_invoices: list[str]
    acme_customers: list[str]

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)


def data_set() -> tuple[list[InvoiceEvent], list[str], list[str]]:
    """(events, acme's invoice ids, acme's customer ids)."""
    d = dt.date
    acme = [
        InvoiceBuilder(
            customer=f"cus-{i % 3}",
            currency=("EUR", "USD", "JPY")[i % 3],
            number=number,
            issue_date=d(2026, 1, 1 + i),
            due_date=d(2026, 2, 1 + i),
            lines=[line(net=1000 * (i + 1), tax=100 * i)],
        )
        for i, number in enumerate(TRICKY_NUMBERS)
    ]
    acme.append(InvoiceBuilder(customer=SHARED_CUSTOMER, number="SHARED-ACME", issue_date=d(2026, 3, 1)))
    globex = [
        InvoiceBuilder(
            GLOBEX_INVOICE,
            tenant="globex",
            customer=GLOBEX_CUSTOMER,
            number="GLOBEX-SECRET",
            issue_date=d(2026, 1, 5),
            lines=[line(net=777700, tax=0)],
        ),
        InvoiceBuilder(
            tenant="globex",
            customer=SHARED_CUSTOMER,
            number="SHARED-GLOBEX",
            issue_date=d(2026, 1, 6),
            lines=[line(net=888800, tax=0)],
        ),
    ]
    events: list[InvoiceEvent] = []
    for i, builder in enumerate([*acme, *globex]):
        events.append(builder.created())
        if i % 2 == 0:
            events.append(builder.sent())
        if i % 4 == 0:
            events.append(builder.paid("1.00"))
    return events, [b.invoice_id for b in acme], sorted({b.customer for b in acme})


@pytest.fixture
async def serve(settings: Settings, conn: asyncpg.Connection) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """``await serve(**settings overrides)``: the data set projected into this
    test's database and the API serving it (stopped after the test)."""
    events, acme_invoices, acme_customers = data_set()
    await project(conn, events)
    _, acme_key = await keys.create(conn, "acme", "security tests")
    _, globex_key = await keys.create(conn, "globex", "security tests")
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Served:
            values = {"topic": TOPIC, "api_port": free_port(), "freshness_wait_max_ms": 100, **overrides}
            served_settings = msgspec.structs.replace(settings, **values)
            url = await stack.enter_async_context(running_api(served_settings))
            return Served(
                url=url,
                settings=served_settings,
                conn=conn,
                acme_key=acme_key,
                globex_key=globex_key,
                acme_invoices=acme_invoices,
                acme_customers=acme_customers,
            )

        yield start


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Row counts of every table of the billing and projection schemas."""
    rows = await conn.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND (table_schema = 'billing' OR table_schema LIKE 'proj\\_%')"
        " ORDER BY 1, 2"
    )
    counts = {}
    for r in rows:
        name = f'"{r["table_schema"]}"."{r["table_name"]}"'
        counts[name] = await conn.fetchval(f"SELECT count(*) FROM {name}")
    return counts
