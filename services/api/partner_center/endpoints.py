"""Partner Center's invoice summaries: GET /v1/invoices/summaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get

from contracts import CURRENCIES
from services.api import money
from services.api.figures import SentDates
from services.api.params import MinPosition
from services.api.partner_center import queries
from services.api.partner_center.queries import SentCurrency
from services.api.partner_center.schemas import (
    PartnerCenterAttributes,
    PartnerCenterDetailSummary,
    PartnerCenterInvoiceSummaries,
    PartnerCenterInvoiceSummary,
    PartnerCenterInvoiceSummaryDetail,
    PartnerCenterLink,
    PartnerCenterLinks,
)
from services.api.problems import problem_responses
from services.api.reading import json_response, reading

NO_DATE = "0001-01-01T00:00:00"
SUMMARY = PartnerCenterAttributes(objectType="InvoiceSummary")
COLLECTION = PartnerCenterAttributes(objectType="Collection")
# As on the published page: links relative to the versioned base URL.
ITEM_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summary", method="GET", headers=[]))
COLLECTION_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summaries", method="GET", headers=[]))


def day(value: dt.date | None) -> str:
    return NO_DATE if value is None else f"{value.isoformat()}T00:00:00"


def timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return NO_DATE
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def summary_fields(code: str, balance: int, dates: SentDates) -> dict[str, Any]:
    """The fields of PartnerCenterSummaryFields, which both summary shapes extend."""
    return {
        "balanceAmount": money.number(balance, code),
        "currencyCode": code,
        "currencySymbol": CURRENCIES[code].symbol,
        "accountingDate": day(dates.latest_accounting_date),
        "firstInvoiceCreationDate": day(dates.first_issue_date),
        "lastPaymentDate": timestamp(dates.last_paid_at),
        "lastPaymentAmount": (
            Decimal(0) if dates.last_payment_amount is None else money.number(dates.last_payment_amount, code)
        ),
        "latestInvoiceDate": day(dates.latest_issue_date),
    }


def currency_summary(sent: SentCurrency) -> PartnerCenterInvoiceSummary:
    code, figures = sent.currency, sent.figures
    details = []
    for invoice_type, kinds, balance in (
        ("Recurring", [k for k in sent.kinds if k.recurring], figures.receivable_recurring),
        ("OneTime", [k for k in sent.kinds if k.one_time], figures.receivable_one_time),
    ):
        if kinds:
            dates = SentDates.combine(k.dates for k in kinds)
            summary = PartnerCenterDetailSummary(**summary_fields(code, balance, dates), attributes=SUMMARY)
            details.append(PartnerCenterInvoiceSummaryDetail(invoiceType=invoice_type, summary=summary))
    dates = SentDates.combine(k.dates for k in sent.kinds)
    return PartnerCenterInvoiceSummary(
        **summary_fields(code, figures.receivable_balance, dates), details=details, links=ITEM_LINKS, attributes=SUMMARY
    )


@get(
    "/v1/invoices/summaries",
    summary="Get invoice summaries",
    operation_id="getInvoiceSummaries",
    responses=problem_responses(),
)
async def invoice_summaries(
    request: Request[Any, Any, Any], min_position: MinPosition = None
) -> Response[PartnerCenterInvoiceSummaries]:
    """One summary per currency of the tenant's SENT invoices: the receivable
    balance, first and latest invoice dates, latest accounting date and the
    latest payment, with the same split by recurring and one-time charges."""
    async with reading(request, min_position) as read:
        items = [currency_summary(sent) for sent in await queries.sent_currencies(read.conn, read.tenant_id)]
        body = PartnerCenterInvoiceSummaries(
            totalCount=len(items), items=items, links=COLLECTION_LINKS, attributes=COLLECTION
        )
        return json_response(body, read)
