"""Partner Center's invoice summaries: GET /v1/invoices/summaries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, get

from contracts import CURRENCIES
from services.api import queries
from services.api.params import MinPosition
from services.api.problems import problem_responses
from services.api.reading import json_response, major, reading
from services.api.schemas import (
    PartnerCenterAttributes,
    PartnerCenterDetailSummary,
    PartnerCenterInvoiceSummaries,
    PartnerCenterInvoiceSummary,
    PartnerCenterInvoiceSummaryDetail,
    PartnerCenterLink,
    PartnerCenterLinks,
)

NO_DATE = "0001-01-01T00:00:00"
SUMMARY = PartnerCenterAttributes(objectType="InvoiceSummary")
COLLECTION = PartnerCenterAttributes(objectType="Collection")
# As on the published page: links relative to the versioned base URL.
ITEM_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summary", method="GET", headers=[]))
COLLECTION_LINKS = PartnerCenterLinks(self_=PartnerCenterLink(uri="/invoices/summaries", method="GET", headers=[]))


class SentDates(msgspec.Struct, frozen=True):
    """First/latest issue date, latest accounting date and latest payment of a
    set of SENT invoices."""

    first_issue_date: dt.date | None = None
    latest_issue_date: dt.date | None = None
    latest_accounting_date: dt.date | None = None
    last_paid_at: dt.datetime | None = None
    last_payment_amount: int | None = None

    @classmethod
    def combine(cls, rows: Iterable[asyncpg.Record]) -> SentDates:
        """The figures of the union of the sets ``rows`` describe (one per kind)."""
        found = list(rows)
        if not found:
            return cls()
        paid = [r for r in found if r["last_paid_at"] is not None]
        last = max(paid, key=lambda r: (r["last_paid_at"], r["last_paid_invoice_id"])) if paid else None
        return cls(
            first_issue_date=min(r["first_issue_date"] for r in found),
            latest_issue_date=max(r["latest_issue_date"] for r in found),
            latest_accounting_date=max(r["latest_accounting_date"] for r in found),
            last_paid_at=None if last is None else last["last_paid_at"],
            last_payment_amount=None if last is None else last["last_payment_amount"],
        )


def day(value: dt.date | None) -> str:
    return NO_DATE if value is None else f"{value.isoformat()}T00:00:00"


def timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return NO_DATE
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def summary_fields(code: str, balance: Decimal | int, dates: SentDates) -> dict[str, Any]:
    return {
        "balanceAmount": major(balance, code),
        "currencyCode": code,
        "currencySymbol": CURRENCIES[code].symbol,
        "accountingDate": day(dates.latest_accounting_date),
        "firstInvoiceCreationDate": day(dates.first_issue_date),
        "lastPaymentDate": timestamp(dates.last_paid_at),
        "lastPaymentAmount": (
            Decimal(0) if dates.last_payment_amount is None else major(dates.last_payment_amount, code)
        ),
        "latestInvoiceDate": day(dates.latest_issue_date),
    }


def currency_summary(totals: asyncpg.Record, kinds: Sequence[asyncpg.Record]) -> PartnerCenterInvoiceSummary:
    code = totals["currency"]
    details = []
    for invoice_type, flag, balance in (
        ("Recurring", "recurring", totals["receivable_recurring"]),
        ("OneTime", "one_time", totals["receivable_one_time"]),
    ):
        having = [r for r in kinds if r[flag]]
        if having:
            details.append(
                PartnerCenterInvoiceSummaryDetail(
                    invoiceType=invoice_type,
                    summary=PartnerCenterDetailSummary(
                        **summary_fields(code, balance, SentDates.combine(having)), attributes=SUMMARY
                    ),
                )
            )
    return PartnerCenterInvoiceSummary(
        **summary_fields(code, totals["receivable_balance"], SentDates.combine(kinds)),
        details=details,
        links=ITEM_LINKS,
        attributes=SUMMARY,
    )


@get(
    "/v1/invoices/summaries",
    tags=["Partner Center"],
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
        totals = await read.conn.fetch(queries.CURRENCY_SUMMARY, read.tenant_id)
        kinds = await read.conn.fetch(queries.SENT_DATES_BY_KIND, read.tenant_id)
        items = [
            currency_summary(t, [k for k in kinds if k["currency"] == t["currency"]])
            for t in totals
            if t["sent_count"] > 0
        ]
        body = PartnerCenterInvoiceSummaries(
            totalCount=len(items), items=items, links=COLLECTION_LINKS, attributes=COLLECTION
        )
        return json_response(body, read)
