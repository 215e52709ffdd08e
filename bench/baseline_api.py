"""The read baseline: the same summaries computed the way Flexprice and Lago
compute them, by aggregating the invoice rows at request time.

A tiny Litestar + asyncpg app, served like the product (one uvicorn process,
the product's pool and event loop, the same API keys and JSON encoder), so the only
difference the read benchmark measures is where the sums come from: the
product reads summary rows kept up to date by the workers; this app scans the
tenant's (or the customer's) invoices on every request. It reads the same
invoice rows (the ``billing_read`` views) and renders its rows with the
product's own response builders.

``GET /v1/summary`` (with ``asOf`` and ``knownAt``) is recomputed from the
event store instead: the tenant's events recorded by ``knownAt`` are read and
each invoice's events dated by the end of ``asOf`` folded with the service's
state machine (bench/recompute.py), as a service without timelines would
have to.

Run: ``python -m bench.baseline_api`` with BILLING_DATABASE_URL and
BILLING_API_PORT set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get
from litestar.exceptions import NotAuthorizedException, NotFoundException

from bench import customers_baseline, recompute, series_baseline
from services import db, keys
from services.api.filters import InvoiceFilter, Sql
from services.api.flexprice.endpoints import summary_of_record as currency_summary
from services.api.flexprice.schemas import CustomerMultiCurrencyInvoiceSummary
from services.api.sequence.endpoints import totals_of_records as totals_by_currency
from services.api.v1.summaries.endpoints import currency_summary as v1_currency_summary
from services.api.v1.summaries.schemas import V1Summary
from services.cli import loop_factory
from services.settings import Settings

_ENCODER = msgspec.json.Encoder(decimal_format="number")

# The per-currency summary, the common way: a GROUP BY over the invoices.
TOTALS = """
SELECT currency, count(*)::bigint AS invoice_count, sum(gross) AS gross_total
FROM billing_read.invoices
WHERE tenant_id = $1{where}
GROUP BY currency
ORDER BY currency
"""

# The per-customer summary over the customer's invoice rows: SENT invoices'
# count and revenue, receivable (SENT with a balance), overdue (receivable and
# due before the cut-off), and the receivable split by charge type.
CUSTOMER = """
SELECT currency,
       count(*) FILTER (WHERE status = 'SENT')::bigint AS sent_count,
       coalesce(sum(gross) FILTER (WHERE status = 'SENT'), 0) AS sent_gross,
       count(*) FILTER (WHERE status = 'SENT' AND balance > 0)::bigint AS receivable_count,
       coalesce(sum(balance) FILTER (WHERE status = 'SENT' AND balance > 0), 0) AS receivable_balance,
       coalesce(sum(balance_usage) FILTER (WHERE status = 'SENT' AND balance > 0), 0) AS receivable_usage,
       coalesce(sum(balance_fixed) FILTER (WHERE status = 'SENT' AND balance > 0), 0) AS receivable_fixed,
       count(*) FILTER (WHERE status = 'SENT' AND balance > 0 AND due_date < $3)::bigint AS overdue_count,
       coalesce(sum(balance) FILTER (WHERE status = 'SENT' AND balance > 0 AND due_date < $3), 0) AS overdue_balance
