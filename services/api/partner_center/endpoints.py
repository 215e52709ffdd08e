"""Partner Center's invoice summaries: GET /v1/invoices/summaries. Every answer,
errors included, echoes the caller's ``MS-RequestId`` and ``MS-CorrelationId``
(new UUIDs when absent), as Partner Center does: the family's Router lists them
as ids its routes echo (services/api/request_ids.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get

from contracts import CURRENCIES
from services.api import money
from services.api.figures import SentDates
from services.api.params import MinPosition, Param
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
    PartnerCenterProblem,
)
from services.api.problems import Problem, problem_responses
from services.api.reading import json_response, reading
from services.api.request_ids import EchoedId, new_guid

NO_DATE = "0001-01-01T00:00:00"
SUMMARY = PartnerCenterAttributes(objectType="InvoiceSummary")
COLLECTION = PartnerCenterAttributes(objectType="Collection")
# As on the published page: links relative to the versioned base URL.
ITEM_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summary", method="GET", headers=[]))
COLLECTION_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summaries", method="GET", headers=[]))


# The correlation headers of Partner Center's requests and responses: echoed
# on every answer, errors included; a new GUID when the request has none (or
# one that is not 1-128 visible ASCII characters).
MS_REQUEST_ID = EchoedId(
    "MS-RequestId", "The caller's id of this request (a GUID); echoed, or a new one when absent.", new_guid
)
MS_CORRELATION_ID = EchoedId(
    "MS-CorrelationId",
    "The caller's id of the operation this request is part of; echoed, or a new one when absent.",
    new_guid,
)
CORRELATION_IDS = (MS_REQUEST_ID, MS_CORRELATION_ID)
REQUEST_ID = Param(MS_REQUEST_ID.name, MS_REQUEST_ID.description)
CORRELATION_ID = Param(MS_CORRELATION_ID.name, MS_CORRELATION_ID.description)
ERROR_SOURCE = "InvoiceSummaries"


def partner_center_problem(request: Request[Any, Any, Any], problem: Problem) -> tuple[Problem, dict[str, str]]:
    shaped = PartnerCenterProblem(
        **msgspec.structs.asdict(problem), code=str(problem.status), description=problem.detail, source=ERROR_SOURCE
    )
    return shaped, {}


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
    responses=problem_responses(shape=PartnerCenterProblem),
)
async def invoice_summaries(
    request: Request[Any, Any, Any],
    min_position: MinPosition = None,
    request_id: Annotated[str | None, REQUEST_ID.header()] = None,
    correlation_id: Annotated[str | None, CORRELATION_ID.header()] = None,
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
