"""Response shapes, one msgspec Struct each, so the OpenAPI document at /schema
describes them. Seed endpoints keep their published field names; the product's
own /v1 API is camelCase with money as decimal strings."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

Money = Annotated[str, Meta(description='Decimal string in major units, e.g. "1250.50"', examples=["1250.50"])]

# Sequence: /invoices/summary and /invoices/list-summary ------------------------


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


class Pagination(msgspec.Struct):
    after: Annotated[str | None, Meta(description="Cursor of the next page; null on the last")]
    before: Annotated[str | None, Meta(description="Cursor of the previous page; null on the first")]
    totalResultSize: Annotated[int, Meta(description="Number of items matching the filters")]


class ListInvoiceSummariesResponse(msgspec.Struct):
    items: list[InvoiceSummaryListItem]
    pagination: Pagination


# Flexprice: /customers/{id}/invoices/summary --------------------------------------


class CustomerInvoiceSummary(msgspec.Struct):
    currency: str
    customer_id: str
    overdue_invoice_count: int
    total_invoice_count: int
    total_overdue_amount: Money
    total_revenue_amount: Money
    total_unpaid_amount: Money
    unpaid_fixed_charges: Money
    unpaid_invoice_count: int
    unpaid_usage_charges: Money


class CustomerMultiCurrencyInvoiceSummary(msgspec.Struct):
    customer_id: str
    default_currency: str
    summaries: list[CustomerInvoiceSummary]


# Partner Center: /v1/invoices/summaries ----------------------------------------------


class PartnerCenterLink(msgspec.Struct):
    uri: str
    method: str
    headers: list[str]


class PartnerCenterLinks(msgspec.Struct):
    self_: PartnerCenterLink = msgspec.field(name="self")


class PartnerCenterAttributes(msgspec.Struct):
    objectType: str


_PC_DATE = "Date as YYYY-MM-DDT00:00:00; 0001-01-01T00:00:00 when there is none"


class PartnerCenterSummaryFields(msgspec.Struct):
    balanceAmount: Decimal
    currencyCode: str
    currencySymbol: str
    accountingDate: Annotated[str, Meta(description=_PC_DATE)]
    firstInvoiceCreationDate: Annotated[str, Meta(description=_PC_DATE)]
    lastPaymentDate: Annotated[str, Meta(description="RFC 3339 timestamp; 0001-01-01T00:00:00 when there is none")]
    lastPaymentAmount: Decimal
    latestInvoiceDate: Annotated[str, Meta(description=_PC_DATE)]


class PartnerCenterDetailSummary(PartnerCenterSummaryFields):
    attributes: PartnerCenterAttributes


class PartnerCenterInvoiceSummaryDetail(msgspec.Struct):
    invoiceType: Annotated[str, Meta(description="Recurring or OneTime")]
    summary: PartnerCenterDetailSummary


class PartnerCenterInvoiceSummary(PartnerCenterSummaryFields):
    details: list[PartnerCenterInvoiceSummaryDetail]
    links: PartnerCenterLinks
    attributes: PartnerCenterAttributes


class PartnerCenterInvoiceSummaries(msgspec.Struct):
    totalCount: int
    items: list[PartnerCenterInvoiceSummary]
    links: PartnerCenterLinks
    attributes: PartnerCenterAttributes


# Contazen: /v1/invoices/totals -----------------------------------------------------


class ContazenCurrencyTotals(msgspec.Struct):
    currency: str
    total_amount: Decimal
    total_paid: Decimal
    total_unpaid: Decimal
    total_vat: Decimal
    invoice_count: int
    paid_count: int
    unpaid_count: int


class ContazenPeriod(msgspec.Struct):
    start_date: dt.date
    end_date: dt.date


class FxRate(msgspec.Struct):
    currency: Annotated[str, Meta(description="1 unit of this currency = rate units of the reporting currency")]
    rate: Annotated[str, Meta(examples=["0.92"])]
    as_of: dt.date


class ContazenTotalsData(msgspec.Struct, omit_defaults=True):
    totals: list[ContazenCurrencyTotals]
    period: ContazenPeriod


@functools.cache
def contazen_data(reporting_currency: str) -> type[ContazenTotalsData]:
    """The data shape with ``grand_total_<code>`` for one reporting currency."""
    code = reporting_currency.lower()
    return msgspec.defstruct(
        f"ContazenTotalsData{reporting_currency}",
        [
            ("grand_total", Decimal | None, msgspec.field(name=f"grand_total_{code}")),
            ("fx_rates", list[FxRate], msgspec.field(default_factory=list)),
            ("grand_total_unavailable", str | None, None),
        ],
        bases=(ContazenTotalsData,),
        omit_defaults=True,
    )


class ContazenTotalsResponse(msgspec.Struct):
    success: bool
    data: ContazenTotalsData


# The product's own API: /v1 ----------------------------------------------------------


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


class V1Summary(msgspec.Struct):
    asOf: dt.date
    summaries: list[V1CurrencySummary]


class V1CustomerSummary(msgspec.Struct):
    customerId: str
    asOf: dt.date
    summaries: list[V1CurrencySummary]


class V1BillingPeriod(msgspec.Struct):
    start: dt.date
    endInclusive: dt.date


class V1Invoice(msgspec.Struct):
    id: str
    invoiceNumber: str
    customerId: str
    customerName: str | None
    currency: str
    issueDate: dt.date
    dueDate: dt.date
    accountingDate: dt.date
    billingPeriod: V1BillingPeriod | None
    billingScheduleId: str | None
    seriesId: str | None
    documentType: str
    status: str
    paymentStatus: str
    netTotal: Money
    taxTotal: Money
    grossTotal: Money
    usageGross: Money
    fixedGross: Money
    recurringGross: Money
    oneTimeGross: Money
    quantityIsZero: bool
    amountPaid: Money
    balance: Money
    overpaid: Money
    balanceUsage: Money
    balanceFixed: Money
    balanceRecurring: Money
    balanceOneTime: Money
    receivable: bool
    paymentCount: int
    paymentIds: list[str]
    lastPaidAt: dt.datetime | None
    lastPaymentAmount: Money | None
    sentAt: dt.datetime | None
    sentDate: dt.date | None
    voidedAt: dt.datetime | None
    voidReason: str | None
    eventIds: list[str]
    createdAt: dt.datetime | None
    updatedAt: dt.datetime | None


class V1InvoiceList(msgspec.Struct):
    items: list[V1Invoice]
    pagination: Pagination
