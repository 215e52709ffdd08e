"""The collections view's answer: one item per customer and currency, money
as decimal strings in major units."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from msgspec import Meta

from services.api.money import Money
from services.api.paging import Pagination


class V1CustomerReceivable(msgspec.Struct):
    count: int
    balance: Money


class V1CustomerOverdue(msgspec.Struct):
    count: int
    balance: Money
    oldestDaysPastDue: Annotated[int, Meta(description="Days past due of the oldest overdue invoice; 0 when none")]


class V1CustomerStanding(msgspec.Struct):
    customerId: str
    customerName: Annotated[str | None, Meta(description="The name on the customer's latest invoice that has one")]
    currency: str
    invoiceCount: Annotated[int, Meta(description="Invoices in this currency, any status")]
    revenue: Annotated[Money, Meta(description="Gross total of the SENT invoices")]
    receivable: V1CustomerReceivable
    overdue: V1CustomerOverdue
    lastPaymentDate: Annotated[dt.date | None, Meta(description="UTC date of the customer's latest payment")]


class V1CustomerList(msgspec.Struct):
    asOf: dt.date
    items: list[V1CustomerStanding]
    pagination: Pagination
