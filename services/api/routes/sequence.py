"""Sequence's invoice endpoints: GET /invoices/summary."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import QueryParameter

from services.api import queries
from services.api.reading import json_response, major, reading


class CurrencyTotals(msgspec.Struct):
    currency: str
    invoiceCount: int
    grossTotal: Decimal


class InvoiceSummaryResponse(msgspec.Struct):
    totalsByCurrency: list[CurrencyTotals]


@get("/invoices/summary", tags=["Sequence"], summary="Get an invoice summary")
async def invoices_summary(
    request: Request[Any, Any, Any],
    min_position: Annotated[
        str | None,
        QueryParameter(
            name="minPosition",
            description="Wait until the projections reached these positions (partition:offset,…).",
        ),
    ] = None,
) -> Response[InvoiceSummaryResponse]:
    """Invoice count and gross total per currency for the tenant's invoices."""
    async with reading(request, min_position) as read:
        rows = await read.conn.fetch(queries.CURRENCY_TOTALS, read.tenant_id)
        body = InvoiceSummaryResponse(
            totalsByCurrency=[
                CurrencyTotals(
                    currency=r["currency"],
                    invoiceCount=r["invoice_count"],
                    grossTotal=major(r["gross_total"], r["currency"]),
                )
                for r in rows
            ]
        )
        return json_response(body, read)
