"""The /v1 invoices' answers: every stored field, camelCase, money as decimal
strings in major units."""

from __future__ import annotations

import datetime as dt

import msgspec

from services.api.money import Money
from services.api.paging import Pagination


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
