"""A period's flows from cumulative figures (pure, no I/O; docs/figures.md#series).

The figures as of the end of a day are cumulative in ``invoiced_*`` (invoices
ever SENT) and ``received`` (every payment), so what was invoiced, voided and
collected in a period [s, e] is the difference of the figures as of e and as
of s - 1; what stands at its close (receivable, overdue) is the figures as of e.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from projections.figures import Figures
from services.api.point_in_time import PastDue
from services.api.v1.series.periods import Period

FLOW_FIGURES: tuple[str, ...] = (
    "invoice_count",
    "sent_count",
    "sent_gross",
    "invoiced_count",
    "invoiced_gross",
    "received",
    "receivable_count",
    "receivable_balance",
)
"""The figures a series reads (the others stay zero)."""

_TENTH = Decimal("0.1")


def running(start: Figures, changes: Mapping[dt.date, Figures], ends: Iterable[dt.date]) -> list[Figures]:
    """The figures as of each of ``ends`` (ascending): ``start`` plus the
    changes dated on or before it."""
    pending = sorted(changes.items())
    total, i = start, 0
    out = []
    for end in ends:
        while i < len(pending) and pending[i][0] <= end:
            total = total + pending[i][1]
            i += 1
        out.append(total)
    return out


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
    past_due: PastDue  # overdue and aging as of its last day

    @property
    def dso(self) -> Decimal | None:
        """Days sales outstanding: closing receivable / invoiced gross x days
        in the period, to 1 decimal half to even; None when nothing was invoiced."""
        if self.invoiced_gross == 0:
            return None
        ratio = Decimal(self.receivable_balance * self.period.days) / Decimal(self.invoiced_gross)
        return ratio.quantize(_TENTH, rounding=ROUND_HALF_EVEN)


def flows(
    periods: Sequence[Period], before: Figures, at_ends: Sequence[Figures], past_due: Sequence[PastDue]
) -> list[PeriodFlows]:
    """Each period's flows from the figures as of the day before the first
    period (``before``) and as of each period's last day (``at_ends``), with
    what was past due at each period's last day."""
    out = []
    previous = before
    for period, now, late in zip(periods, at_ends, past_due, strict=True):
        change = now - previous
        out.append(
            PeriodFlows(
                period=period,
                invoiced_count=change.invoiced_count,
                invoiced_gross=change.invoiced_gross,
                collected=change.received,
                # Invoices that stopped being SENT without stopping being invoiced.
                voided_count=change.invoiced_count - change.sent_count,
                voided_gross=change.invoiced_gross - change.sent_gross,
                receivable_count=now.receivable_count,
                receivable_balance=now.receivable_balance,
                past_due=late,
            )
        )
        previous = now
    return out
