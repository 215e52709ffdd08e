"""Contazen's answer, with its published field names; amounts are exact JSON
numbers in major units. The grand total's field is named for the reporting
currency (``grand_total_eur``), so its shape is made per currency."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request
from msgspec import Meta

from services.api.openapi import SCHEMA_EXTENSIONS
from services.api.problems import Problem


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


class ContazenTotalsData(msgspec.Struct, omit_defaults=True, kw_only=True):
    """``data``, as the document states it: the grand total's name varies
    with the reporting currency (``grand_total_eur``; ``GRAND_TOTAL`` below
    adds it to the document as a pattern property)."""

    totals: list[ContazenCurrencyTotals]
    period: ContazenPeriod
    fx_rates: Annotated[
        list[FxRate],
        Meta(description="The rates the grand total used, one per currency other than the reporting one"),
    ] = msgspec.field(default_factory=list)
    grand_total_unavailable: Annotated[
        str | None,
        Meta(description="Why grand_total_<code> is null: the currencies without a rate into the reporting currency"),
    ] = None


class ContazenGrandTotalData(ContazenTotalsData, omit_defaults=True, kw_only=True):
    """``data`` with the grand total; ``grand_total`` goes out as
    ``grand_total_<code>`` in the shape ``contazen_data`` makes."""

    grand_total: Decimal | None


GRAND_TOTAL = {
    "patternProperties": {
        "^grand_total_[a-z]{3}$": {
            "oneOf": [{"type": "number"}, {"type": "null"}],
            "description": "The totals' amounts converted into the reporting currency (its code in lower case)"
            " and added, rounded once half-even to its minor units; null when a rate is missing"
            " (grand_total_unavailable says which). Present in every answer.",
        }
    },
    "minProperties": 3,
}
SCHEMA_EXTENSIONS["ContazenTotalsData"] = GRAND_TOTAL


@functools.cache
def contazen_data(reporting_currency: str) -> type[ContazenGrandTotalData]:
    """The data shape with ``grand_total_<code>`` for one reporting currency."""
    shape = msgspec.defstruct(
        f"ContazenTotalsData{reporting_currency}",
        [("grand_total", Decimal | None, msgspec.field(name=f"grand_total_{reporting_currency.lower()}"))],
        bases=(ContazenGrandTotalData,),
        omit_defaults=True,
        kw_only=True,
    )
    assert issubclass(shape, ContazenGrandTotalData)
    return shape


class ContazenTotalsResponse(msgspec.Struct):
    success: bool
    data: ContazenTotalsData


class ContazenProblem(Problem, kw_only=True):
    """The RFC 9457 problem with Contazen's ``success`` member (false)."""

    success: Annotated[bool, Meta(description="Always false: the request did not succeed")]


def contazen_problem(request: Request[Any, Any, Any], problem: Problem) -> tuple[Problem, dict[str, str]]:
    return ContazenProblem(**msgspec.structs.asdict(problem), success=False), {}
