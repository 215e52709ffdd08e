"""The product's summaries: GET /v1/summary and /v1/customers/{customerId}/summary.
Every figure per currency; what each means: docs/figures.md."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, get

from contracts import CURRENCIES
from projections.figures import Figures
from services.api import money, point_in_time
from services.api.params import NON_EMPTY, AsOf, MinPosition, Param
from services.api.point_in_time import KnownAt
from services.api.problems import customer_not_found, problem_responses
from services.api.reading import json_response, reading
from services.api.v1.summaries import queries
from services.api.v1.summaries.queries import CurrencySummary
from services.api.v1.summaries.schemas import (
    V1AgingBucket,
    V1Balance,
    V1ByPaymentStatus,
    V1ByStatus,
    V1Count,
    V1CurrencySummary,
    V1CustomerSummary,
    V1Overdue,
    V1SentCount,
    V1Summary,
)

CUSTOMER = Param("customerId", "Customer id", NON_EMPTY)
CustomerId = Annotated[str, CUSTOMER.path()]

# (label, first day past due, last day past due or None), as queries.AGED.
AGING = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))


def _balance(f: Figures, code: str) -> dict[str, Any]:
    """The fields of V1Balance, which the overdue shape extends."""
    return {
        "count": f.receivable_count,
        "balance": money.text(f.receivable_balance, code),
        "usage": money.text(f.receivable_usage, code),
        "fixed": money.text(f.receivable_fixed, code),
        "recurring": money.text(f.receivable_recurring, code),
        "oneTime": money.text(f.receivable_one_time, code),
    }


def currency_summary(s: CurrencySummary, as_of: dt.date) -> V1CurrencySummary:
    code, t, dates = s.currency, s.totals, s.dates

    def amount(minor: int) -> str:
        return money.text(minor, code)

    aging = [
        V1AgingBucket(
            bucket=label, minDaysPastDue=low, maxDaysPastDue=high, count=aged.count, amount=amount(aged.balance)
        )
        for (label, low, high), aged in zip(AGING, s.overdue.aging, strict=True)
    ]
    return V1CurrencySummary(
        currency=code,
        currencySymbol=CURRENCIES[code].symbol,
        invoiceCount=t.invoice_count,
        grossTotal=amount(t.gross_total),
        byStatus=V1ByStatus(
            draft=V1Count(count=t.draft_count, grossTotal=amount(t.draft_gross)),
            sent=V1SentCount(
                count=t.sent_count,
                netTotal=amount(t.sent_net),
                taxTotal=amount(t.sent_tax),
                grossTotal=amount(t.sent_gross),
            ),
            voided=V1Count(count=t.voided_count, grossTotal=amount(t.voided_gross)),
        ),
        byPaymentStatus=V1ByPaymentStatus(
            unpaid=V1Count(count=t.unpaid_count, grossTotal=amount(t.unpaid_gross)),
            partiallyPaid=V1Count(count=t.partially_paid_count, grossTotal=amount(t.partially_paid_gross)),
            paid=V1Count(count=t.paid_count, grossTotal=amount(t.paid_gross)),
        ),
        revenue=amount(t.sent_gross),
        collected=amount(t.collected),
        paidUpToGross=amount(t.paid_capped),
        vat=amount(t.sent_tax),
        overpaid=amount(t.overpaid),
        receivable=V1Balance(**_balance(t, code)),
        overdue=V1Overdue(**_balance(s.overdue.receivable, code), asOf=as_of, aging=aging),
        firstInvoiceDate=dates.first_issue_date,
        latestInvoiceDate=dates.latest_issue_date,
        latestAccountingDate=dates.latest_accounting_date,
        lastPaymentDate=dates.last_paid_at,
        lastPaymentAmount=None if dates.last_payment_amount is None else amount(dates.last_payment_amount),
    )


@get(
    "/v1/summary",
    summary="Summary per currency",
    operation_id="getSummary",
    responses=problem_responses(),
)
async def summary(
    request: Request[Any, Any, Any], as_of: AsOf = None, known_at: KnownAt = None, min_position: MinPosition = None
) -> Response[V1Summary]:
    """Every figure per currency over all of the tenant's invoices: counts and
    amounts by status and payment status, revenue, collected, VAT, overpaid,
    receivable and overdue (as of ``asOf``, with aging), the receivable split by
    charge type and recurrence, first/latest invoice dates (SENT invoices),
    latest accounting date and the latest payment. With ``asOf``, every
    figure as it stood at the end of that date by the events' own dates; with
    ``knownAt``, as this service knew it at that instant (docs/figures.md#as-of).
    Read from the summary tables and timelines: the cost does not grow with
    the number of invoices."""
    async with reading(request, min_position) as read:
        at = await point_in_time.moment(read.conn, as_of, known_at)
        found = await queries.tenant_summary_at(read.conn, read.tenant_id, at)
        body = V1Summary(asOf=at.cutoff, knownAt=at.known_at, summaries=[currency_summary(s, at.cutoff) for s in found])
        return json_response(body, read)


@get(
    "/v1/customers/{customerId:str}/summary",
    summary="Summary per currency of one customer",
    operation_id="getCustomerSummary",
    responses=problem_responses(404),
)
async def customer_summary(
    request: Request[Any, Any, Any],
    customer_id: CustomerId,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> Response[V1CustomerSummary]:
    """The figures of /v1/summary for one customer's invoices, with ``asOf``
    and ``knownAt`` as there; 404 when the tenant has no invoice for that
    customer."""
    async with reading(request, min_position) as read:
        at = await point_in_time.moment(read.conn, as_of, known_at)
        found = await queries.customer_summary_at(read.conn, read.tenant_id, customer_id, at)
        if found is None:
            raise customer_not_found(customer_id)
        summaries = [currency_summary(s, at.cutoff) for s in found]
        body = V1CustomerSummary(customerId=customer_id, asOf=at.cutoff, knownAt=at.known_at, summaries=summaries)
        return json_response(body, read)
