"""Contazen's invoice totals: GET /v1/invoices/totals."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get

from services.api import fx, money, params
from services.api.contazen import queries
from services.api.contazen.queries import PeriodFilter, PeriodTotals
from services.api.contazen.schemas import (
    ContazenCurrencyTotals,
    ContazenPeriod,
    ContazenProblem,
    ContazenTotalsResponse,
    FxRate,
    contazen_data,
)
from services.api.params import CURRENCY_CODE, DATE, NON_EMPTY, MinPosition, Param
from services.api.problems import BadParameter, problem_responses
from services.api.reading import json_response, reading
from services.settings import Settings

DOCUMENT_TYPES = ("fiscal", "proforma")

START_DATE = Param("start_date", "Start of the period (issue date), YYYY-MM-DD, inclusive.", DATE, required=True)
END_DATE = Param("end_date", "End of the period (issue date), YYYY-MM-DD, inclusive.", DATE, required=True)
CURRENCY = Param("currency", "Only this currency (e.g. RON, EUR).", CURRENCY_CODE)
CLIENT = Param("client_id", "Only this client's (customer's) invoices.", NON_EMPTY)
SERIES = Param("series_id", "Only invoices of this numbering series.", NON_EMPTY)
IS_PAID = Param(
    "is_paid", "1: only PAID invoices; 0: only invoices not fully paid.", {"type": "integer", "enum": [0, 1]}
)
DOCUMENT_TYPE = Param("document_type", "fiscal or proforma.", {"enum": list(DOCUMENT_TYPES)})
REPORTING_CURRENCY = Param(
    "reporting_currency",
    "Currency of the grand total, named grand_total_<code>. Default: the tenant's reporting currency"
    " (`billing fx currency TENANT CODE`), else its only invoice currency, else the BILLING_REPORTING_CURRENCY"
    " setting (EUR).",
    CURRENCY_CODE,
)


def currency_totals(t: PeriodTotals) -> ContazenCurrencyTotals:
    code = t.currency
    return ContazenCurrencyTotals(
        currency=code,
        total_amount=money.number(t.total_amount, code),
        total_paid=money.number(t.total_paid, code),
        total_unpaid=money.number(t.total_unpaid, code),
        total_vat=money.number(t.total_vat, code),
        invoice_count=t.invoice_count,
        paid_count=t.paid_count,
        unpaid_count=t.unpaid_count,
    )


@get(
    "/v1/invoices/totals",
    summary="Get invoice totals",
    operation_id="getInvoiceTotals",
    responses=problem_responses(shape=ContazenProblem),
)
async def invoice_totals(
    request: Request[Any, Any, Any],
    start_date: Annotated[str | None, START_DATE.query()] = None,
    end_date: Annotated[str | None, END_DATE.query()] = None,
    currency: Annotated[str | None, CURRENCY.query()] = None,
    client_id: Annotated[str | None, CLIENT.query()] = None,
    series_id: Annotated[str | None, SERIES.query()] = None,
    is_paid: Annotated[str | None, IS_PAID.query()] = None,
    document_type: Annotated[str | None, DOCUMENT_TYPE.query()] = None,
    reporting_currency: Annotated[str | None, REPORTING_CURRENCY.query()] = None,
    min_position: MinPosition = None,
) -> Response[ContazenTotalsResponse]:
    """Totals per currency of the SENT invoices issued in [start_date, end_date]:
    gross, paid (up to the gross), unpaid balance, VAT and counts; plus a grand
    total in the reporting currency, converted with the loaded FX rates (stated
    in ``fx_rates``), or null with the reason when a rate is missing: present
    whenever every currency of the totals is the reporting currency or has a
    rate into it (so always for a tenant that invoices in one currency)."""
    settings: Settings = request.app.state.settings
    start = params.required_date(START_DATE.name, start_date)
    end = params.required_date(END_DATE.name, end_date)
    if end < start:
        raise BadParameter(END_DATE.name, f"{end} is before start_date {start}")
    chosen = params.currency_code(REPORTING_CURRENCY.name, reporting_currency)
    paid = params.choice(IS_PAID.name, is_paid, ("0", "1"), "") if is_paid else None
    kind = params.choice(DOCUMENT_TYPE.name, document_type, DOCUMENT_TYPES, "") if document_type else None
    code = params.currency_code(CURRENCY.name, currency)

    async with reading(request, min_position) as read:
        quote = chosen or await fx.reporting_currency(read.conn, read.tenant_id, settings.reporting_currency)
        period = PeriodFilter(
            currency=code,
            client_id=params.text(CLIENT.name, client_id),
            series_id=params.text(SERIES.name, series_id),
            document_type=kind,
            paid=None if paid is None else paid == "1",
        )
        totals = [
            currency_totals(t) for t in await queries.period_totals(read.conn, read.tenant_id, start, end, period)
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
