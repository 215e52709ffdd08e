"""The summary figures: what one invoice contributes to the summary tables.

Every summary row is a sum of per-invoice contributions, so the change an event
causes is ``contribution(after) - contribution(before)``, and sums of changes
commute: batches, shards and replays all add up to the same totals.

``Figures`` is the one definition of the summary tables' figure columns: the
column lists below, the store's SQL, the checker's and the read API's queries
derive from its fields, and a test compares schema.sql with them. What each
figure means is defined in docs/figures.md#summary-figures.
"""

from __future__ import annotations

import operator
from typing import Final

import msgspec

from projections.invoice import DRAFT, PAID, PARTIALLY_PAID, SENT, UNPAID, VOIDED, InvoiceState


class Figures(msgspec.Struct, frozen=True, gc=False):
    """The summary figures of a set of invoices of one currency (zero for none):
    counts, and amounts in minor units. Kept per (tenant, currency) and per
    (tenant, customer, currency); the ``receivable_*`` figures also per due date."""

    invoice_count: int = 0  # every invoice, any status
    gross_total: int = 0  # their gross totals
    draft_count: int = 0  # DRAFT invoices
    draft_gross: int = 0
    sent_count: int = 0  # SENT invoices
    sent_net: int = 0
    sent_tax: int = 0  # VAT of SENT invoices
    sent_gross: int = 0  # revenue (invoiced)
    voided_count: int = 0  # VOIDED invoices
    voided_gross: int = 0
    unpaid_count: int = 0  # SENT invoices by payment status
    unpaid_gross: int = 0
    partially_paid_count: int = 0
    partially_paid_gross: int = 0
    paid_count: int = 0
    paid_gross: int = 0
    collected: int = 0  # payments on non-voided invoices
    paid_capped: int = 0  # SENT: paid up to the gross (overpayment not counted)
    overpaid: int = 0  # non-voided: paid beyond the gross
    # Cumulative flows: what was ever invoiced and received, whatever happened
    # later, so a period's flow is the difference of two dates' figures.
    invoiced_count: int = 0  # invoices ever SENT (sent_at set), voided later or not
    invoiced_gross: int = 0
    received: int = 0  # every payment applied, whatever the status
    receivable_count: int = 0  # SENT with balance > 0
    receivable_balance: int = 0  # their balances
    receivable_usage: int = 0  # the balances split by charge type ...
    receivable_fixed: int = 0
    receivable_recurring: int = 0  # ... and by recurrence
    receivable_one_time: int = 0

    def __add__(self, other: Figures) -> Figures:
        if other is NO_FIGURES:
            return self
        return Figures(*map(operator.add, _values(self), _values(other)))

    def __sub__(self, other: Figures) -> Figures:
        if other is NO_FIGURES:  # a new invoice: its whole contribution
            return self
        return Figures(*map(operator.sub, _values(self), _values(other)))

    def receivable_part(self) -> Figures:
        """The ``receivable_*`` figures alone (the others zero): what the
        per-due-date tables keep."""
        return Figures(*_NOT_RECEIVABLE, *_receivable_values(self))


_values = msgspec.structs.astuple

# Column lists, in field order.
TOTALS: Final[tuple[str, ...]] = Figures.__struct_fields__
"""The figure columns of the per-currency and per-customer tables: every figure."""
RECEIVABLE: Final[tuple[str, ...]] = tuple(name for name in TOTALS if name.startswith("receivable_"))
"""The figure columns of the per-due-date tables: overdue as of D is the sum of
their rows with due_date < D (docs/figures.md#overdue)."""
# The receivable figures come last: a receivable part is zeros, then them.
assert TOTALS[-len(RECEIVABLE) :] == RECEIVABLE, "the receivable_* figures must be the last fields of Figures"
_NOT_RECEIVABLE: Final[tuple[int, ...]] = (0,) * (len(TOTALS) - len(RECEIVABLE))
_receivable_values = operator.attrgetter(*RECEIVABLE)

NO_FIGURES: Final = Figures()
"""The figures of no invoice; also what an unchanged sum adds."""


def is_count(column: str) -> bool:
    """Counts are bigint columns; the other figures are money (numeric sums)."""
    return column.endswith("_count")


def contribution(state: InvoiceState | None) -> Figures:
    """The invoice's contribution to every summary figure (none for no invoice).

    Built positionally, in field order (each value names its field): keyword
    construction costs half as much again, twice per invoice a batch touches.
    tests/projections/test_figures.py gives every figure a distinct value, so
    a value out of place fails there.
    """
    if state is None:
        return NO_FIGURES
    status, gross = state.status, state.gross
    draft = status == DRAFT
    sent = status == SENT
    voided = status == VOIDED
    payment_status = state.payment_status if sent else None
    unpaid = payment_status == UNPAID
    partial = payment_status == PARTIALLY_PAID
    paid = payment_status == PAID
    receivable = state.receivable
    if receivable:
        usage, fixed, recurring, one_time = state.balance_split()
        balance = state.balance
    else:
        usage = fixed = recurring = one_time = balance = 0
    amount_paid = state.amount_paid
    invoiced = state.sent_at is not None
    return Figures(
        1,  # invoice_count
        gross,  # gross_total
        int(draft),  # draft_count
        gross if draft else 0,  # draft_gross
        int(sent),  # sent_count
        state.net if sent else 0,  # sent_net
        state.tax if sent else 0,  # sent_tax
        gross if sent else 0,  # sent_gross
        int(voided),  # voided_count
        gross if voided else 0,  # voided_gross
        int(unpaid),  # unpaid_count
        gross if unpaid else 0,  # unpaid_gross
        int(partial),  # partially_paid_count
        gross if partial else 0,  # partially_paid_gross
        int(paid),  # paid_count
        gross if paid else 0,  # paid_gross
        0 if voided else amount_paid,  # collected
        min(amount_paid, gross) if sent else 0,  # paid_capped
        0 if voided else state.overpaid,  # overpaid
        int(invoiced),  # invoiced_count
        gross if invoiced else 0,  # invoiced_gross
        amount_paid,  # received
        int(receivable),  # receivable_count
        balance,  # receivable_balance
        usage,  # receivable_usage
        fixed,  # receivable_fixed
        recurring,  # receivable_recurring
        one_time,  # receivable_one_time
    )
