"""The series' answers: camelCase, money as decimal strings in major units.
What each figure means: docs/figures.md#series."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from services.api.money import Money
from services.api.v1.summaries.schemas import V1AgingBucket, V1Count


class V1Receivable(msgspec.Struct):
    count: int
    balance: Money


class V1ClosingOverdue(V1Receivable):
    aging: list[V1AgingBucket]


class V1Closing(msgspec.Struct):
    """As of the period's last day."""

    receivable: V1Receivable
    overdue: V1ClosingOverdue


class V1Period(msgspec.Struct):
    start: dt.date
    end: dt.date
    invoiced: Annotated[V1Count, Meta(description="Invoices whose sent_at falls in the period, voided later or not")]
    collected: Annotated[Money, Meta(description="Every payment whose paid_at falls in the period (cash received)")]
    voided: Annotated[V1Count, Meta(description="Invoices voided in the period after being sent")]
    closing: V1Closing
    dso: Annotated[
        Decimal | None,
        Meta(
            description="Closing receivable / invoiced gross x days in the period, 1 decimal;"
            " null when nothing was invoiced"
        ),
    ]


class V1CurrencySeries(msgspec.Struct):
    currency: str
    currencySymbol: str
    periods: list[V1Period]


class V1Series(msgspec.Struct, omit_defaults=True):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    interval: str
    series: list[V1CurrencySeries]
    customerId: str | None = None
    knownAt: dt.datetime | None = None
