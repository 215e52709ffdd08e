"""The period series: GET /v1/summary/series. What each figure means:
docs/figures.md#series."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Final, cast

import msgspec
from litestar import Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from contracts import CURRENCIES
from services.api import money, params, point_in_time
from services.api.params import CURRENCY_CODE, DATE, NON_EMPTY, MinPosition, Param
from services.api.point_in_time import KnownAt
from services.api.problems import BadParameter, customer_not_found, problem_responses
from services.api.reading import encode, json_response, reading
from services.api.v1.series import queries
from services.api.v1.series.flows import PeriodFlows
from services.api.v1.series.periods import INTERVALS, MAX_PERIODS, Period, count, periods
from services.api.v1.series.queries import CurrencySeries
from services.api.v1.series.schemas import (
    V1Closing,
    V1ClosingOverdue,
    V1CurrencySeries,
    V1Period,
    V1Receivable,
    V1Series,
)
from services.api.v1.summaries.endpoints import AGING
from services.api.v1.summaries.schemas import V1AgingBucket, V1Count

FROM = Param("from", "First day of the series (YYYY-MM-DD), inclusive.", DATE, required=True)
TO = Param("to", "Last day of the series (YYYY-MM-DD), inclusive; not before `from`.", DATE, required=True)
INTERVAL = Param(
    "interval",
    "Length of the periods: calendar days, ISO weeks (Monday to Sunday), months, quarters or years; "
    f"the first and last are clipped to [from, to]. At most {MAX_PERIODS} periods.",
    {"enum": list(INTERVALS)},
    required=True,
)
CURRENCY = Param("currency", "Only this currency (e.g. EUR).", CURRENCY_CODE)
CUSTOMER = Param("customerId", "Only this customer's invoices.", NON_EMPTY)

EXAMPLE = {
    "from": "2026-01-01",
    "to": "2026-02-28",
    "interval": "month",
    "series": [
        {
            "currency": "EUR",
            "currencySymbol": "€",
            "periods": [
                {
                    "start": "2026-01-01",
                    "end": "2026-01-31",
                    "invoiced": {"count": 12, "grossTotal": "14400.00"},
                    "collected": "9100.00",
                    "voided": {"count": 1, "grossTotal": "300.00"},
                    "closing": {
                        "receivable": {"count": 5, "balance": "6200.00"},
                        "overdue": {
                            "count": 2,
                            "balance": "1700.00",
                            "aging": [
                                {
                                    "bucket": "1-30",
                                    "minDaysPastDue": 1,
                                    "maxDaysPastDue": 30,
                                    "count": 2,
                                    "amount": "1700.00",
                                },
                                {
                                    "bucket": "31-60",
                                    "minDaysPastDue": 31,
                                    "maxDaysPastDue": 60,
                                    "count": 0,
                                    "amount": "0.00",
                                },
                                {
                                    "bucket": "61-90",
                                    "minDaysPastDue": 61,
                                    "maxDaysPastDue": 90,
                                    "count": 0,
                                    "amount": "0.00",
                                },
                                {
                                    "bucket": "90+",
                                    "minDaysPastDue": 91,
                                    "maxDaysPastDue": None,
                                    "count": 0,
                                    "amount": "0.00",
                                },
                            ],
                        },
                    },
                    "dso": 13.3,
                },
            ],
        }
    ],
}


def period(p: PeriodFlows, amount: Callable[[int], str]) -> V1Period:
    """A period's answer (the mapping that ``_PERIOD`` renders)."""
    aging = [
        V1AgingBucket(bucket=label, minDaysPastDue=low, maxDaysPastDue=high, count=aged_count, amount=amount(balance))
        for (label, low, high), (aged_count, balance) in zip(AGING, p.aging, strict=True)
    ]
    return V1Period(
        start=p.period.start,
        end=p.period.end,
        invoiced=V1Count(count=p.invoiced_count, grossTotal=amount(p.invoiced_gross)),
        collected=amount(p.collected),
        voided=V1Count(count=p.voided_count, grossTotal=amount(p.voided_gross)),
        closing=V1Closing(
            receivable=V1Receivable(count=p.receivable_count, balance=amount(p.receivable_balance)),
            overdue=V1ClosingOverdue(count=p.overdue_count, balance=amount(p.overdue_balance), aging=aging),
        ),
        dso=p.dso,
    )


def _values(p: PeriodFlows, amount: Callable[[int], str]) -> tuple[object, ...]:
    """The values of ``period(p, amount)``, in the order its JSON has them
    (the dso as its JSON text)."""
    dso = p.dso
    return (
        p.period.start,
        p.period.end,
        p.invoiced_count,
        amount(p.invoiced_gross),
        amount(p.collected),
        p.voided_count,
        amount(p.voided_gross),
        p.receivable_count,
        amount(p.receivable_balance),
        p.overdue_count,
        amount(p.overdue_balance),
        *[x for aged_count, balance in p.aging for x in (aged_count, amount(balance))],
        "null" if dso is None else dso,
    )


