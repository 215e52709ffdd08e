"""Invoice counts and gross totals per filter cell (pure, no I/O).

A filtered summary ("SENT invoices due before D", "EUR invoices issued in
March") is a count and a gross total over the invoices matching the filter.
Instead of aggregating invoice rows per request, the workers keep those two
figures per *cell*: the invoices sharing a currency, a status, a payment
status and one date of one *dimension* (due, issue or sent date). A date
range is then a handful of index ranges: whole months from the month-grain
rows, the partial months at the ends from the day-grain rows.

Each invoice sits in one cell per dimension and grain (none for the sent date
while it was never sent); a batch moves it from its old cells to its new ones
as -1/+1 deltas, so cells add up like every other summary row (sharded by
partition, summed on read).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from projections.invoice import InvoiceState

DUE, ISSUE, SENT = "due", "issue", "sent"
DIMENSIONS: Final[tuple[str, ...]] = (DUE, ISSUE, SENT)
DAY, MONTH = "day", "month"
GRAINS: Final[tuple[str, ...]] = (DAY, MONTH)

CellKey = tuple[str, str, str, dt.date, str, str, str, int]
"""(tenant, dimension, grain, day, currency, status, payment status, partition):
the invoice_cells table's key, in its column order. A month-grain row's day
is the first of its month."""


class Cell(msgspec.Struct, frozen=True, gc=False):
    """What places one invoice in the cells."""

    currency: str
    status: str
    payment_status: str
    due_date: dt.date
    issue_date: dt.date
    sent_date: dt.date | None
    gross: int

    def dates(self) -> tuple[tuple[str, dt.date], ...]:
        """(dimension, date) of each dimension the invoice has a date in."""
        pairs = ((DUE, self.due_date), (ISSUE, self.issue_date))
        return pairs if self.sent_date is None else (*pairs, (SENT, self.sent_date))


def cell_of(state: InvoiceState | None) -> Cell | None:
    if state is None:
        return None
    return Cell(
        state.currency,
        state.status,
        state.payment_status,
        state.due_date,
        state.issue_date,
        state.sent_date,
        state.gross,
    )


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


CellSums = dict[CellKey, list[int]]
"""Changes per cell: [invoice count, gross total], added to in place (plain
lists: a batch adds a few per event, and the write path carries only these two)."""


def add_move(into: CellSums, tenant: str, partition: int, before: Cell | None, after: Cell | None) -> None:
    """Add to ``into`` the changes that move one invoice from ``before`` to ``after``."""
    if before == after:
        return
    for cell, sign in ((before, -1), (after, 1)):
        if cell is None:
            continue
        gross = sign * cell.gross
        for dimension, date in cell.dates():
            for grain, day in ((DAY, date), (MONTH, month_of(date))):
                key = (tenant, dimension, grain, day, cell.currency, cell.status, cell.payment_status, partition)
                sums = into.get(key)
                if sums is None:
                    into[key] = [sign, gross]
                else:
                    sums[0] += sign
                    sums[1] += gross


def changed(sums: CellSums) -> dict[CellKey, tuple[int, int]]:
    """The cells whose figures change (moves within a batch can cancel out)."""
    return {key: (count, gross) for key, (count, gross) in sums.items() if count or gross}
