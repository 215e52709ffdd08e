"""Contazen's invoice totals: GET /v1/invoices/totals."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter

from services.api import fx, params, queries
from services.api.filters import Sql
from services.api.params import MinPosition
from services.api.problems import BadParameter, problem_responses
from services.api.reading import json_response, major, reading
from services.api.schemas import (
    ContazenCurrencyTotals,
    ContazenPeriod,
    ContazenTotalsResponse,
    FxRate,
    contazen_data,
)
from services.settings import Settings

DOCUMENT_TYPES = ("fiscal", "proforma")


@get(
    "/v1/invoices/totals",
    tags=["Contazen"],
    summary="Get invoice totals",
    operation_id="getInvoiceTotals",
    responses=problem_responses(),
)
async def invoice_totals(
    request: Request[Any, Any, Any],
    start_date: Annotated[
        str | None,
        QueryParameter(
            name="start_date",
            required=True,
            format="date",
            description="Start of the period (issue date), YYYY-MM-DD, inclusive.",
        ),
    ] = None,
    end_date: Annotated[
        str | None,
        QueryParameter(
            name="end_date",
            required=True,
            format="date",
            description="End of the period (issue date), YYYY-MM-DD, inclusive.",
        ),
    ] = None,
    currency: Annotated[
        str | None, QueryParameter(name="currency", description="Only this currency (e.g. RON, EUR).")
    ] = None,
    client_id: Annotated[
        str | None, QueryParameter(name="client_id", description="Only this client's (customer's) invoices.")
    ] = None,
    series_id: Annotated[
        str | None, QueryParameter(name="series_id", description="Only invoices of this numbering series.")
    ] = None,
    is_paid: Annotated[
        str | None,
        QueryParameter(
            name="is_paid",
            description="1: only PAID invoices; 0: only invoices not fully paid.",
            schema_extra={"type": "integer", "enum": [0, 1]},
        ),
    ] = None,
    document_type: Annotated[
        str | None,
        QueryParameter(
            name="document_type", description="fiscal or proforma.", schema_extra={"enum": list(DOCUMENT_TYPES)}
        ),
    ] = None,
    reporting_currency: Annotated[
        str | None,
        QueryParameter(
            name="reporting_currency",
            description="Currency of the grand total, named grand_total_<code> "
            "(default: the BILLING_REPORTING_CURRENCY setting, EUR).",
        ),
    ] = None,
    min_position: MinPosition = None,
) -> Response[ContazenTotalsResponse]:
    """Totals per currency of the SENT invoices issued in [start_date, end_date]:
    gross, paid (up to the gross), unpaid balance, VAT and counts; plus a grand
    total in the reporting currency, converted with the loaded FX rates (stated
    in ``fx_rates``), or null with the reason when a rate is missing."""
    settings: Settings = request.app.state.settings
    start = params.required_date("start_date", start_date)
    end = params.required_date("end_date", end_date)
    if end < start:
        raise BadParameter("end_date", f"{end} is before start_date {start}")
    quote = params.currency_code("reporting_currency", reporting_currency) or settings.reporting_currency
    paid = params.choice("is_paid", is_paid, ("0", "1"), "") if is_paid else None
    kind = params.choice("document_type", document_type, DOCUMENT_TYPES, "") if document_type else None
    code = params.currency_code("currency", currency)

    async with reading(request, min_position) as read:
        sql = Sql(read.tenant_id, start, end)
        for fragment, value in (
            (queries.F_ONE_CURRENCY, code),
            (queries.F_CUSTOMER, params.text("client_id", client_id)),
            (queries.F_SERIES, params.text("series_id", series_id)),
            (queries.F_DOCUMENT_TYPE, kind),
        ):
            if value is not None:
                sql.add(fragment, value)
        if paid is not None:
            sql.add(queries.F_PAID if paid == "1" else queries.F_NOT_PAID)
        rows = await read.conn.fetch(queries.PERIOD_TOTALS.format(where=sql.where), *sql.args)
        totals = [
            ContazenCurrencyTotals(
                currency=r["currency"],
                total_amount=major(r["total_amount"], r["currency"]),
                total_paid=major(r["total_paid"], r["currency"]),
                total_unpaid=major(r["total_unpaid"], r["currency"]),
                total_vat=major(r["total_vat"], r["currency"]),
                invoice_count=r["invoice_count"],
                paid_count=r["paid_count"],
                unpaid_count=r["unpaid_count"],
            )
            for r in rows
        ]
        amounts = {t.currency: t.total_amount for t in totals}
        grand = fx.grand_total(amounts, quote, await fx.rates_into(read.conn, quote, amounts))
        data = contazen_data(quote)(
            totals=totals,
            period=ContazenPeriod(start_date=start, end_date=end),
            grand_total=grand.amount,
            fx_rates=[FxRate(currency=r.base, rate=str(r.rate), as_of=r.as_of) for r in grand.rates],
            grand_total_unavailable=grand.unavailable,
        )
        return json_response(ContazenTotalsResponse(success=True, data=data), read)
