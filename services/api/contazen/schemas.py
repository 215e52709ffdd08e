"""Contazen's answer, with its published field names; amounts are exact JSON
numbers in major units. The grand total's field is named for the reporting
currency (``grand_total_eur``), so its shape is made per currency."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta


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
    """What the document states of ``data`` (the grand total's name varies)."""

    totals: list[ContazenCurrencyTotals]
    period: ContazenPeriod


class ContazenGrandTotalData(ContazenTotalsData, omit_defaults=True):
    """``data`` with the grand total; ``grand_total`` goes out as
    ``grand_total_<code>`` in the shape ``contazen_data`` makes."""

    grand_total: Decimal | None
    fx_rates: list[FxRate] = msgspec.field(default_factory=list)
    grand_total_unavailable: str | None = None


@functools.cache
def contazen_data(reporting_currency: str) -> type[ContazenGrandTotalData]:
    """The data shape with ``grand_total_<code>`` for one reporting currency."""
    shape = msgspec.defstruct(
        f"ContazenTotalsData{reporting_currency}",
        [("grand_total", Decimal | None, msgspec.field(name=f"grand_total_{reporting_currency.lower()}"))],
        bases=(ContazenGrandTotalData,),
        omit_defaults=True,
    )
    assert issubclass(shape, ContazenGrandTotalData)
    return shape


class ContazenTotalsResponse(msgspec.Struct):
    success: bool
    data: ContazenTotalsData
