"""Sequence's invoice endpoints: GET /invoices/summary and GET /invoices/list-summary."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide

from services.api import queries
from services.api.filters import InvoiceFilter, Page, Sql, invoice_filter, invoice_page, page_parameters
from services.api.params import MinPosition
from services.api.problems import problem_responses
from services.api.reading import json_response, major, reading
from services.api.schemas import (
    InvoiceSummaryListItem,
    InvoiceSummaryResponse,
    InvoiceSummaryResponseCurrencyTotals,
    ListInvoiceSummariesResponse,
    Pagination,
    SequenceBillingPeriod,
)

FILTER = {"invoice_filter": Provide(invoice_filter)}
PAGE = {"page": Provide(page_parameters)}


@get(
    "/invoices/summary",
    tags=["Sequence"],
    summary="Get an invoice summary",
    operation_id="getInvoicesSummary",
    responses=problem_responses(),
    dependencies=FILTER,
)
async def invoices_summary(
    request: Request[Any, Any, Any], invoice_filter: NamedDependency[InvoiceFilter], min_position: MinPosition = None
) -> Response[InvoiceSummaryResponse]:
    """Invoice count and gross total per currency over every invoice of the
    tenant (any status) that matches the filters. Unfiltered, it is read from
    the per-currency summary table; filtered, one aggregate over the invoices."""
    async with reading(request, min_position) as read:
        if invoice_filter.is_empty:
            rows = await read.conn.fetch(queries.CURRENCY_TOTALS, read.tenant_id)
        else:
            sql = Sql(read.tenant_id).invoice_filter(invoice_filter)
            rows = await read.conn.fetch(queries.FILTERED_TOTALS.format(where=sql.where), *sql.args)
        return json_response(totals_by_currency(rows), read)


def totals_by_currency(rows: list[asyncpg.Record]) -> InvoiceSummaryResponse:
    return InvoiceSummaryResponse(
        totalsByCurrency=[
            InvoiceSummaryResponseCurrencyTotals(
                currency=r["currency"],
                invoiceCount=r["invoice_count"],
                grossTotal=major(r["gross_total"], r["currency"]),
            )
            for r in rows
        ]
    )


def list_item(r: asyncpg.Record) -> InvoiceSummaryListItem:
    start, end = r["billing_period_start"], r["billing_period_end"]
    return InvoiceSummaryListItem(
        id=r["invoice_id"],
        invoiceNumber=r["invoice_number"],
        status=r["status"],
        currency=r["currency"],
        grossTotal=major(r["gross"], r["currency"]),
        customerId=r["customer_id"],
        customerLegalCompanyName=r["customer_name"],
        billingPeriod=None if start is None else SequenceBillingPeriod(start=start, endInclusive=end),
        dueDate=r["due_date"],
        accountingDate=r["accounting_date"],
        links=[],
    )


@get(
    "/invoices/list-summary",
    tags=["Sequence"],
    summary="List invoice summaries",
    operation_id="listInvoiceSummaries",
    responses=problem_responses(),
    dependencies={**FILTER, **PAGE},
)
async def invoices_list_summary(
    request: Request[Any, Any, Any],
    invoice_filter: NamedDependency[InvoiceFilter],
    page: NamedDependency[Page],
    min_position: MinPosition = None,
) -> Response[ListInvoiceSummariesResponse]:
    """The invoices matching the filters, one page at a time (keyset cursors:
    pages stay correct while new invoices arrive)."""
    async with reading(request, min_position) as read:
        found = await invoice_page(read.conn, read.tenant_id, invoice_filter, page)
        body = ListInvoiceSummariesResponse(
            items=[list_item(r) for r in found.rows],
            pagination=Pagination(after=found.after, before=found.before, totalResultSize=found.total),
        )
        return json_response(body, read)
