"""Flexprice's customer invoice summary: GET /customers/{id}/invoices/summary."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get
from litestar.params import PathParameter

from contracts import format_minor
from services.api import params, queries
from services.api.params import AsOf, MinPosition
from services.api.problems import ApiProblem, problem_responses
from services.api.reading import json_response, reading
from services.api.schemas import CustomerInvoiceSummary, CustomerMultiCurrencyInvoiceSummary


def customer_not_found(customer_id: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"no invoices for customer {customer_id!r}")


def currency_summary(r: asyncpg.Record, customer_id: str) -> CustomerInvoiceSummary:
    code = r["currency"]

    def money(column: str) -> str:
        return format_minor(int(r[column]), code)

    return CustomerInvoiceSummary(
        currency=code,
        customer_id=customer_id,
        overdue_invoice_count=r["overdue_count"],
        total_invoice_count=r["sent_count"],
        total_overdue_amount=money("overdue_balance"),
        total_revenue_amount=money("sent_gross"),
        total_unpaid_amount=money("receivable_balance"),
        unpaid_fixed_charges=money("receivable_fixed"),
        unpaid_invoice_count=r["receivable_count"],
        unpaid_usage_charges=money("receivable_usage"),
    )


@get(
    "/customers/{id:str}/invoices/summary",
    tags=["Flexprice"],
    summary="Get customer invoice summary",
    operation_id="getCustomerInvoiceSummary",
    responses=problem_responses(404),
)
async def customer_invoice_summary(
    request: Request[Any, Any, Any],
    customer_id: Annotated[str, PathParameter(name="id", description="Customer ID")],
    as_of: AsOf = None,
    min_position: MinPosition = None,
) -> Response[CustomerMultiCurrencyInvoiceSummary]:
    """The customer's SENT invoices per currency: count and revenue, unpaid
    (receivable) count and balance split into usage and fixed charges, overdue
    as of ``asOf``. 404 when the tenant has no invoice for the customer."""
    cutoff = params.as_of(as_of)
    async with reading(request, min_position) as read:
        rows = await read.conn.fetch(queries.CUSTOMER_INVOICE_SUMMARY, read.tenant_id, cutoff, customer_id)
        if not rows:
            raise customer_not_found(customer_id)
        summaries = [currency_summary(r, customer_id) for r in rows if r["currency"] is not None]
        default_currency = rows[0]["default_currency"]
        body = CustomerMultiCurrencyInvoiceSummary(
            customer_id=customer_id, default_currency=default_currency, summaries=summaries
        )
        return json_response(body, read)
