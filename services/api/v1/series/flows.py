"""A period's figures (docs/figures.md#series).

The figures as of the end of a day are cumulative in ``invoiced_*`` (invoices
ever SENT) and ``received`` (every payment), so what was invoiced, voided and
collected in a period [s, e] is the difference of the figures as of e and as
of s - 1; what stands at its close (receivable, overdue) is the figures as of
e. queries.py adds them up; this is what it answers per period.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

import msgspec

from services.api.v1.series.periods import Period

FLOW_FIGURES: Final = (
    "invoice_count",
    "sent_count",
    "sent_gross",
    "invoiced_count",
    "invoiced_gross",
    "received",
    "receivable_count",
    "receivable_balance",
)
"""The summary figures a series reads (docs/figures.md#summary-figures)."""
PAST_DUE_FIGURES: Final = ("receivable_count", "receivable_balance")
"""What is at least N days past due: its receivable count and balance."""


_TENTH = Decimal("0.1")


class PeriodFlows(msgspec.Struct, frozen=True):
    """One period of a currency's series, in minor units."""

    period: Period
    invoiced_count: int  # invoices SENT in the period, whatever happened later
    invoiced_gross: int
    collected: int  # every payment dated in it
    voided_count: int  # invoices voided in it after being sent
    voided_gross: int
    receivable_count: int  # receivable as of its last day
    receivable_balance: int
    overdue_count: int  # overdue as of its last day
    overdue_balance: int
    aging: list[tuple[int, int]]  # (count, balance) per aging bucket then

    @property
    def dso(self) -> Decimal | None:
        """Days sales outstanding: closing receivable / invoiced gross x days
        in the period, to 1 decimal half to even; None when nothing was invoiced."""
        if self.invoiced_gross == 0:
            return None
        ratio = Decimal(self.receivable_balance * self.period.days) / Decimal(self.invoiced_gross)
        return ratio.quantize(_TENTH, rounding=ROUND_HALF_EVEN)
