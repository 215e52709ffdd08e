"""The /v1 summaries' answers: camelCase, money as decimal strings in major
units. What each figure means: docs/figures.md."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from msgspec import Meta

from services.api.money import Money


class V1Count(msgspec.Struct):
    count: int
    grossTotal: Money


class V1SentCount(msgspec.Struct):
    count: int
    netTotal: Money
    taxTotal: Money
    grossTotal: Money


class V1ByStatus(msgspec.Struct):
    draft: V1Count
    sent: V1SentCount
    voided: V1Count


class V1ByPaymentStatus(msgspec.Struct):
    """SENT invoices by payment status."""

    unpaid: V1Count
    partiallyPaid: V1Count
    paid: V1Count


class V1Balance(msgspec.Struct):
    count: int
    balance: Money
    usage: Money
    fixed: Money
    recurring: Money
    oneTime: Money


class V1AgingBucket(msgspec.Struct):
    bucket: Annotated[str, Meta(examples=["1-30", "31-60", "61-90", "90+"])]
    minDaysPastDue: int
    maxDaysPastDue: int | None
    count: int
    amount: Money


class V1Overdue(V1Balance):
    asOf: dt.date
    aging: list[V1AgingBucket]


class V1CurrencySummary(msgspec.Struct):
    currency: str
    currencySymbol: str
    invoiceCount: int
    grossTotal: Money
    byStatus: V1ByStatus
    byPaymentStatus: V1ByPaymentStatus
    revenue: Annotated[str, Meta(description="Gross total of SENT invoices")]
    collected: Annotated[str, Meta(description="Payments on invoices not voided")]
    paidUpToGross: Annotated[str, Meta(description="Payments on SENT invoices, each up to its gross")]
    vat: Annotated[str, Meta(description="Tax of SENT invoices")]
    overpaid: Money
    receivable: V1Balance
    overdue: V1Overdue
    firstInvoiceDate: dt.date | None
    latestInvoiceDate: dt.date | None
    latestAccountingDate: dt.date | None
    lastPaymentDate: dt.datetime | None
    lastPaymentAmount: Money | None


class V1Summary(msgspec.Struct, omit_defaults=True):
    # The figures stand at the end of asOf (overdue counted as of it) as known
    # at knownAt (absent: now).
    asOf: dt.date
    summaries: list[V1CurrencySummary]
    knownAt: dt.datetime | None = None


class V1CustomerSummary(msgspec.Struct, omit_defaults=True):
    customerId: str
    asOf: dt.date
    summaries: list[V1CurrencySummary]
    knownAt: dt.datetime | None = None
