"""The product's own API: GET /v1/summary, /v1/customers/{customerId}/summary,
/v1/invoices and /v1/invoices/{invoiceId}. camelCase, money as decimal strings,
every figure per currency."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter

from contracts import CURRENCIES, format_minor
from services.api import params, queries
from services.api.filters import InvoiceFilter, Page, invoice_filter, invoice_page, page_parameters
from services.api.params import AsOf, MinPosition
from services.api.problems import ApiProblem, problem_responses
from services.api.reading import json_response, reading
from services.api.routes.flexprice import customer_not_found
from services.api.routes.partner_center import SentDates
from services.api.schemas import (
    Pagination,
    V1AgingBucket,
    V1Balance,
    V1BillingPeriod,
    V1ByPaymentStatus,
    V1ByStatus,
    V1Count,
    V1CurrencySummary,
    V1CustomerSummary,
    V1Invoice,
    V1InvoiceList,
    V1Overdue,
    V1SentCount,
    V1Summary,
)

# (label, first day past due, last day past due or None, column prefix)
AGING = (
    ("1-30", 1, 30, "aged_1_30"),
    ("31-60", 31, 60, "aged_31_60"),
    ("61-90", 61, 90, "aged_61_90"),
    ("90+", 91, None, "aged_over_90"),
)


def _balance(row: asyncpg.Record | None, code: str) -> dict[str, Any]:
    def money(column: str) -> str:
        return format_minor(0 if row is None else int(row[column]), code)

    return {
        "count": 0 if row is None else row["receivable_count"],
        "balance": money("receivable_balance"),
        "usage": money("receivable_usage"),
        "fixed": money("receivable_fixed"),
        "recurring": money("receivable_recurring"),
        "oneTime": money("receivable_one_time"),
    }


def currency_summary(
    t: asyncpg.Record, late: asyncpg.Record | None, dates: SentDates, as_of: dt.date
) -> V1CurrencySummary:
    code = t["currency"]

    def money(value: Any) -> str:
        return format_minor(int(value), code)

    def count(prefix: str) -> V1Count:
        return V1Count(count=t[f"{prefix}_count"], grossTotal=money(t[f"{prefix}_gross"]))

    aging = [
        V1AgingBucket(
            bucket=label,
            minDaysPastDue=low,
            maxDaysPastDue=high,
            count=0 if late is None else late[f"{prefix}_count"],
            amount=money(0 if late is None else late[f"{prefix}_balance"]),
        )
        for label, low, high, prefix in AGING
    ]
    return V1CurrencySummary(
        currency=code,
        currencySymbol=CURRENCIES[code].symbol,
        invoiceCount=t["invoice_count"],
        grossTotal=money(t["gross_total"]),
        byStatus=V1ByStatus(
            draft=count("draft"),
            sent=V1SentCount(
                count=t["sent_count"],
                netTotal=money(t["sent_net"]),
                taxTotal=money(t["sent_tax"]),
                grossTotal=money(t["sent_gross"]),
            ),
            voided=count("voided"),
        ),
        byPaymentStatus=V1ByPaymentStatus(
            unpaid=count("unpaid"), partiallyPaid=count("partially_paid"), paid=count("paid")
        ),
        revenue=money(t["sent_gross"]),
        collected=money(t["collected"]),
        paidUpToGross=money(t["paid_capped"]),
        vat=money(t["sent_tax"]),
        overpaid=money(t["overpaid"]),
        receivable=V1Balance(**_balance(t, code)),
        overdue=V1Overdue(**_balance(late, code), asOf=as_of, aging=aging),
        firstInvoiceDate=dates.first_issue_date,
        latestInvoiceDate=dates.latest_issue_date,
        latestAccountingDate=dates.latest_accounting_date,
        lastPaymentDate=dates.last_paid_at,
        lastPaymentAmount=None if dates.last_payment_amount is None else money(dates.last_payment_amount),
    )


def summaries(
    totals: Sequence[asyncpg.Record], overdue: Sequence[asyncpg.Record], dates: dict[str, SentDates], as_of: dt.date
) -> list[V1CurrencySummary]:
    late = {r["currency"]: r for r in overdue}
    return [currency_summary(t, late.get(t["currency"]), dates.get(t["currency"], SentDates()), as_of) for t in totals]


@get(
    "/v1/summary",
    tags=["Invoice summaries"],
    summary="Summary per currency",
    operation_id="getSummary",
    responses=problem_responses(),
)
async def summary(
    request: Request[Any, Any, Any], as_of: AsOf = None, min_position: MinPosition = None
) -> Response[V1Summary]:
    """Every figure per currency over all of the tenant's invoices: counts and
    amounts by status and payment status, revenue, collected, VAT, overpaid,
    receivable and overdue (as of ``asOf``, with aging), the receivable split by
    charge type and recurrence, first/latest invoice dates (SENT invoices),
    latest accounting date and the latest payment. Read from the summary
    tables: the cost does not grow with the number of invoices."""
    cutoff = params.as_of(as_of)
    async with reading(request, min_position) as read:
        tenant = read.tenant_id
        totals = await read.conn.fetch(queries.CURRENCY_SUMMARY, tenant)
        overdue = await read.conn.fetch(queries.CURRENCY_OVERDUE, tenant, cutoff)
        kinds: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in await read.conn.fetch(queries.SENT_DATES_BY_KIND, tenant):
            kinds[row["currency"]].append(row)
        dates = {code: SentDates.combine(rows) for code, rows in kinds.items()}
        body = V1Summary(asOf=cutoff, summaries=summaries(totals, overdue, dates, cutoff))
        return json_response(body, read)


@get(
    "/v1/customers/{customerId:str}/summary",
    tags=["Invoice summaries"],
    summary="Summary per currency of one customer",
    operation_id="getCustomerSummary",
    responses=problem_responses(404),
)
async def customer_summary(
    request: Request[Any, Any, Any],
    customer_id: Annotated[str, PathParameter(name="customerId", description="Customer id")],
    as_of: AsOf = None,
    min_position: MinPosition = None,
) -> Response[V1CustomerSummary]:
    """The figures of /v1/summary for one customer's invoices; 404 when the
    tenant has no invoice for that customer."""
    cutoff = params.as_of(as_of)
    async with reading(request, min_position) as read:
        tenant = read.tenant_id
        totals = await read.conn.fetch(queries.CUSTOMER_SUMMARY, tenant, customer_id)
        if not totals:
            raise customer_not_found(customer_id)
        overdue = await read.conn.fetch(queries.CUSTOMER_OVERDUE, tenant, cutoff, customer_id)
        dates = {
            r["currency"]: SentDates.combine([r])
            for r in await read.conn.fetch(queries.CUSTOMER_SENT_DATES, tenant, customer_id)
        }
        body = V1CustomerSummary(
            customerId=customer_id, asOf=cutoff, summaries=summaries(totals, overdue, dates, cutoff)
        )
        return json_response(body, read)


def invoice(r: asyncpg.Record) -> V1Invoice:
    code = r["currency"]

    def money(column: str) -> str:
        return format_minor(r[column], code)

    start, end = r["billing_period_start"], r["billing_period_end"]
    last_amount = r["last_payment_amount"]
    return V1Invoice(
        id=r["invoice_id"],
        invoiceNumber=r["invoice_number"],
        customerId=r["customer_id"],
        customerName=r["customer_name"],
        currency=code,
        issueDate=r["issue_date"],
        dueDate=r["due_date"],
        accountingDate=r["accounting_date"],
        billingPeriod=None if start is None else V1BillingPeriod(start=start, endInclusive=end),
        billingScheduleId=r["billing_schedule_id"],
        seriesId=r["series_id"],
        documentType=r["document_type"],
        status=r["status"],
        paymentStatus=r["payment_status"],
        netTotal=money("net"),
        taxTotal=money("tax"),
        grossTotal=money("gross"),
        usageGross=money("usage_gross"),
        fixedGross=money("fixed_gross"),
        recurringGross=money("recurring_gross"),
        oneTimeGross=money("one_time_gross"),
        quantityIsZero=r["quantity_is_zero"],
        amountPaid=money("amount_paid"),
        balance=money("balance"),
        overpaid=money("overpaid"),
        balanceUsage=money("balance_usage"),
        balanceFixed=money("balance_fixed"),
        balanceRecurring=money("balance_recurring"),
        balanceOneTime=money("balance_one_time"),
        receivable=r["status"] == "SENT" and r["balance"] > 0,
        paymentCount=r["payment_count"],
        paymentIds=list(r["payment_ids"]),
        lastPaidAt=r["last_paid_at"],
        lastPaymentAmount=None if last_amount is None else format_minor(last_amount, code),
        sentAt=r["sent_at"],
        sentDate=r["sent_date"],
        voidedAt=r["voided_at"],
        voidReason=r["void_reason"],
        eventIds=list(r["event_ids"]),
        createdAt=r["created_at"],
        updatedAt=r["updated_at"],
    )


@get(
    "/v1/invoices",
    tags=["Invoices"],
    summary="List invoices",
    operation_id="listInvoices",
    responses=problem_responses(),
    dependencies={"invoice_filter": Provide(invoice_filter), "page": Provide(page_parameters)},
)
async def list_invoices(
    request: Request[Any, Any, Any],
    invoice_filter: NamedDependency[InvoiceFilter],
    page: NamedDependency[Page],
    min_position: MinPosition = None,
) -> Response[V1InvoiceList]:
    """The tenant's invoices with every stored field, filtered and paginated as
    /invoices/list-summary (same parameters, same cursors)."""
    async with reading(request, min_position) as read:
        found = await invoice_page(read.conn, read.tenant_id, invoice_filter, page)
        body = V1InvoiceList(
            items=[invoice(r) for r in found.rows],
            pagination=Pagination(after=found.after, before=found.before, totalResultSize=found.total),
        )
        return json_response(body, read)


@get(
    "/v1/invoices/{invoiceId:str}",
    tags=["Invoices"],
    summary="Get one invoice",
    operation_id="getInvoice",
    responses=problem_responses(404),
)
async def get_invoice(
    request: Request[Any, Any, Any],
    invoice_id: Annotated[str, PathParameter(name="invoiceId", description="Invoice id")],
    min_position: MinPosition = None,
) -> Response[V1Invoice]:
    """One invoice with every stored field; 404 when the tenant has no such invoice."""
    async with reading(request, min_position) as read:
        row = await read.conn.fetchrow(queries.ONE_INVOICE, read.tenant_id, invoice_id)
        if row is None:
            raise ApiProblem(404, "Not found", f"no invoice {invoice_id!r}")
        return json_response(invoice(row), read)
