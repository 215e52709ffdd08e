"""A period's flows from cumulative figures (pure, no I/O; docs/figures.md#series).

The figures as of the end of a day are cumulative in ``invoiced_*`` (invoices
ever SENT) and ``received`` (every payment), so what was invoiced, voided and
collected in a period [s, e] is the difference of the figures as of e and as
of s - 1; what stands at its close (receivable, overdue) is the figures as of e.

A series adds up hundreds of dated sums per request, so they are plain tuples
of the few figures it reads rather than whole ``Figures``.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

import msgspec

from services.api.point_in_time import aging
from services.api.v1.series.periods import Period


class Totals(NamedTuple):
    """The summary figures a series reads (docs/figures.md#summary-figures),
    in the order of FLOW_FIGURES."""

    invoice_count: int = 0
    sent_count: int = 0
    sent_gross: int = 0
    invoiced_count: int = 0
    invoiced_gross: int = 0
    received: int = 0
    receivable_count: int = 0
    receivable_balance: int = 0


FLOW_FIGURES: tuple[str, ...] = Totals._fields
PAST_DUE_FIGURES: tuple[str, ...] = ("receivable_count", "receivable_balance")
"""What is at least N days past due: its receivable count and balance."""

Sums = tuple[int, ...]
"""Figures by position: a ``Totals``, or the ``PAST_DUE_FIGURES``."""


def plus(a: Sums, b: Sums) -> Sums:
    return tuple(map(operator.add, a, b))


def minus(a: Sums, b: Sums) -> Sums:
    return tuple(map(operator.sub, a, b))


def running(start: Sums, changes: Mapping[dt.date, Sums], ends: Iterable[dt.date]) -> list[Sums]:
    """The sums as of each of ``ends`` (ascending): ``start`` plus the
    changes dated on or before it."""
    pending = sorted(changes.items())
    total, i = start, 0
    out = []
    for end in ends:
        while i < len(pending) and pending[i][0] <= end:
            total = plus(total, pending[i][1])
            i += 1
        out.append(total)
    return out


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


def flows(
    periods: Sequence[Period],
    before: Sums,
    at_ends: Sequence[Sums],
    past_due: Sequence[Sequence[Sums]],
) -> list[PeriodFlows]:
    """Each period's flows from the figures as of the day before the first
    period (``before``) and as of each period's last day (``at_ends``), with
    what was at least N days past due at each period's last day, for each N
    of AGING_THRESHOLDS (``past_due``)."""
    out = []
    previous = before
    for period, sums, late in zip(periods, at_ends, past_due, strict=True):
        now, change = Totals._make(sums), Totals._make(minus(sums, previous))
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
                overdue_count=late[0][0],
                overdue_balance=late[0][1],
                aging=aging(late),
            )
        )
        previous = sums
    return out