FROM billing_read.invoices
WHERE tenant_id = $1 AND customer_id = $2
GROUP BY currency
ORDER BY currency
"""

DEFAULT_CURRENCY = """
SELECT currency FROM billing_read.invoices
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY issue_date DESC, created_at DESC NULLS LAST, invoice_id DESC
LIMIT 1
"""

# The tenant's events recorded by $2 (null: all), each invoice's in sequence
# order (the primary key's order: no sort).
TENANT_EVENTS = """
SELECT invoice_id, partition, body FROM billing.event_store
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR stored_at <= $2::timestamptz)
ORDER BY tenant_id, invoice_id, sequence
"""

_tenants: dict[bytes, str | None] = {}


async def _tenant(request: Request[Any, Any, Any]) -> str:
    key = request.headers.get("x-api-key")
    if not key:
        raise NotAuthorizedException("missing x-api-key")
    digest = keys.hash_key(key)
    if digest not in _tenants:
        _tenants[digest] = await keys.tenant_of(request.app.state.pool, digest)
    tenant = _tenants[digest]
    if tenant is None:
        raise NotAuthorizedException("unknown API key")
    return tenant


def _json(body: Any) -> Response[Any]:
    return Response(content=_ENCODER.encode(body), media_type="application/json")


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/floor")
async def floor() -> Response[Any]:
    """A constant body: the cost of the HTTP server and framework alone."""
    return _json(_FLOOR_BODY)


_DATE_FILTERS = ("dueBefore", "invoiceAfter", "invoiceBefore")
_FLOOR_BODY = {"totalsByCurrency": [{"currency": "EUR", "invoiceCount": 1, "grossTotal": 1}]}


@get("/invoices/summary")
async def invoices_summary(request: Request[Any, Any, Any]) -> Response[Any]:
    tenant = await _tenant(request)
    # The filtered variants the benchmark uses, aggregated over the invoice rows.
    query = request.query_params
    dates = {name: dt.date.fromisoformat(query[name]) for name in _DATE_FILTERS if name in query}
    f = InvoiceFilter(
        statuses=query["invoiceStatus"].split(",") if "invoiceStatus" in query else None,
        currencies=query["invoiceCurrency"].split(",") if "invoiceCurrency" in query else None,
        customer_id=query.get("customerId"),
        search=query.get("search"),
        due_before=dates.get("dueBefore"),
        issued_after=dates.get("invoiceAfter"),
        issued_before=dates.get("invoiceBefore"),
    )
    sql = Sql(tenant).invoice_filter(f)
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(TOTALS.format(where=sql.where), *sql.args)
    return _json(totals_by_currency(rows))


@get("/customers/{customer_id:str}/invoices/summary")
async def customer_summary(request: Request[Any, Any, Any], customer_id: str) -> Response[Any]:
    tenant = await _tenant(request)
    as_of = request.query_params.get("asOf")
    cutoff = dt.date.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC).date()
    async with request.app.state.pool.acquire() as conn:
        default_currency = await conn.fetchval(DEFAULT_CURRENCY, tenant, customer_id)
        if default_currency is None:
            raise NotFoundException(f"no invoices for customer {customer_id!r}")
        rows = await conn.fetch(CUSTOMER, tenant, customer_id, cutoff)
    return _json(
        CustomerMultiCurrencyInvoiceSummary(
            customer_id=customer_id,
            default_currency=default_currency,
            summaries=[currency_summary(r, customer_id) for r in rows],
        )
    )


class ClientGone(Exception):
    """The client went away before its answer was computed (a load run ended)."""


async def _client_gone(request: Request[Any, Any, Any]) -> bool:
    """Whether the client has disconnected: a request whose client is gone
    is not worth seconds of CPU that the next measured run would pay for."""
    for _ in range(2):  # the first message may be the (empty) request body
        try:
            message = await asyncio.wait_for(request.receive(), 0.001)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            return True
    return False


@get("/v1/summary")
async def v1_summary(request: Request[Any, Any, Any]) -> Response[Any]:
    """Every /v1/summary figure as of ``asOf`` as known at ``knownAt``,
    recomputed from the event store."""
    tenant = await _tenant(request)
    as_of_text = request.query_params.get("asOf")
    known_text = request.query_params.get("knownAt")
    as_of = dt.date.fromisoformat(as_of_text) if as_of_text else None
    known_at = dt.datetime.fromisoformat(known_text) if known_text else None
    cutoff = as_of or dt.datetime.now(dt.UTC).date()
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(TENANT_EVENTS, tenant, known_at)
    if await _client_gone(request):
        raise ClientGone
    found = recompute.summaries_at(rows, as_of, cutoff)
    return _json(V1Summary(asOf=cutoff, knownAt=known_at, summaries=[v1_currency_summary(s, cutoff) for s in found]))


@get("/v1/summary/series")
async def v1_series(request: Request[Any, Any, Any]) -> Response[Any]:
    """The period series, aggregated over the tenant's invoice rows (bench/series_baseline.py)."""
    tenant = await _tenant(request)
    async with request.app.state.pool.acquire() as conn:
        return _json(await series_baseline.series(conn, tenant, request.query_params))


@get("/v1/customers")
async def v1_customers(request: Request[Any, Any, Any]) -> Response[Any]:
    """The collections view, aggregated over the tenant's invoice rows (bench/customers_baseline.py)."""
    tenant = await _tenant(request)
    async with request.app.state.pool.acquire() as conn:
        return _json(await customers_baseline.customers(conn, tenant, request.query_params))


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def pool(app: Litestar) -> AsyncIterator[None]:
        # The product's pool, so both apps have the same concurrency and
        # per-request connection cost.
        app.state.pool = await db.create_pool(
            settings.database_url, settings.db_pool_min, settings.db_pool_max, settings.api_statement_timeout_ms
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(
        [live, floor, invoices_summary, customer_summary, v1_summary, v1_series, v1_customers],
        lifespan=[pool],
        openapi_config=None,
        exception_handlers={ClientGone: _gone},
    )


def _gone(request: Request[Any, Any, Any], error: ClientGone) -> Response[Any]:
    return Response(content=b"", status_code=499)


def main() -> None:
    settings = Settings.from_env()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    # Served exactly as `billing api` serves: Server.serve() on the event
    # loop services/cli.py runs (uvloop when installed).
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
