"""Sequence's invoice endpoints: GET /invoices/summary and GET /invoices/list-summary,
also under /api (as Sequence's documentation writes them: https://…/api/invoices/…)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide

from services.api import money
from services.api.filters import InvoiceFilter, invoice_filter
from services.api.invoice_rows import StoredInvoice
from services.api.openapi import vendor_paths
from services.api.paging import Page, Pagination, invoice_page, page_parameters
from services.api.params import MinPosition, Param
from services.api.problems import BadParameter, problem_responses
from services.api.reading import json_response, reading
from services.api.rows import all_typed
from services.api.sequence import queries
from services.api.sequence.queries import CurrencyTotal
from services.api.sequence.schemas import (
    InvoiceSummaryListItem,
    InvoiceSummaryResponse,
    InvoiceSummaryResponseCurrencyTotals,
    ListInvoiceSummariesResponse,
    SequenceBillingPeriod,
)

FILTER = {"invoice_filter": Provide(invoice_filter)}
PAGE = {"page": Provide(page_parameters)}
# The prefix of Sequence's documented URLs.
DOCS_PREFIX = "/api"
# The API versions Sequence's pages document (header sequence-version).
VERSIONS = ("2024-07-30",)
VERSION = Param(
    "sequence-version",
    f"Sequence API version: {', '.join(VERSIONS)} (the only one these answers follow); another is a 400.",
    {"enum": list(VERSIONS)},
)
SequenceVersion = Annotated[str | None, VERSION.header()]


def check_version(value: str | None) -> None:
    if value is not None and value.strip() not in VERSIONS:
        raise BadParameter(VERSION.name, f"{value!r} is not a version this API answers as; use {', '.join(VERSIONS)}")


def totals_by_currency(totals: Iterable[CurrencyTotal]) -> InvoiceSummaryResponse:
    return InvoiceSummaryResponse(
        totalsByCurrency=[
            InvoiceSummaryResponseCurrencyTotals(
                currency=t.currency,
                invoiceCount=t.invoice_count,
                grossTotal=money.number(t.gross_total, t.currency),
            )
            for t in totals
        ]
    )


def totals_of_records(records: Iterable[asyncpg.Record]) -> InvoiceSummaryResponse:
    """The answer from records with the columns of ``queries.CURRENCY_TOTALS``:
    the read baseline (bench/baseline_api.py) renders its own query's with it."""
    return totals_by_currency(all_typed(CurrencyTotal, records))


def list_item(invoice: StoredInvoice) -> InvoiceSummaryListItem:
    start, end = invoice.billing_period_start, invoice.billing_period_end
    return InvoiceSummaryListItem(
        id=invoice.invoice_id,
        invoiceNumber=invoice.invoice_number,
        status=invoice.status,
        currency=invoice.currency,
        grossTotal=money.number(invoice.gross, invoice.currency),
        customerId=invoice.customer_id,
        customerLegalCompanyName=invoice.customer_name,
        billingPeriod=None if start is None or end is None else SequenceBillingPeriod(start=start, endInclusive=end),
        dueDate=invoice.due_date,
        accountingDate=invoice.accounting_date,
        links=[],
    )


@get(
    **vendor_paths("/invoices/summary", DOCS_PREFIX, "getInvoicesSummary"),
    summary="Get an invoice summary",
    responses=problem_responses(),
    dependencies=FILTER,
)
async def invoices_summary(
    request: Request[Any, Any, Any],
    invoice_filter: NamedDependency[InvoiceFilter],
    min_position: MinPosition = None,
    sequence_version: SequenceVersion = None,
) -> Response[InvoiceSummaryResponse]:
    """Invoice count and gross total per currency over every invoice of the
    tenant (any status) that matches the filters. Unfiltered, it is read from
    the per-currency summary table; filtered, one aggregate over the invoices."""
    check_version(sequence_version)
    async with reading(request, min_position) as read:
        totals = await queries.currency_totals(read.conn, read.tenant_id, invoice_filter)
        return json_response(totals_by_currency(totals), read)


@get(
    **vendor_paths("/invoices/list-summary", DOCS_PREFIX, "listInvoiceSummaries"),
    summary="List invoice summaries",
    responses=problem_responses(),
    dependencies={**FILTER, **PAGE},
)
async def invoices_list_summary(
    request: Request[Any, Any, Any],
    invoice_filter: NamedDependency[InvoiceFilter],
    page: NamedDependency[Page],
    min_position: MinPosition = None,
    sequence_version: SequenceVersion = None,
) -> Response[ListInvoiceSummariesResponse]:
    """The invoices matching the filters, one page at a time (keyset cursors:
    pages stay correct while new invoices arrive)."""
    check_version(sequence_version)
    async with reading(request, min_position) as read:
        found = await invoice_page(read.conn, read.tenant_id, invoice_filter, page)
        body = ListInvoiceSummariesResponse(
            items=[list_item(invoice) for invoice in found.invoices], pagination=Pagination.of(found)
        )
        return json_response(body, read)
