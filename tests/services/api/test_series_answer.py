"""The series' answer rendered from its template is the encoding of the
answer's structs, byte for byte, whatever the figures (negative ones, no
invoicing, currencies of 0, 2 and 3 decimals): services/api/v1/series/endpoints.py."""

from __future__ import annotations

import datetime as dt
import functools

from hypothesis import given
from hypothesis import strategies as st

from contracts import CURRENCIES
from services.api import money
from services.api.reading import encode
from services.api.v1.series.endpoints import currency_series, period
from services.api.v1.series.flows import PeriodFlows
from services.api.v1.series.periods import INTERVALS, periods
from services.api.v1.series.queries import CurrencySeries
from services.api.v1.series.schemas import V1CurrencySeries
from services.api.v1.summaries.endpoints import AGING

figure = st.integers(-(10**20), 10**20) | st.sampled_from((0, 0, 1, -1, 99, 100, 12_345))


@st.composite
def series(draw: st.DrawFn) -> CurrencySeries:
    start = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 400)))
    spans = periods(start, start + dt.timedelta(days=draw(st.integers(0, 60))), draw(st.sampled_from(INTERVALS)))
    flows = [
        PeriodFlows(
            p,
            *draw(st.lists(figure, min_size=9, max_size=9)),  # type: ignore[arg-type]
            aging=[(draw(figure), draw(figure)) for _ in AGING],
        )
        for p in spans
    ]
    return CurrencySeries(draw(st.sampled_from(("EUR", "JPY", "BHD"))), flows)


@given(found=series())
def test_the_rendered_periods_are_the_encoded_structs(found: CurrencySeries) -> None:
    amount = functools.partial(money.text, currency=found.currency)
    as_structs = V1CurrencySeries(
        currency=found.currency,
        currencySymbol=CURRENCIES[found.currency].symbol,
        periods=[period(p, amount) for p in found.periods],
    )
    assert encode(currency_series(found)) == encode(as_structs)
