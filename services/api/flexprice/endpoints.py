"""Flexprice's customer invoice summary: GET /customers/{id}/invoices/summary,
also under /v1 (the base URL of Flexprice's SDKs ends in /v1)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get

from services.api import money, point_in_time
from services.api.flexprice import queries
from services.api.flexprice.queries import CustomerCurrency
from services.api.flexprice.schemas import (
    CustomerInvoiceSummary,
    CustomerMultiCurrencyInvoiceSummary,
    FlexpriceProblem,
)
from services.api.openapi import vendor_paths
from services.api.params import NON_EMPTY, AsOf, MinPosition, Param
from services.api.point_in_time import KnownAt
from services.api.problems import customer_not_found, problem_responses
from services.api.reading import json_response, reading
from services.api.rows import typed

CUSTOMER = Param("id", "Customer ID", NON_EMPTY)
CustomerId = Annotated[str, CUSTOMER.path()]


def currency_summary(c: CustomerCurrency, customer_id: str) -> CustomerInvoiceSummary:
    code = c.currency
    return CustomerInvoiceSummary(
        currency=code,
        customer_id=customer_id,
        overdue_invoice_count=c.overdue_count,
        total_invoice_count=c.sent_count,
        total_overdue_amount=money.text(c.overdue_balance, code),
        total_revenue_amount=money.text(c.sent_gross, code),
        total_unpaid_amount=money.text(c.receivable_balance, code),
        unpaid_fixed_charges=money.text(c.receivable_fixed, code),
        unpaid_invoice_count=c.receivable_count,
        unpaid_usage_charges=money.text(c.receivable_usage, code),
    )


def summary_of_record(record: asyncpg.Record, customer_id: str) -> CustomerInvoiceSummary:
    """One currency's answer from a record with the columns of ``CustomerCurrency``:
    the read baseline (bench/baseline_api.py) renders its own query's with it."""
    return currency_summary(typed(CustomerCurrency, record), customer_id)


# The SDKs' base URL is https://…/v1.
SDK_PREFIX = "/v1"


@get(
    **vendor_paths("/customers/{id:str}/invoices/summary", SDK_PREFIX, "getCustomerInvoiceSummary"),
    summary="Get customer invoice summary",
    responses=problem_responses(404, shape=FlexpriceProblem),
)
async def customer_invoice_summary(
    request: Request[Any, Any, Any],
    customer_id: CustomerId,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> Response[CustomerMultiCurrencyInvoiceSummary]:
    """The customer's SENT invoices per currency: count and revenue, unpaid
    (receivable) count and balance split into usage and fixed charges, overdue
    as of ``asOf``; with ``asOf`` and ``knownAt`` every figure as it stood at
    the end of that date, as known at that instant (docs/figures.md#as-of).
    404 when the tenant has no invoice for the customer (then)."""
    async with reading(request, min_position) as read:
        at = await point_in_time.moment(read.conn, as_of, known_at)
        found = await queries.customer_invoices_at(read.conn, read.tenant_id, customer_id, at)
        if found is None:
            raise customer_not_found(customer_id)
        body = CustomerMultiCurrencyInvoiceSummary(
            customer_id=customer_id,
            default_currency=found.default_currency,
            summaries=[currency_summary(c, customer_id) for c in found.currencies],
        )
        return json_response(body, read)
