"""Flexprice's customer invoice summary: GET /customers/{id}/invoices/summary."""

from __future__ import annotations

from typing import Annotated, Any

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
        tenant = read.tenant_id
        default_currency = await read.conn.fetchval(queries.CUSTOMER_DEFAULT_CURRENCY, tenant, customer_id)
        if default_currency is None:
            raise customer_not_found(customer_id)
        totals = await read.conn.fetch(queries.CUSTOMER_SUMMARY, tenant, customer_id)
        overdue = {
            r["currency"]: r
            for r in await read.conn.fetch(queries.CUSTOMER_OVERDUE, tenant, cutoff, customer_id)
        }
        summaries = []
        for t in totals:
            code = t["currency"]
            late = overdue.get(code)
            summaries.append(
                CustomerInvoiceSummary(
                    currency=code,
                    customer_id=customer_id,
                    overdue_invoice_count=0 if late is None else late["receivable_count"],
                    total_invoice_count=t["sent_count"],
                    total_overdue_amount=format_minor(0 if late is None else int(late["receivable_balance"]), code),
                    total_revenue_amount=format_minor(int(t["sent_gross"]), code),
                    total_unpaid_amount=format_minor(int(t["receivable_balance"]), code),
                    unpaid_fixed_charges=format_minor(int(t["receivable_fixed"]), code),
                    unpaid_invoice_count=t["receivable_count"],
                    unpaid_usage_charges=format_minor(int(t["receivable_usage"]), code),
                )
            )
        body = CustomerMultiCurrencyInvoiceSummary(
            customer_id=customer_id, default_currency=default_currency, summaries=summaries
        )
        return json_response(body, read)