def _template() -> str:
    """A period's JSON as the encoder writes ``period``'s answer, with a %s
    for each of ``_values``: the encoding of a period whose figures are
    numbered markers (all of 16 digits, none inside another), each marker's
    text replaced in turn. The answer's names and order are the schema's;
    only the values are formatted per period, no object per field."""
    mark = iter(range(10**15, 2 * 10**15)).__next__
    sample = PeriodFlows(
        Period(dt.date(1001, 1, 1), dt.date(1002, 1, 1)),
        invoiced_count=mark(),
        invoiced_gross=mark(),
        collected=mark(),
        voided_count=mark(),
        voided_gross=mark(),
        receivable_count=mark(),
        receivable_balance=mark(),
        overdue_count=mark(),
        overdue_balance=mark(),
        aging=[(mark(), mark()) for _ in AGING],
    )
    encoded = encode(period(sample, str)).decode().replace("%", "%%")
    out, at = [], 0
    for value in _values(sample, str):
        text = str(value)
        found = encoded.index(text, at)
        out += [encoded[at:found], "%s"]
        at = found + len(text)
    return "".join([*out, encoded[at:]])


_PERIOD: Final = _template()


class _Amounts(dict[int, str]):
    """Amounts of one currency as text, each formatted once: a series repeats
    its amounts (zeros above all), and a hit is one dict lookup."""

    def __init__(self, currency: str) -> None:
        super().__init__()
        self.currency = currency

    def __missing__(self, minor: int) -> str:
        text = self[minor] = money.text(minor, self.currency)
        return text


def currency_series(s: CurrencySeries) -> V1CurrencySeries:
    amount = _Amounts(s.currency).__getitem__
    periods = ",".join([_PERIOD % _values(p, amount) for p in s.periods])
    return V1CurrencySeries(
        currency=s.currency,
        currencySymbol=CURRENCIES[s.currency].symbol,
        # Encoded as it is: the JSON of a list[V1Period].
        periods=cast(list[V1Period], msgspec.Raw(f"[{periods}]")),
    )


def answer(
    first: dt.date,
    last: dt.date,
    interval: str,
    found: list[CurrencySeries],
    customer: str | None,
    known_at: dt.datetime | None,
) -> V1Series:
    """The body of the answer, as the JSON encoder takes it."""
    return V1Series(
        from_=first,
        to=last,
        interval=interval,
        series=[currency_series(s) for s in found],
        customerId=customer,
        knownAt=known_at,
    )


def _range(start: str | None, end: str | None, interval: str | None) -> tuple[dt.date, dt.date, str]:
    first = params.required_date(FROM.name, start)
    last = params.required_date(TO.name, end)
    if first == dt.date.min:
        raise BadParameter(FROM.name, f"must be after {dt.date.min}")
    if last < first:
        raise BadParameter(TO.name, f"{last} is before from {first}")
    if not interval:
        raise BadParameter(INTERVAL.name, f"is required: one of {', '.join(INTERVALS)}")
    chosen = params.choice(INTERVAL.name, interval, INTERVALS, "")
    many = count(first, last, chosen)
    if many > MAX_PERIODS:
        raise BadParameter(
            INTERVAL.name,
            f"from {first} to {last} by {chosen} is {many} periods; at most {MAX_PERIODS} are answered "
            "(a longer interval or a shorter range)",
        )
    return first, last, chosen


@get(
    "/v1/summary/series",
    summary="Invoiced, collected, voided, closing receivable and DSO per period",
    operation_id="getSummarySeries",
    responses={
        200: ResponseSpec(
            V1Series, description="Per currency, every period", examples=[Example(summary="Two months", value=EXAMPLE)]
        ),
        **problem_responses(404),
    },
)
async def summary_series(
    request: Request[Any, Any, Any],
    from_: Annotated[str | None, FROM.query()] = None,
    to: Annotated[str | None, TO.query()] = None,
    interval: Annotated[str | None, INTERVAL.query()] = None,
    currency: Annotated[str | None, CURRENCY.query()] = None,
    customer_id: Annotated[str | None, CUSTOMER.query()] = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> Response[V1Series]:
    """Per currency, calendar-aligned periods over [from, to] (both
    inclusive), every one present: invoiced (invoices whose sent_at falls in
    it, whatever happened to them later), collected (every payment whose
    paid_at falls in it), voided (invoices voided in it after being sent),
    the receivable and overdue with aging at its close (as /v1/summary with
    asOf = its last day), and DSO. With ``customerId``, one customer's
    invoices (404 when the tenant has none); with ``knownAt``, as this
    service knew it then. Two queries of the timelines whatever the number of
    periods (docs/figures.md#series)."""
    first, last, chosen = _range(from_, to, interval)
    code = params.currency_code(CURRENCY.name, currency)
    customer = params.text(CUSTOMER.name, customer_id)
    spans = periods(first, last, chosen)
    async with reading(request, min_position) as read:
        at = (await point_in_time.moment(read.conn, None, known_at)).known_at
        if customer is None:
            found = await queries.tenant_series(read.conn, read.tenant_id, spans, chosen, at, code)
        else:
            by_customer = await queries.customer_series(read.conn, read.tenant_id, customer, spans, chosen, at, code)
            if by_customer is None:
                raise customer_not_found(customer)
            found = by_customer
        return json_response(answer(first, last, chosen, found, customer, at), read)
