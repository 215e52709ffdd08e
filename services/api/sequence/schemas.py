"""Sequence's answers, with its published field names; amounts are exact JSON
numbers in major units."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from services.api.paging import Pagination


class InvoiceSummaryResponseCurrencyTotals(msgspec.Struct):
    currency: str
    invoiceCount: int
    grossTotal: Annotated[Decimal, Meta(description="Sum of gross totals, major units")]


class InvoiceSummaryResponse(msgspec.Struct):
    totalsByCurrency: list[InvoiceSummaryResponseCurrencyTotals]


class SequenceBillingPeriod(msgspec.Struct):
    start: dt.date
    endInclusive: dt.date


class SequenceExternalLink(msgspec.Struct):
    externalId: str
    externalService: str
    syncTime: dt.datetime
    externalUrl: str


class InvoiceSummaryListItem(msgspec.Struct):
    id: str
    invoiceNumber: str
    status: str
    currency: str
    grossTotal: Decimal
    customerId: str
    customerLegalCompanyName: str | None
    billingPeriod: SequenceBillingPeriod | None
    dueDate: dt.date
    accountingDate: dt.date
    links: list[SequenceExternalLink]


class ListInvoiceSummariesResponse(msgspec.Struct):
    items: list[InvoiceSummaryListItem]
    pagination: Pagination
